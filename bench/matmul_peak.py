"""The matmul rate this machine reaches in TensorFlow, per precision, with and without XLA.

```
python -m bench.matmul_peak                     # 1024 x 768 x 3072 (an ALBERT-base FFN matmul at 8 x 128 tokens)
python -m bench.matmul_peak --m=128 --repeats=50
```

The denominator for "fraction of peak" of the fixed-shape rows, and the check of
whether a precision is accelerated here: bf16 through oneDNN runs on AVX512_BF16 /
AMX instructions, while XLA's CPU backend computes bf16 dots at float32's rate.
Cases are timed in turn (one call of each, repeated), so that the machine's drift
affects them alike; the median call is reported.
"""

import argparse
import json
import statistics
import sys
import time

from keras_albert import hardware

CASES = (("float32", False), ("bfloat16", False), ("float32", True), ("bfloat16", True))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.matmul_peak", description=__doc__.split("\n")[0])
    parser.add_argument("--m", type=int, default=1024, help="Rows (tokens).")
    parser.add_argument("--k", type=int, default=768, help="Contraction (hidden size).")
    parser.add_argument("--n", type=int, default=3072, help="Columns (intermediate size).")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--dtypes", default="float32,bfloat16", help="Comma-separated precisions (float32, bfloat16)."
    )
    parser.add_argument("--output_json", default=None, help="Also write the rows to this JSON file.")
    args = parser.parse_args(argv)
    args.dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    unknown = set(args.dtypes) - {dtype for dtype, _ in CASES}
    if unknown or not args.dtypes:
        parser.error(f"--dtypes must name float32 and/or bfloat16. Received: {sorted(unknown) or 'none'}")
    for name in ("m", "k", "n", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1. Received: {getattr(args, name)}")
    return args


def measure(m, k, n, repeats, dtypes=("float32", "bfloat16")):
    """`{(dtype, xla): median seconds per matmul}` for the cases of `dtypes`."""
    import tensorflow as tf

    cases = [(dtype, xla) for dtype, xla in CASES if dtype in dtypes]
    a = tf.random.normal([m, k], seed=0)
    b = tf.random.normal([k, n], seed=1)
    inputs = {"float32": (a, b), "bfloat16": (tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16))}
    functions = {xla: tf.function(lambda x, y: tf.matmul(x, y), jit_compile=xla) for xla in (False, True)}
    for dtype, xla in cases:  # Trace and compile outside the timing.
        functions[xla](*inputs[dtype]).numpy()
    times = {case: [] for case in cases}
    for _ in range(repeats):
        for dtype, xla in cases:
            start = time.perf_counter()
            functions[xla](*inputs[dtype]).numpy()
            times[(dtype, xla)].append(time.perf_counter() - start)
    return {case: statistics.median(values) for case, values in times.items()}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    medians = measure(args.m, args.k, args.n, args.repeats, args.dtypes)
    flops = 2.0 * args.m * args.k * args.n
    print(f"Machine: {hardware.describe_machine()}; {args.m} x {args.k} x {args.n}, median of {args.repeats}")
    print("| precision | XLA | ms | GFLOP/s |")
    print("|---|---|---:|---:|")
    rows = []
    for (dtype, xla), seconds in medians.items():
        rows.append({"dtype": dtype, "xla": xla, "ms": seconds * 1e3, "gflops": flops / seconds / 1e9})
        print(f"| {dtype} | {'yes' if xla else 'no'} | {seconds * 1e3:.2f} | {flops / seconds / 1e9:.0f} |")
    if args.output_json:
        with open(args.output_json, "w") as f:
            json.dump(rows, f)
    return rows


if __name__ == "__main__":
    main()

"""Where a fixed-shape train step or inference batch spends its time, op by op (TensorFlow backend).

```
TF_ENABLE_ONEDNN_OPTS=1 python -m bench.tf_profile --implementation=ours_bf16          # ALBERT-base train step, 8 x 128
TF_ENABLE_ONEDNN_OPTS=1 python -m bench.tf_profile --implementation=keras_hub_bf16 --scenario=infer_fixed --steps=5
python -m bench.tf_profile --saved_model=bench/results/work/savedmodel/1 --steps=20   # one raw-text request
```

Builds the row's model as `bench.run` does (`bench.scenarios`), warms it up,
then records `--steps` steps with TensorFlow's profiler and prints the time
per step of each op type and of each part of the block (matmuls, GELU,
attention, LayerNorm, ...), summed over layers; the XLA-compiled kernels of
keras-albert's training step (bias + GELU, bias + residual + LayerNorm)
count in their parts, as op type `XLA`. TensorFlow runs one op at a
time here (one inter-op thread, each op on all cores), so the ops' times add
up to the step; `bench.run` lets independent ops overlap, which makes its
steps a few per cent faster. bf16 rows need `TF_ENABLE_ONEDNN_OPTS=1` (as
`bench.run` sets for them) and are refused without it. `--saved_model` profiles an exported SavedModel's
`serving_default` on one SST-2 dev sentence instead (what TF Serving runs).
"""

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

import keras_albert_cli

keras_albert_cli.start_tensorflow()

from bench import scenarios, workloads  # noqa: E402
from keras_albert import tensorflow_dependency  # noqa: E402

# The part of the model an op belongs to, by the first pattern its name matches.
PARTS = (
    ("matmul", r":\w*MatMul"),  # op types MatMul, _MklMatMul, _MklNativeFusedMatMul, BatchMatMulV2, ...
    ("GELU", r"Gelu"),  # in training the bias + GELU kernel
    ("LayerNorm", r"layer_norm"),  # in training the bias + residual + LayerNorm kernel
    ("optimizer", r"adam|AssignSub|AssignAdd"),
    ("gradient sums of the shared weights", r"AddN"),
    ("bias gradients", r"BiasAddGrad"),
    ("casts of the weights", r"(dense|query|key|value)[^/]*/Cast"),
    ("attention", r"[Ee]insum|Softmax|SelectV2|split|concat|LogicalAnd|truediv|/mul:|/Cast:|/Cast/"),
)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.tf_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--implementation", default="ours_bf16", choices=sorted(scenarios.IMPLEMENTATIONS))
    parser.add_argument("--scenario", default="train_fixed", choices=("train_fixed", "infer_fixed"))
    parser.add_argument("--size", default="base", choices=sorted(workloads.MODEL_SIZES))
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="Profiled steps (after 3 warm-up steps).")
    parser.add_argument(
        "--saved_model",
        default=None,
        help="Profile this SavedModel's serving_default on one raw sentence instead of a Keras row.",
    )
    args = parser.parse_args(argv)
    for name in ("batch_size", "seq_length", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1. Received: {getattr(args, name)}")
    if args.saved_model and not os.path.isfile(os.path.join(args.saved_model, "saved_model.pb")):
        parser.error(f"--saved_model={args.saved_model} holds no saved_model.pb (give a version folder, e.g. .../1).")
    if scenarios.IMPLEMENTATIONS[args.implementation][1] == "torch":
        parser.error(f"--implementation={args.implementation} is PyTorch; this profiles TensorFlow rows.")
    if scenarios.is_bfloat16(args.implementation) and not args.saved_model and not tensorflow_dependency.onednn_enabled():
        # keras-albert turns oneDNN off by default; without it bf16 runs on emulating kernels.
        parser.error(
            f"--implementation={args.implementation} is bf16, whose matmuls are oneDNN's: run with "
            f"{tensorflow_dependency.ONEDNN_ENV}=1, as bench.run does for bf16 rows."
        )
    return args


def op_events(logdir):
    """`(name, milliseconds)` of every op the profiler recorded on TensorFlow's compute threads.

    An XLA-compiled function (training's GELU and LayerNorm kernels,
    `keras_albert.layers.tensorflow_fusions`) is recorded as its run,
    named after the call op that started it (`.../ffn_layer_norm/PartitionedCall:XLA`).
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        name_stat = next((key for key, stat in plane.stat_metadata.items() if stat.name == "name"), None)
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            calling = None  # the call op whose XLA run comes next on this thread
            for event in sorted(line.events, key=lambda event: event.offset_ps):
                name = plane.event_metadata[event.metadata_id].name
                if name == "ExecutorState::ProcessAsync::Start":
                    calling = next(
                        (stat.str_value or plane.stat_metadata[stat.ref_value].name
                         for stat in event.stats if stat.metadata_id == name_stat),
                        None,
                    )
                elif name == "CpuExecutable::ExecuteAsyncOnStream" and calling:
                    yield f"{calling}:XLA", event.duration_ps / 1e9
                # Ops are "scope/op_name:OpType"; the executor's own events ("ExecutorState::Process") enclose them.
                elif ":" in name and "::" not in name:
                    yield name, event.duration_ps / 1e9


def part_of(name):
    return next((part for part, pattern in PARTS if re.search(pattern, name)), "other")


def keras_step(args):
    """One train step or inference batch of the row's model, as `bench.run` builds it."""
    config = workloads.model_config(args.size)
    batch = workloads.random_batch(args.batch_size, args.seq_length, config["vocabulary_size"])
    return scenarios.step_on(args.scenario, args.implementation, config, batch)


def serving_step(path):
    """One raw-text request (the first SST-2 dev sentence) to a SavedModel's `serving_default`."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer's ops)

    serving_default = tf.saved_model.load(path).signatures["serving_default"]
    texts, _ = workloads.sst2_dev_sentences(1)
    text = tf.constant(texts)
    return lambda: serving_default(text=text)


def profile(args):
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process (tests): ops may overlap.
        pass
    step = serving_step(args.saved_model) if args.saved_model else keras_step(args)
    for _ in range(3):
        step()
    by_type, by_part = collections.Counter(), collections.Counter()
    with tempfile.TemporaryDirectory(prefix="tf_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        wall_ms = (time.perf_counter() - start) * 1e3 / args.steps
        tf.profiler.experimental.stop()
        for name, ms in op_events(logdir):
            by_type[name.rsplit(":", 1)[1]] += ms / args.steps
            by_part[part_of(name)] += ms / args.steps
    return wall_ms, by_type, by_part


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    wall_ms, by_type, by_part = profile(args)
    total = sum(by_part.values())
    what = (
        f"SavedModel {args.saved_model}, serving_default, one sentence"
        if args.saved_model
        else f"{args.implementation}, {args.scenario}, {args.size} {args.batch_size} x {args.seq_length}"
    )
    print(f"{what}: {wall_ms:.1f} ms per profiled step, ops {total:.1f} ms")
    print("\n| part | ms per step | share |\n|---|---:|---:|")
    for part, ms in by_part.most_common():
        print(f"| {part} | {ms:.1f} | {ms / total:.0%} |")
    print("\n| op type | ms per step |\n|---|---:|")
    for op_type, ms in by_type.most_common(15):
        print(f"| {op_type} | {ms:.1f} |")
    return wall_ms, by_part


if __name__ == "__main__":
    main()

"""GPU benchmark: keras-albert on the JAX backend against its peers.

Run on a machine with an NVIDIA GPU, `jax[cuda12]` and (for the PyTorch
rows) a CUDA build of torch:

```
python -m bench.gpu_jax                       # ALBERT-base, 64 x 512, mixed_bfloat16
python -m bench.gpu_jax --batch_size=32 --steps=10 --implementations=ours,hf_torch_compile
python -m bench.gpu_jax --size=tiny --batch_size=2 --seq_length=32 --dtype=float32   # CPU JAX: checks the code path
```

Each implementation runs in its own subprocess (so JAX's and PyTorch's
allocators do not share the device and each row's peak device memory is
its own) and does the same work: train steps (AdamW, sparse cross-entropy,
2 classes) and inference batches on random ids without padding.

The Keras rows use the backend-agnostic stateless API under one
`jax.jit`: weights, optimizer state and the batch stay on the device
(buffers donated), so a step makes no host<->device copies; the host
only waits for the last step's loss. Attention goes through
`keras.ops.dot_product_attention`, which on Ampere or newer GPUs uses
cuDNN's fused attention when it applies.

It prints a markdown table with ratios and writes `--output_file` (JSON).
"""

import argparse
import json
import os
import subprocess
import sys
import time

from bench import lockstep, report, workloads

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLEMENTATIONS = {
    "ours": "keras-albert, JAX backend, jit",
    "keras_hub": "keras-hub 0.32 AlbertBackbone, JAX backend, jit",
    "hf_torch": "HF transformers AlbertForSequenceClassification, PyTorch eager, autocast",
    "hf_torch_compile": "HF transformers AlbertForSequenceClassification, torch.compile, autocast",
}
# The H100 targets: ours / HF + torch.compile, at least.
TARGETS = {"train_seq_per_s": 1.3, "infer_seq_per_s": 1.2}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_jax", description=__doc__.split("\n")[0])
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--seq_length", type=int, default=512)
    parser.add_argument("--size", default="base")
    parser.add_argument("--dtype", default="mixed_bfloat16", help="Keras dtype policy (float32, mixed_bfloat16).")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--worker_timeout_s",
        type=int,
        default=110,
        help="Bound on each implementation's subprocess (start, compile and timing); "
        "the default keeps the four rows within 8 minutes.",
    )
    parser.add_argument(
        "--output_file", default=os.path.join(REPOSITORY_ROOT, "bench", "results", "gpu_jax.json")
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _timed(step, warmup, steps, block):
    """Seconds per call of `step` over `steps` calls, after `warmup` calls."""
    start = time.perf_counter()
    for _ in range(warmup):
        out = step()
    block(out)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        out = step()
    block(out)
    return (time.perf_counter() - start) / steps, first_s


def keras_jax_worker(implementation, args):
    """Train and inference throughput of a Keras classifier under `jax.jit`."""
    import jax
    import keras

    from bench import keras_runner

    keras.config.set_dtype_policy(args.dtype)
    config = workloads.model_config(args.size)
    build = {
        "ours": keras_runner.albert_text_classifier,
        "keras_hub": keras_runner.keras_hub_text_classifier,
    }[implementation]
    model = build(config)
    optimizer = keras.optimizers.AdamW(workloads.LEARNING_RATE, weight_decay=workloads.WEIGHT_DECAY)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compute_loss(trainable, non_trainable, features, labels):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, features, training=True)
        return loss_fn(labels, logits), non_trainable

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    def train_step(state, features, labels):
        trainable, non_trainable, optimizer_variables = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, features, labels)
        trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, trainable)
        return (trainable, non_trainable, optimizer_variables), loss

    # Donated: the step updates weights and optimizer state in place.
    train_step = jax.jit(train_step, donate_argnums=(0,))

    @jax.jit
    def predict(trainable, non_trainable, features):
        logits, _ = model.stateless_call(trainable, non_trainable, features)
        return logits

    batch = workloads.random_batch(args.batch_size, args.seq_length, config["vocabulary_size"])
    labels = jax.device_put(batch.pop("labels"))
    features = jax.device_put(batch)  # Once: no host->device copy inside the steps.
    # The same pytree structure as `train_step` returns, so it never retraces.
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )

    def one_train_step():
        nonlocal state
        state, loss = train_step(state, features, labels)
        return loss

    train_s, train_first_s = _timed(one_train_step, args.warmup, args.steps, jax.block_until_ready)
    trainable, non_trainable, _ = state
    infer_s, infer_first_s = _timed(
        lambda: predict(trainable, non_trainable, features), args.warmup, args.steps, jax.block_until_ready
    )
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    return {
        "train_seq_per_s": args.batch_size / train_s,
        "infer_seq_per_s": args.batch_size / infer_s,
        "train_first_s": train_first_s,
        "infer_first_s": infer_first_s,
        "peak_device_memory_mib": stats.get("peak_bytes_in_use", 0) / 2**20 or None,
        "device": f"{device.platform}: {device.device_kind}",
    }


def torch_worker(args, compile_model):
    """HuggingFace on CUDA with bf16 autocast (for mixed_bfloat16), SDPA; eager or `torch.compile`d."""
    import torch

    from bench.torch_runner import TorchRunner

    if not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device.")
    runner = TorchRunner(workloads.model_config(args.size))
    runner.model.cuda()
    # Compiled once, used by both the train and the inference steps (each
    # mode traces its own graph during the warm-up calls).
    model = torch.compile(runner.model) if compile_model else runner.model
    runner.optimizer = torch.optim.AdamW(
        runner.model.parameters(), lr=workloads.LEARNING_RATE, weight_decay=workloads.WEIGHT_DECAY, fused=True
    )
    batch = workloads.random_batch(args.batch_size, args.seq_length, runner.model.config.vocab_size)
    features, labels = runner.split(batch)
    features = {name: tensor.cuda() for name, tensor in features.items()}
    labels = labels.cuda()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.dtype == "mixed_bfloat16")

    def train_step():
        runner.model.train()
        runner.optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = model(**features, labels=labels).loss
        loss.backward()
        runner.optimizer.step()
        return loss

    def predict():
        runner.model.eval()
        with torch.inference_mode(), autocast:
            return model(**features).logits

    block = lambda _: torch.cuda.synchronize()  # noqa: E731
    torch.cuda.reset_peak_memory_stats()
    train_s, train_first_s = _timed(train_step, args.warmup, args.steps, block)
    infer_s, infer_first_s = _timed(predict, args.warmup, args.steps, block)
    return {
        "train_seq_per_s": args.batch_size / train_s,
        "infer_seq_per_s": args.batch_size / infer_s,
        "train_first_s": train_first_s,
        "infer_first_s": infer_first_s,
        "peak_device_memory_mib": torch.cuda.max_memory_allocated() / 2**20,
        "device": torch.cuda.get_device_name(),
    }


def _run_worker(implementation, argv, timeout_s):
    env = dict(os.environ, KERAS_BACKEND="jax")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY_ROOT, env.get("PYTHONPATH")]))
    try:
        process = subprocess.run(
            [sys.executable, "-m", "bench.gpu_jax", *argv, f"--worker={implementation}"],
            cwd=REPOSITORY_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout_s} s (--worker_timeout_s)"}
    lines = process.stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"ok": False, "error": lockstep.exit_message(process.stderr, process.returncode)}
    return dict(json.loads(lines[-1]), ok=True)


def target_checks(results):
    """Ours / HF + torch.compile for train and inference, against the targets."""
    ours, peer = results.get("ours"), results.get("hf_torch_compile")
    measured = bool(ours and peer and ours["ok"] and peer["ok"])
    checks = []
    for metric, minimum in TARGETS.items():
        ratio = ours[metric] / peer[metric] if measured else None
        checks.append(
            {"metric": metric, "minimum": minimum, "ratio": ratio, "met": None if ratio is None else ratio >= minimum}
        )
    return checks


def markdown(results, checks, args):
    ok = {name: r for name, r in results.items() if r["ok"]}
    lines = [
        f"GPU, {args.size}, {args.batch_size} x {args.seq_length}, {args.dtype}, random ids, no padding. "
        f"Device: {next((r['device'] for r in ok.values()), 'none')}.",
        "",
        "| implementation | train seq/s | ours is N× faster | inference seq/s | ours is N× faster "
        "| peak device memory (MiB) | first train call (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ours = ok.get("ours")
    for name, r in results.items():
        if not r["ok"]:
            lines.append(f"| {IMPLEMENTATIONS[name]} | failed: {r['error'][:100]} | | | | | |")
            continue
        train_ratio = ours and ours["train_seq_per_s"] / r["train_seq_per_s"]
        infer_ratio = ours and ours["infer_seq_per_s"] / r["infer_seq_per_s"]
        memory = r["peak_device_memory_mib"]
        lines.append(
            f"| {IMPLEMENTATIONS[name]} | {r['train_seq_per_s']:.1f} | "
            f"{f'{train_ratio:.2f}×' if train_ratio else '-'} | {r['infer_seq_per_s']:.1f} | "
            f"{f'{infer_ratio:.2f}×' if infer_ratio else '-'} | "
            f"{f'{memory:.0f}' if memory else '-'} | {r['train_first_s']:.1f} |"
        )
    lines += ["", "| target: ours / HF + torch.compile | ratio | minimum | met |", "|---|---:|---:|---|"]
    for check in checks:
        ratio = "-" if check["ratio"] is None else f"{check['ratio']:.2f}"
        lines.append(f"| {check['metric']} | {ratio} | {check['minimum']} | {report.met_label(check['met'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    for flag in ("batch_size", "seq_length", "warmup", "steps", "worker_timeout_s"):
        workloads.check_at_least(flag, getattr(args, flag))
    if args.worker:
        if args.worker.startswith("hf_torch"):
            result = torch_worker(args, compile_model=args.worker == "hf_torch_compile")
        else:
            result = keras_jax_worker(args.worker, args)
        print(json.dumps(result))
        return result
    passthrough = [a for a in argv if not a.startswith("--worker")]
    results = {}
    for implementation in args.implementations.split(","):
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"--implementations: unknown {implementation!r}; choose from {list(IMPLEMENTATIONS)}.")
        print(f"[bench.gpu_jax] {implementation} ...", file=sys.stderr, flush=True)
        results[implementation] = _run_worker(implementation, passthrough, args.worker_timeout_s)
    checks = target_checks(results)
    text = markdown(results, checks, args)
    os.makedirs(os.path.dirname(args.output_file), exist_ok=True)
    with open(args.output_file, "w") as f:
        json.dump(
            {"args": vars(args), "results": results, "targets": checks, "markdown": text},
            f,
            indent=1,
        )
    print(text)
    return results


if __name__ == "__main__":
    main()

"""How often TensorFlow's oneDNN kernels corrupt the heap while ALBERT trains.

```
python -m bench.heap_corruption                 # 15 runs with the kernels on, 15 off (~6 min on 2 cores)
python -m bench.heap_corruption --runs=2 --steps=20    # harness check
```

Each run is a fresh process that trains a tiny `AlbertTextClassifier` for
`--steps` steps on random batches of varying size and length (as
length-bucketed fine-tuning does) and predicts every fifth step, with
glibc's heap checks on (`MALLOC_CHECK_=3`), so a corrupted heap ends the run
with SIGABRT or SIGSEGV instead of going unnoticed. Runs alternate between
`TF_ENABLE_ONEDNN_OPTS=1` and `=0`. `keras_albert` turns the kernels off by
default because of what this measures (`keras_albert.tensorflow_dependency`);
rerun it after a TensorFlow upgrade to see whether that is still needed.
"""

import argparse
import os
import subprocess
import sys
import time

from bench import lockstep

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_TIMEOUT_SECONDS = 600


def train_with_varying_shapes(steps, seed):
    """The body of one run (in its own process)."""
    import keras
    import numpy as np

    import keras_albert
    from bench import workloads

    config = workloads.MODEL_SIZES["tiny"]
    keras.utils.set_random_seed(seed)
    backbone = keras_albert.AlbertBackbone(**config, dropout=0.0, attention_dropout=0.0)
    model = keras_albert.AlbertTextClassifier(backbone, num_classes=2)
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(seed)
    for step in range(steps):
        batch_size, length = int(rng.integers(1, 17)), int(rng.integers(3, 33))
        features = {
            "token_ids": rng.integers(1, config["vocabulary_size"], (batch_size, length)).astype("int32"),
            "segment_ids": np.zeros((batch_size, length), "int32"),
            "padding_mask": np.ones((batch_size, length), "int32"),
        }
        model.train_on_batch(features, rng.integers(0, 2, (batch_size,)).astype("int32"))
        if step % 5 == 0:
            model.predict_on_batch(features)


def run_once(onednn, steps, seed):
    """`None` if the run finished, else how it died."""
    env = dict(
        os.environ,
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0",
        MALLOC_CHECK_="3",
        PYTHONPATH=os.pathsep.join(filter(None, [REPOSITORY_ROOT, os.environ.get("PYTHONPATH")])),
    )
    command = [sys.executable, "-m", "bench.heap_corruption", "--worker", f"--steps={steps}", f"--seed={seed}"]
    try:
        process = subprocess.run(
            command, cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {RUN_TIMEOUT_SECONDS} s"
    return lockstep.exit_message(process.stderr, process.returncode) if process.returncode else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per setting")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.steps < 1:
        parser.error(f"--runs and --steps must be at least 1. Received: {args.runs}, {args.steps}")
    if args.worker:
        train_with_varying_shapes(args.steps, args.seed)
        return 0

    import keras_albert_cli

    keras_albert_cli.start_tensorflow()  # `keras_albert` imports TensorFlow: its start-up logs silenced.
    from keras_albert import hardware

    deaths = {True: [], False: []}
    started = time.time()
    for run in range(args.runs):
        for onednn in (True, False):
            death = run_once(onednn, args.steps, args.seed + run)
            deaths[onednn].append(death)
            print(
                f"run {run + 1:>3}/{args.runs}  oneDNN {'on ' if onednn else 'off'}  "
                f"{death or 'finished'}  ({time.time() - started:.0f} s)",
                flush=True,
            )
    print(f"\nMachine: {hardware.describe_machine()}; {args.steps} steps per run, MALLOC_CHECK_=3\n")
    print("| TF_ENABLE_ONEDNN_OPTS | runs | died | how |")
    print("|---|---:|---:|---|")
    for onednn in (True, False):
        died = [death for death in deaths[onednn] if death]
        how = ", ".join(f"{died.count(d)} {d}" for d in sorted(set(died))) or "-"
        print(f"| {'1' if onednn else '0'} | {args.runs} | {len(died)} | {how} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy per minute: SST-2 dev accuracy against training wall-clock, per implementation.

```
python -m bench.accuracy_per_minute                            # 540 s each, 3 implementations (~30 min)
python -m bench.accuracy_per_minute --budget_seconds=180 --eval_every_seconds=30
python -m bench.accuracy_per_minute --size=tiny --budget_seconds=4 --max_train_examples=256   # harness check
```

The same small ALBERT (from random weights, no dropout, one 8k vocabulary trained
on the SST-2 train sentences) is fine-tuned on SST-2 by each implementation with
its standard pipeline: keras-albert with length-bucketed batches
(`tasks.common.training_dataset`), keras-hub and HuggingFace PyTorch with every
sentence padded to `--max_seq_length` (the original run_classifier's 128). Same
optimizer (AdamW), learning rate, batch size and seed for all. Training time is
counted from the first step (tracing and compilation included, as a user waits
for them); evaluation on all of SST-2 dev happens at every `--eval_every_seconds`
of training time and is not counted. Implementations run one after another,
each in its own process with the whole machine.

Writes `<output_dir>/accuracy_per_minute.{json,md,png}`: each implementation's
curve, and the time each one needs to reach the accuracy the slowest-learning
peer has at the end of the budget.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np

import keras_albert_cli

# Before `bench.report` imports keras_albert, and with it TensorFlow: the
# workers' stderr is the console, and TensorFlow's start-up lines stay off it.
keras_albert_cli.start_tensorflow()

from bench import lockstep, report, workloads  # noqa: E402

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLEMENTATIONS = {
    "ours": "keras-albert, TF backend, length-bucketed",
    "keras_hub": "keras-hub 0.32 AlbertTextClassifier, TF backend, padded",
    "hf_torch": "HF transformers AlbertForSequenceClassification, PyTorch eager, padded",
}
# The model the issue measured (4 layers, H=256), and a tiny one for the tests.
MODEL_SIZES = {
    "small": {
        "vocabulary_size": 8000,
        "num_layers": 4,
        "num_heads": 4,
        "embedding_dim": 128,
        "hidden_dim": 256,
        "intermediate_dim": 1024,
    },
    "tiny": workloads.MODEL_SIZES["tiny"],
}
VOCABULARY_SIZE = 8000
# Seconds a worker may run past its budget (start-up, the last evaluation) before it is stopped.
WORKER_GRACE_SECONDS = 300


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy_per_minute", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--size", default="small", choices=sorted(MODEL_SIZES))
    parser.add_argument("--budget_seconds", type=float, default=540, help="Training time per implementation.")
    parser.add_argument("--eval_every_seconds", type=float, default=60, help="Training time between evaluations.")
    parser.add_argument("--batch_size", type=int, default=64)
    # Constant, no warmup: at 1e-3 this post-LayerNorm model from scratch stayed at the
    # majority class for 1.2 epochs (measured 2026-12-05); at 1e-4 it reaches 0.80 in half an epoch.
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_train_examples", type=int, default=None, help="Default: all 67,349.")
    parser.add_argument("--max_dev_examples", type=int, default=None, help="Default: all 872.")
    parser.add_argument("--spm_model_file", default=None, help="Default: an 8k vocabulary trained and cached.")
    parser.add_argument("--output_dir", default=os.path.join(REPOSITORY_ROOT, "bench", "results"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("budget_seconds", "eval_every_seconds"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive. Received: {getattr(args, name)}")
    for name, minimum in (("batch_size", 1), ("max_train_examples", 1), ("max_dev_examples", 1), ("max_seq_length", 3)):
        value = getattr(args, name)
        if value is not None and value < minimum:
            parser.error(f"--{name} must be at least {minimum}. Received: {value}")
    args.implementations = args.implementations.split(",")
    unknown = sorted(set(args.implementations) - set(IMPLEMENTATIONS))
    if unknown:
        parser.error(f"--implementations: unknown {', '.join(unknown)}; choose from {', '.join(IMPLEMENTATIONS)}.")
    return args


# === Data, once for every implementation ===


def _sst2_vocabulary(cache_dir):
    """An ALBERT-recipe vocabulary of the SST-2 train sentences, trained once and cached."""
    from keras_albert.sentencepiece_trainer import train_sentencepiece

    prefix = os.path.join(cache_dir, f"sst2_{VOCABULARY_SIZE // 1000}k")
    if not os.path.exists(prefix + ".model"):
        os.makedirs(cache_dir, exist_ok=True)
        texts, _ = workloads.sst2_sentences(None)
        corpus = prefix + "_corpus.txt"
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        train_sentencepiece([corpus], vocab_size=VOCABULARY_SIZE, model_prefix=prefix, seed=0)
    return prefix + ".model"


def prepare_data(args):
    """Tokenizes SST-2 train and dev once; returns the `.npz` path and the vocabulary size."""
    from bench.run import encode_texts
    from keras_albert.albert_tokenizer import AlbertTokenizer

    spm_model_file = args.spm_model_file or _sst2_vocabulary(os.path.join(args.output_dir, "cache"))
    tokenizer = AlbertTokenizer(proto=spm_model_file)
    arrays = {}
    for split, read in (("train", workloads.sst2_sentences), ("dev", workloads.sst2_dev_sentences)):
        limit = args.max_train_examples if split == "train" else args.max_dev_examples
        texts, labels = read(limit)
        features = encode_texts(tokenizer, [texts], args.max_seq_length)
        arrays.update({f"{split}_{k}": v for k, v in workloads.pack_ragged(features).items()})
        arrays[f"{split}_labels"] = labels
    path = os.path.join(args.output_dir, "data", "sst2_accuracy_per_minute.npz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    workloads.save_arrays(path, arrays)
    return path, tokenizer.vocabulary_size()


def _split(arrays, split):
    features = workloads.unpack_ragged({k[len(split) + 1:]: v for k, v in arrays.items() if k.startswith(split + "_")})
    return features, arrays[f"{split}_labels"]


# === One implementation, in its own process ===


class _Keras:
    """keras-albert (bucketed) or keras-hub (padded), trained with `train_on_batch`."""

    def __init__(self, implementation, config, job):
        import keras

        keras.utils.set_random_seed(job["seed"])
        if implementation == "ours":
            import keras_albert

            backbone = keras_albert.AlbertBackbone(**config, dropout=0.0, attention_dropout=0.0)
            self.model = keras_albert.AlbertTextClassifier(backbone, num_classes=workloads.NUM_CLASSES)
        else:
            import keras_hub

            backbone = keras_hub.models.AlbertBackbone(
                **config, num_groups=1, num_inner_repetitions=1, dropout=0.0
            )
            self.model = keras_hub.models.AlbertTextClassifier(
                backbone, num_classes=workloads.NUM_CLASSES, preprocessor=None, dropout=0.0
            )
        self.model.compile(
            optimizer=keras.optimizers.AdamW(job["learning_rate"], weight_decay=workloads.WEIGHT_DECAY),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[],
        )
        self.bucketed = implementation == "ours"
        self.job = job

    def batches(self, features, labels, epoch):
        from tasks import common

        job = self.job
        if not self.bucketed:
            features = workloads.pad_to(features, job["max_seq_length"])
        dataset = common.training_dataset(
            features, labels, job["batch_size"], job["max_seq_length"], seed=job["seed"] + epoch
        )
        return iter(dataset)

    def train_step(self, batch):
        self.model.train_on_batch(*batch)

    def accuracy(self, features, labels):
        from tasks import common

        if self.bucketed:
            logits = common.predict_in_length_order(
                self.model, features, self.job["batch_size"], self.job["max_seq_length"]
            )
        else:
            padded = workloads.stack(workloads.pad_to(features, self.job["max_seq_length"]))
            logits = self.model.predict(padded, batch_size=self.job["batch_size"], verbose=0)
        return float(np.mean(np.argmax(logits, -1) == labels))


class _Torch:
    """HuggingFace AlbertForSequenceClassification, eager PyTorch, padded batches."""

    def __init__(self, config, job):
        import torch
        import transformers

        from bench.torch_runner import huggingface_config

        torch.manual_seed(job["seed"])
        hf_config = huggingface_config(config)
        hf_config.classifier_dropout_prob = 0.0
        hf_config.max_position_embeddings = job["max_seq_length"]
        self.model = transformers.AlbertForSequenceClassification(hf_config)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=job["learning_rate"], weight_decay=workloads.WEIGHT_DECAY
        )
        self.job = job

    def _tensors(self, features, indices):
        import torch

        padded = workloads.stack(workloads.pad_to({k: [v[i] for i in indices] for k, v in features.items()},
                                                  self.job["max_seq_length"]))
        return {
            "input_ids": torch.from_numpy(padded["token_ids"]).long(),
            "token_type_ids": torch.from_numpy(padded["segment_ids"]).long(),
            "attention_mask": torch.from_numpy(padded["padding_mask"]).long(),
        }

    def batches(self, features, labels, epoch):
        import torch

        order = np.random.default_rng(self.job["seed"] + epoch).permutation(len(labels))
        size = self.job["batch_size"]
        for start in range(0, len(order), size):
            indices = order[start:start + size]
            yield self._tensors(features, indices), torch.from_numpy(labels[indices]).long()

    def train_step(self, batch):
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        inputs, labels = batch
        self.model(**inputs, labels=labels).loss.backward()
        self.optimizer.step()

    def accuracy(self, features, labels):
        import torch

        self.model.eval()
        predictions = []
        size = self.job["batch_size"]
        with torch.inference_mode():
            for start in range(0, len(labels), size):
                inputs = self._tensors(features, range(start, min(start + size, len(labels))))
                predictions.append(self.model(**inputs).logits.argmax(-1).numpy())
        return float(np.mean(np.concatenate(predictions) == labels))


def train_with_budget(job):
    """Trains one implementation for `budget_seconds` of training time; returns its curve.

    Each curve point is `{"train_seconds", "steps", "epochs", "dev_accuracy"}`; the
    first is the untrained model at 0 s.
    """
    arrays, _ = workloads.load_arrays(job["data_file"])
    train_features, train_labels = _split(arrays, "train")
    dev_features, dev_labels = _split(arrays, "dev")
    implementation = job["implementation"]
    if implementation == "hf_torch":
        runner = _Torch(job["model_config"], job)
    else:
        runner = _Keras(implementation, job["model_config"], job)

    curve = [{"train_seconds": 0.0, "steps": 0, "epochs": 0.0,
              "dev_accuracy": runner.accuracy(dev_features, dev_labels)}]
    trained, steps, epoch, seen = 0.0, 0, 0, 0
    next_eval = job["eval_every_seconds"]
    batches = runner.batches(train_features, train_labels, epoch)
    while trained < job["budget_seconds"]:
        start = time.perf_counter()
        batch = next(batches, None)
        if batch is None:  # Epoch boundary: a new shuffle.
            epoch += 1
            batches = runner.batches(train_features, train_labels, epoch)
            batch = next(batches)
        runner.train_step(batch)
        trained += time.perf_counter() - start
        steps += 1
        seen += len(batch[1])
        if trained >= min(next_eval, job["budget_seconds"]):
            accuracy = runner.accuracy(dev_features, dev_labels)
            curve.append({"train_seconds": trained, "steps": steps,
                          "epochs": seen / len(train_labels), "dev_accuracy": accuracy})
            print(f"[{implementation}] {trained:6.0f} s  step {steps:5d}  epoch {seen / len(train_labels):5.2f}  "
                  f"dev accuracy {accuracy:.4f}", file=sys.stderr, flush=True)
            while next_eval <= trained:
                next_eval += job["eval_every_seconds"]
    return {"implementation": implementation, "ok": True, "curve": curve}


def worker_main(job_file):
    with open(job_file) as f:
        job = json.load(f)
    result = train_with_budget(job)
    with open(job["result_file"], "w") as f:
        json.dump(result, f, indent=1)


def run_worker(job, timeout):
    """One implementation in a subprocess, stopped after `timeout` seconds."""
    job_file = job["result_file"].replace(".result.json", ".job.json")
    with open(job_file, "w") as f:
        json.dump(job, f)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY_ROOT, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bench.accuracy_per_minute", "--worker", job_file]
    try:
        # stderr passes through: the worker's one line per evaluation is the progress report.
        process = subprocess.run(command, cwd=REPOSITORY_ROOT, env=env, stdout=subprocess.PIPE,
                                 text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"implementation": job["implementation"], "ok": False, "error": f"timed out after {timeout:.0f} s"}
    if process.returncode != 0 or not os.path.exists(job["result_file"]):
        return {"implementation": job["implementation"], "ok": False,
                "error": lockstep.exit_message(process.stdout, process.returncode)}
    with open(job["result_file"]) as f:
        return json.load(f)


# === Report ===


def time_to_reach(curve, accuracy):
    """Training seconds of the first evaluation at or above `accuracy`; None if never."""
    return next((point["train_seconds"] for point in curve if point["dev_accuracy"] >= accuracy), None)


def summarize(results):
    """Adds to each result its final accuracy and its time to reach the peers' final accuracy.

    The reference accuracy is the lowest final accuracy among the peers (keras-hub,
    HF), i.e. what every peer reaches within the budget.
    """
    finished = [r for r in results if r["ok"]]
    peers = [r for r in finished if r["implementation"] != "ours"]
    reference = min((r["curve"][-1]["dev_accuracy"] for r in peers), default=None)
    for result in finished:
        result["final_accuracy"] = result["curve"][-1]["dev_accuracy"]
        result["final_seconds"] = result["curve"][-1]["train_seconds"]
        result["seconds_to_reference"] = None if reference is None else time_to_reach(result["curve"], reference)
    return reference


def markdown(results, reference, info, command):
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {info['cpu']}, {info['cpu_count']} cores ({info['isa']}), {info.get('memory_gib')} GiB  ",
        f"Date: {info['date']}",
        "",
        "| implementation | final dev accuracy | training s | epochs | s to reach "
        + (f"{reference:.4f} (peers' lowest final)" if reference is not None else "the peers' accuracy")
        + " |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r["ok"]:
            lines.append(f"| {IMPLEMENTATIONS[r['implementation']]} | failed: {r['error'][:100]} | | | |")
            continue
        reach = r["seconds_to_reference"]
        lines.append(
            f"| {IMPLEMENTATIONS[r['implementation']]} | {r['final_accuracy']:.4f} | {r['final_seconds']:.0f} | "
            f"{r['curve'][-1]['epochs']:.2f} | {'not reached' if reach is None else f'{reach:.0f}'} |"
        )
    return "\n".join(lines) + "\n"


def plot(results, reference, path):
    """Dev accuracy against training seconds, one line per implementation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for r in results:
        if r["ok"]:
            seconds = [p["train_seconds"] for p in r["curve"]]
            accuracy = [p["dev_accuracy"] for p in r["curve"]]
            axes.plot(seconds, accuracy, marker="o", label=IMPLEMENTATIONS[r["implementation"]])
    if reference is not None:
        axes.axhline(reference, color="gray", linestyle="--", linewidth=1, label=f"peers' lowest final ({reference:.3f})")
    axes.set_xlabel("training time (s)")
    axes.set_ylabel("SST-2 dev accuracy")
    axes.set_title("SST-2 from random weights: accuracy per training minute")
    axes.grid(alpha=0.3)
    # Below the axes: every corner inside them holds some curve.
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return None
    # A scheduler's SIGTERM unwinds like Ctrl-C: subprocess.run kills the running worker.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "python -m bench.accuracy_per_minute " + " ".join(shlex.quote(a) for a in argv)
    os.makedirs(args.output_dir, exist_ok=True)
    start = time.perf_counter()
    data_file, vocabulary_size = prepare_data(args)
    print(f"[bench] data ready in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    config = dict(MODEL_SIZES[args.size])
    config["vocabulary_size"] = max(config["vocabulary_size"], vocabulary_size)
    config["max_sequence_length"] = args.max_seq_length
    results = []
    for implementation in args.implementations:
        job = {
            "implementation": implementation,
            "model_config": config,
            "data_file": data_file,
            "result_file": os.path.join(args.output_dir, "data", f"apm_{implementation}.result.json"),
            **{name: getattr(args, name) for name in (
                "budget_seconds", "eval_every_seconds", "batch_size", "learning_rate", "max_seq_length", "seed")},
        }
        if os.path.exists(job["result_file"]):
            os.remove(job["result_file"])
        started = time.perf_counter()
        results.append(run_worker(job, args.budget_seconds + WORKER_GRACE_SECONDS))
        print(f"[bench] {implementation}: {time.perf_counter() - started:.0f} s wall", file=sys.stderr, flush=True)
    reference = summarize(results)
    info = report.machine_info()
    table = markdown(results, reference, info, command)
    base = os.path.join(args.output_dir, "accuracy_per_minute")
    with open(base + ".json", "w") as f:
        json.dump({"command": command, "machine": info, "model_config": config, "reference_accuracy": reference,
                   "results": results}, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(table)
    plot(results, reference, base + ".png")
    print(table)
    return results


if __name__ == "__main__":
    main()

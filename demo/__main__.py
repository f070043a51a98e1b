"""End-to-end demo on the bundled data in `demo/data/` (see ATTRIBUTION.md).

The task: tell a line of Shakespeare from a sentence of Wikipedia. A tiny
ALBERT learns it in about a minute on a CPU, so the demo can show the
whole pipeline ending with a model that visibly works on text it never saw.
Every step runs the project's own command-line program in its own process,
exactly as a user would; each program's full output goes to
`<output_dir>/logs/<step>.log` and the console gets one line per step.

1. Held-out split: the Wikipedia articles and Shakespeare lines are split
   by position (first 80 % train, last 20 % dev), so no dev sentence, nor
   any article it comes from, is seen by any training step.
2. `keras_albert.sentencepiece_trainer`: a vocabulary on the training text.
3. `tasks.create_pretraining_data` + `tasks.run_pretraining` (MLM + SOP) on
   the training articles, with a tiny ALBERT config.
4. `tasks.run_classifier`: fine-tunes the pretrained model; dev accuracy
   against the majority-class baseline goes to `summary.json`.
5. `export.saved_model`: a TF Serving SavedModel that takes raw text.
6. Loads the SavedModel in this process and classifies new sentences.

Usage: `python -m demo --output_dir demo_output` (what `make demo` runs).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
WIKITEXT = os.path.join(DATA, "wikitext2_test_sample.txt")
SHAKESPEARE = os.path.join(DATA, "tinyshakespeare_sample.txt")
# Label ids of the classifier; the GLUE single-sentence TSV format takes "0"/"1".
LABEL_NAMES = {"0": "Wikipedia", "1": "Shakespeare"}
NOT_LEARNING_MESSAGE = "Training does not look like it is learning"
TRAIN_FRACTION = 0.8
MIN_WORDS = 5
# A tiny ALBERT in the original albert_config.json format: factorized
# embeddings (E=64 < H=128) and one shared group, as in the paper.
TINY_ALBERT_CONFIG = {
    "vocab_size": 4000,
    "embedding_size": 64,
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "num_hidden_groups": 1,
    "inner_group_num": 1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 128,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}
# Written for this demo: in neither the bundled data nor its sources.
NEW_SENTENCES = [
    ("Shall I compare thee to a summer's day, my gentle lord?", "Shakespeare"),
    ("The bridge was completed in 1932 and carries four lanes of traffic.", "Wikipedia"),
    ("Good madam, let me hear thy tale anon, for I am weary.", "Shakespeare"),
    ("The album sold 200,000 copies in its first week in the United States.", "Wikipedia"),
    ("What say you, sirrah? Wilt thou fight for the king tonight?", "Shakespeare"),
    ("The species is found in tropical forests of South America.", "Wikipedia"),
]


# === Data ===


def _detokenize_wikitext(text):
    """Undoes WikiText's tokenization (' @-@ ', ' , ') so sentences read as raw text."""
    text = re.sub(r" @(.)@ ", r"\1", text)
    text = re.sub(r" ([.,;:!?)'])", r"\1", text)
    text = re.sub(r"\( ", "(", text)
    text = text.replace(" n't", "n't").replace(' " ', ' "')
    return text.strip()


def _wikitext_articles(path):
    """Articles of a WikiText file as lists of lines (headings included)."""
    articles = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^ = [^=].* = $", line.rstrip("\n")):
                articles.append([])
            if articles and line.strip():
                articles[-1].append(line)
    return articles


def _wikipedia_sentences(article_lines):
    sentences = []
    for line in article_lines:
        if line.strip().startswith("="):
            continue
        for sentence in re.split(r"(?<= \.) ", line.strip()):
            sentence = _detokenize_wikitext(sentence)
            if len(sentence.split()) >= MIN_WORDS:
                sentences.append(sentence)
    return sentences


def _shakespeare_lines(path):
    """Spoken lines (speaker names such as 'First Citizen:' left out)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if len(line.split()) >= MIN_WORDS and not line.endswith(":")]


def _split(items):
    cut = int(len(items) * TRAIN_FRACTION)
    return items[:cut], items[cut:]


def _write_tsv(path, wikipedia, shakespeare):
    """SST-2's single-sentence format, the classes balanced by taking the smaller count."""
    size = min(len(wikipedia), len(shakespeare))
    rows = [(s, "0") for s in wikipedia[:size]] + [(s, "1") for s in shakespeare[:size]]
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for sentence, label in rows:
            f.write(f"{sentence.replace(chr(9), ' ')}\t{label}\n")
    return len(rows)


def prepare_data(out):
    """Writes the held-out split; returns (data_dir, pretraining corpus, vocabulary corpora)."""
    data_dir = os.path.join(out, "data")
    os.makedirs(data_dir, exist_ok=True)
    train_articles, dev_articles = _split(_wikitext_articles(WIKITEXT))
    train_plays, dev_plays = _split(_shakespeare_lines(SHAKESPEARE))
    wiki_train_path = os.path.join(data_dir, "wikitext_train_articles.txt")
    with open(wiki_train_path, "w", encoding="utf-8") as f:
        f.writelines(line for article in train_articles for line in article)
    shakespeare_train_path = os.path.join(data_dir, "shakespeare_train_lines.txt")
    with open(shakespeare_train_path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in train_plays)
    wiki_train = [s for article in train_articles for s in _wikipedia_sentences(article)]
    wiki_dev = [s for article in dev_articles for s in _wikipedia_sentences(article)]
    num_train = _write_tsv(os.path.join(data_dir, "train.tsv"), wiki_train, train_plays)
    num_dev = _write_tsv(os.path.join(data_dir, "dev.tsv"), wiki_dev, dev_plays)
    print(
        f"  {num_train} training and {num_dev} held-out sentences, half Wikipedia "
        f"({len(train_articles)} + {len(dev_articles)} articles), half Shakespeare; dev from "
        "articles and lines no training step sees",
        flush=True,
    )
    return data_dir, wiki_train_path, [wiki_train_path, shakespeare_train_path]


# === Steps ===


class Interrupted(Exception):
    """SIGTERM or SIGINT (Ctrl-C) arrived."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum, frame):
    raise Interrupted(signum)


def _stop(process):
    """Ends a step's program: SIGTERM, then (after 60 s) SIGKILL."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(step, log_dir, *args):
    """Runs `python -m <args>`, its output into `<log_dir>/<step>.log`; stops the demo if it fails."""
    name = re.sub(r"[^a-z0-9]+", "_", step.lower()).strip("_")
    log_path = os.path.join(log_dir, f"{name}.log")
    print(f"[{step}] python -m {args[0]} ...", end=" ", flush=True)
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"$ {sys.executable} -m {' '.join(args)}\n")
        log.flush()
        process = subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT)
        try:
            # Bounded: the whole demo is meant to take minutes.
            returncode = process.wait(timeout=1800)
        except subprocess.TimeoutExpired:
            _stop(process)
            returncode = "timeout (30 min)"
        except Interrupted:
            _stop(process)  # The step's program stops cleanly on SIGTERM and keeps whole checkpoints.
            print(f"stopped (log: {_shown(log_path)})", flush=True)
            raise
    if returncode != 0:
        print(f"FAILED ({returncode}); the last lines of {log_path}:", flush=True)
        with open(log_path, encoding="utf-8", errors="replace") as log:
            print("".join(log.readlines()[-25:]), flush=True)
        sys.exit(1)
    print(f"{time.time() - started:.0f} s (log: {_shown(log_path)})", flush=True)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if NOT_LEARNING_MESSAGE in line:  # The programs' guard (keras_albert.training.training_monitor).
                details = line.split(NOT_LEARNING_MESSAGE, 1)[1].split(". Likely causes")[0]
                print(f"  WARNING: the model does not look like it is learning{details} (causes in the log)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="demo_output")
    parser.add_argument("--pretraining_steps", type=int, default=100)
    parser.add_argument("--epochs", type=float, default=1.0)
    args = parser.parse_args()
    out = os.path.abspath(args.output_dir)
    log_dir = os.path.join(out, "logs")
    os.makedirs(log_dir, exist_ok=True)
    demo_started = time.time()

    print("[1/7 data] Shakespeare lines vs Wikipedia sentences, split by position", flush=True)
    data_dir, pretraining_corpus, vocabulary_corpora = prepare_data(out)

    spm_prefix = os.path.join(out, "vocab", "spiece")
    run(
        "2/7 vocabulary",
        log_dir,
        "keras_albert.sentencepiece_trainer",
        f"--input={','.join(vocabulary_corpora)}",
        f"--vocab_size={TINY_ALBERT_CONFIG['vocab_size']}",
        f"--model_prefix={spm_prefix}",
        "--seed=0",
    )
    spm_model = spm_prefix + ".model"
    config_path = os.path.join(out, "albert_config.json")
    with open(config_path, "w") as f:
        json.dump(TINY_ALBERT_CONFIG, f, indent=2)

    pretraining_data = os.path.join(out, "pretraining_data")
    run(
        "3/7 pretraining data",
        log_dir,
        "tasks.create_pretraining_data",
        # ' = Title = ' lines start documents: sentence-order pairs stay in one article.
        f"--input_file={pretraining_corpus}",
        "--input_format=wikitext",
        f"--output_dir={pretraining_data}",
        f"--spm_model_file={spm_model}",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        "--dupe_factor=2",
        "--num_shards=2",
    )
    pretrained = os.path.join(out, "pretrained")
    # From scratch on every run, as the other steps: run_pretraining would
    # resume a finished earlier run's checkpoint and train nothing.
    shutil.rmtree(pretrained, ignore_errors=True)
    run(
        "4/7 pretraining (MLM + SOP)",
        log_dir,
        "tasks.run_pretraining",
        f"--input_file={pretraining_data}",
        f"--albert_config_file={config_path}",
        f"--spm_model_file={spm_model}",
        f"--output_dir={pretrained}",
        "--do_train",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        "--train_batch_size=32",
        f"--num_train_steps={args.pretraining_steps}",
        "--learning_rate=1e-2",
        "--num_warmup_steps=10",
        # From random weights the MLM loss sits near ln(vocab_size) for its first ~40 steps:
        # the not-learning check looks at half of this short run, not the default 30 %.
        "--not_learning_check_fraction=0.5",
    )

    classifier_dir = os.path.join(out, "classifier")
    run(
        "5/7 fine-tuning",
        log_dir,
        "tasks.run_classifier",
        "--task_name=sst-2",
        f"--data_dir={data_dir}",
        f"--preset={pretrained}",
        f"--spm_model_file={spm_model}",
        f"--output_dir={classifier_dir}",
        "--do_train",
        "--do_eval",
        "--max_seq_length=64",
        "--train_batch_size=32",
        "--eval_batch_size=64",
        "--learning_rate=1e-3",
        f"--num_train_epochs={args.epochs}",
    )
    with open(os.path.join(classifier_dir, "eval_results.json")) as f:
        accuracy = json.load(f)["accuracy"]
    with open(os.path.join(data_dir, "dev.tsv"), encoding="utf-8") as f:
        dev_labels = [line.rstrip("\n").split("\t")[1] for line in f.readlines()[1:]]
    baseline = max(dev_labels.count(label) for label in set(dev_labels)) / len(dev_labels)
    print(
        f"  held-out accuracy {accuracy:.3f} on {len(dev_labels)} dev sentences "
        f"(majority-class baseline {baseline:.3f})",
        flush=True,
    )
    summary = [
        {
            "task": "shakespeare_vs_wikipedia",
            "metric": "accuracy",
            "value": accuracy,
            "baseline": baseline,
            "num_eval_examples": len(dev_labels),
        }
    ]
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    model_base = os.path.join(out, "serving", "albert_classifier")
    run(
        "6/7 SavedModel export",
        log_dir,
        "export.saved_model",
        f"--preset={classifier_dir}",
        f"--model_base={model_base}",
        "--overwrite",
        "--version=1",
        "--max_seq_length=64",
    )

    print("[7/7 serving] the SavedModel on sentences written for this demo:", flush=True)
    served = _load_saved_model(os.path.join(model_base, "1"))
    texts = [text for text, _ in NEW_SENTENCES]
    outputs = served(text=_string_tensor(texts))
    probabilities = outputs["probabilities"].numpy()
    label_ids = outputs["label_ids"].numpy()
    print(f"  {'sentence':<72} {'predicted':<12} {'p':>5}  expected", flush=True)
    num_right = 0
    for (text, expected), label_id, row in zip(NEW_SENTENCES, label_ids, probabilities):
        predicted = LABEL_NAMES[str(label_id)]
        num_right += predicted == expected
        print(f"  {text:<72} {predicted:<12} {row[label_id]:.2f}  {expected}", flush=True)
    print(f"  {num_right} of {len(NEW_SENTENCES)} right", flush=True)
    print(
        f"Demo complete in {time.time() - demo_started:.0f} s; summary in "
        f"{_shown(os.path.join(out, 'summary.json'))}, everything under {_shown(out)}",
        flush=True,
    )


def _shown(path):
    """`path` relative to the working directory when it lies below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _load_saved_model(path):
    """The SavedModel's serving_default, started as the programs start TensorFlow (quietly)."""
    import keras_albert_cli

    keras_albert_cli.start_tensorflow([])
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the in-graph tokenizer ops)

    return tf.saved_model.load(path).signatures["serving_default"]


def _string_tensor(texts):
    import tensorflow as tf

    return tf.constant(texts)


if __name__ == "__main__":
    # A stop request ends the running step's program too, and the demo with
    # one line instead of a traceback (and no program left running alone).
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _interrupt)
    try:
        main()
    except Interrupted as interrupted:
        print(f"\nInterrupted ({interrupted}): the demo stopped; `make demo` runs it again.", flush=True)
        sys.exit(128 + interrupted.signum)

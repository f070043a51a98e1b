"""What every implementation is asked to do: model sizes, shapes and data.

The orchestrator prepares each scenario's data once (random ids with a fixed
seed, or real text tokenized once) and writes it to an `.npz` file that
every worker reads, so all implementations see identical inputs.
"""

import dataclasses
import json
import os

import numpy as np

# ALBERT-base v2 (the shapes), and a tiny model for smoke tests.
MODEL_SIZES = {
    "base": {
        "vocabulary_size": 30000,
        "num_layers": 12,
        "num_heads": 12,
        "embedding_dim": 128,
        "hidden_dim": 768,
        "intermediate_dim": 3072,
    },
    "tiny": {
        "vocabulary_size": 1000,
        "num_layers": 2,
        "num_heads": 2,
        "embedding_dim": 16,
        "hidden_dim": 32,
        "intermediate_dim": 64,
    },
}
NUM_CLASSES = 2
LEARNING_RATE = 2e-5
WEIGHT_DECAY = 0.01
SST2_DIR = "/work/shared/data/sst2"
WIKITEXT2_DIR = "/work/shared/data/wikitext2"
SQUAD_FILE = "/work/shared/data/squad_v1.1_part_a/dev-v1.1-part-a.json"


def check_at_least(flag, value, minimum=1):
    """Refuses a work size below its minimum, naming the command-line flag."""
    if value < minimum:
        raise ValueError(f"--{flag} must be at least {minimum}. Received: {value}")
    return value


@dataclasses.dataclass
class Shapes:
    """Work sizes of the scenarios (defaults: ALBERT-base, ~15 min suite).

    Attributes:
        fixed_batch_size, fixed_seq_length: train step / inference batch.
        sst2_examples: first N sentences of SST-2 train.tsv.
        sst2_batch_size, sst2_max_length: fine-tuning batch and the fixed
            length of the padded variant (the original run_classifier's 128).
        sst2_padded_steps: batches timed for the padded variant, whose
            batches are all identical `[batch, max_length]` work; the epoch
            time is the per-batch time times the number of batches. 0 runs
            the whole padded epoch.
        squad_examples: first N questions of SQuAD v1.1 dev part A.
        squad_batch_size, squad_max_length: inference batch and the fixed
            length of the padded variant (the original run_squad's 384).
        latency_repeats: timed single-sentence calls.
        serving_batch_size: SST-2 dev sentences per call of the SavedModel's
            batch-throughput measurement.
    """

    fixed_batch_size: int = 8
    fixed_seq_length: int = 128
    sst2_examples: int = 512
    sst2_batch_size: int = 32
    sst2_max_length: int = 128
    sst2_padded_steps: int = 3
    squad_examples: int = 64
    squad_batch_size: int = 8
    squad_max_length: int = 384
    latency_repeats: int = 30
    serving_batch_size: int = 32


DEFAULT_SHAPES = {
    "base": Shapes(),
    "tiny": Shapes(
        fixed_batch_size=2,
        fixed_seq_length=32,
        sst2_examples=48,
        sst2_batch_size=8,
        sst2_max_length=64,
        sst2_padded_steps=0,
        squad_examples=8,
        squad_batch_size=4,
        squad_max_length=128,
        latency_repeats=3,
        serving_batch_size=4,
    ),
}


def model_gflop(config, batch_size, seq_length, train):
    """Nominal matmul GFLOP of one step of the whole classifier at a fixed shape.

    The encoder as written (every layer on every position: QKV, attention
    scores and context, output projection, FFN) plus the embedding
    projection; a train step counts three times the forward (forward,
    input gradients, weight gradients). The same count for every
    implementation, as "model FLOPs utilization" does: an implementation
    that skips work (keras-albert's last layer runs the pooled position
    only) gets credit for it.
    """
    hidden, intermediate = config["hidden_dim"], config["intermediate_dim"]
    per_token_layer = 2 * hidden * (3 * hidden + hidden + 2 * intermediate) + 2 * 2 * seq_length * hidden
    per_token = config["num_layers"] * per_token_layer + 2 * config["embedding_dim"] * hidden
    return per_token * batch_size * seq_length * (3 if train else 1) / 1e9


def model_config(size, vocabulary_size=None):
    """AlbertBackbone kwargs of `size` (dropout-free, as ALBERT v2)."""
    if size not in MODEL_SIZES:
        raise ValueError(f"Unknown --size {size!r}; one of {sorted(MODEL_SIZES)}.")
    config = dict(MODEL_SIZES[size])
    if vocabulary_size is not None:
        config["vocabulary_size"] = max(config["vocabulary_size"], vocabulary_size)
    return config


# === Data files ===


def save_arrays(path, arrays, metadata=None):
    """Writes arrays (and a JSON-able `metadata` dict) to one `.npz` file."""
    np.savez(path, metadata=json.dumps(metadata or {}), **arrays)


def load_arrays(path):
    """Reads a file written by `save_arrays`: `(arrays, metadata)`."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name != "metadata"}
        metadata = json.loads(str(data["metadata"]))
    return arrays, metadata


def random_batch(batch_size, seq_length, vocabulary_size, seed=0):
    """Random ids without padding, single segment, random binary labels."""
    rng = np.random.default_rng(seed)
    # Ids 0-4 are ALBERT's special pieces.
    return {
        "token_ids": rng.integers(5, vocabulary_size, (batch_size, seq_length)).astype(np.int32),
        "segment_ids": np.zeros((batch_size, seq_length), np.int32),
        "padding_mask": np.ones((batch_size, seq_length), np.int32),
        "labels": rng.integers(0, NUM_CLASSES, (batch_size,)).astype(np.int32),
    }


def pack_ragged(features):
    """Per-example int arrays `{name: [array[length_i]]}` -> flat arrays + lengths."""
    arrays = {name: np.concatenate(values).astype(np.int32) for name, values in features.items()}
    arrays["lengths"] = np.array([len(v) for v in features["token_ids"]], np.int32)
    return arrays


def unpack_ragged(arrays, names=("token_ids", "segment_ids", "padding_mask")):
    """Inverse of `pack_ragged`: `{name: [array[length_i]]}`."""
    splits = np.cumsum(arrays["lengths"])[:-1]
    return {name: np.split(arrays[name], splits) for name in names}


def pad_to(features, length):
    """Per-example arrays padded with 0 (pad id, mask 0) to exactly `length`."""
    return {
        name: [np.pad(v, (0, length - len(v))) for v in values]
        for name, values in features.items()
    }


def stack(features):
    """Equal-length per-example arrays -> `[N, length]` arrays."""
    return {name: np.stack(values) for name, values in features.items()}


# === Real text ===


def sst2_sentences(num_examples):
    """The first `num_examples` (all: None) SST-2 training sentences and their label ids."""
    from tasks import glue

    task = glue.get_task("sst-2")
    examples = glue.read_examples(
        task, os.path.join(SST2_DIR, "train.tsv"), labeled=True, max_examples=num_examples
    )
    texts = [example.text_a for example in examples]
    labels = np.array([task.label_id(example.label) for example in examples], np.int32)
    return texts, labels


def squad_questions(num_examples):
    """The first `num_examples` (all: None) (question, context) pairs of SQuAD v1.1 part A."""
    with open(SQUAD_FILE, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    questions, contexts = [], []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if len(questions) == num_examples:
                    return questions, contexts
                questions.append(qa["question"])
                contexts.append(paragraph["context"])
    return questions, contexts


def write_tokenizer_corpus(path):
    """Writes the English text the benchmark's vocabulary is trained on.

    SST-2 train sentences, the SQuAD part A questions and contexts and
    WikiText-2 (valid, test): the scenarios' own domains (about 7 MB,
    room for at most ~22k pieces).
    """
    texts, _ = sst2_sentences(None)
    questions, contexts = squad_questions(None)
    lines = texts + questions + sorted(set(contexts))
    for name in ("valid.txt", "test.txt"):
        with open(os.path.join(WIKITEXT2_DIR, name), encoding="utf-8") as f:
            lines += [line.strip() for line in f if line.strip()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def load_or_train_tokenizer(spm_model_file, cache_dir):
    """An `AlbertTokenizer` from `spm_model_file`, else one trained and cached.

    No English ALBERT vocabulary is available offline, so the benchmark
    trains a 20k-piece English model with ALBERT's recipe
    (`train_sentencepiece`) once and caches it in `cache_dir`. Sequence
    lengths are then close to (slightly longer than) what ALBERT's 30k
    English vocabulary gives; the model keeps 30000 embedding rows.

    Returns:
        `(tokenizer, spm_model_file)`.
    """
    from keras_albert.albert_tokenizer import AlbertTokenizer

    if spm_model_file is None:
        from keras_albert.sentencepiece_trainer import train_sentencepiece

        os.makedirs(cache_dir, exist_ok=True)
        prefix = os.path.join(cache_dir, "english_20k")
        spm_model_file = prefix + ".model"
        if not os.path.exists(spm_model_file):
            corpus = os.path.join(cache_dir, "english_corpus.txt")
            write_tokenizer_corpus(corpus)
            train_sentencepiece([corpus], vocab_size=20000, model_prefix=prefix, seed=0)
    return AlbertTokenizer(proto=spm_model_file), spm_model_file


def sst2_dev_sentences(num_examples):
    """The first `num_examples` SST-2 dev sentences and their label ids."""
    from tasks import glue

    task = glue.get_task("sst-2")
    examples = glue.read_examples(
        task, os.path.join(SST2_DIR, "dev.tsv"), labeled=True, max_examples=num_examples
    )
    return [e.text_a for e in examples], np.array([task.label_id(e.label) for e in examples], np.int32)

"""Tiny pretraining data and model config shared by the pretraining tests."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import sentencepiece

from tasks import pretraining_data

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_SEQ_LENGTH = 32
MAX_PREDICTIONS = 5


def write_tiny_data(output_dir, spm_model_path, wikitext_path, num_lines=400, dupe_factor=1):
    """TFRecords from the first `num_lines` lines of WikiText (a few articles)."""
    from keras_albert.albert_tokenizer import AlbertTokenizer

    corpus = Path(output_dir) / "corpus.txt"
    with open(wikitext_path, encoding="utf-8") as f:
        corpus.write_text("".join(next(f) for _ in range(num_lines)), encoding="utf-8")
    tokenizer = AlbertTokenizer(str(spm_model_path))
    documents = pretraining_data.tokenize_documents(
        pretraining_data.read_documents(corpus, "wikitext"), tokenizer
    )
    masking = pretraining_data.masking_config(tokenizer, MAX_SEQ_LENGTH, MAX_PREDICTIONS)
    rng = np.random.default_rng(0)
    examples = pretraining_data.create_examples(documents, masking, MAX_SEQ_LENGTH, rng, dupe_factor)
    data_dir = Path(output_dir) / "data"
    metadata = dict(masking, spm_model_file=str(spm_model_path), do_lower_case=True)
    pretraining_data.write_examples(examples, data_dir, 2, metadata, rng)
    return data_dir


def write_tiny_config(path, spm_model_path):
    vocab_size = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path)).get_piece_size()
    config = {
        "vocabulary_size": vocab_size, "num_layers": 2, "num_heads": 2, "embedding_dim": 16,
        "hidden_dim": 32, "intermediate_dim": 64, "max_sequence_length": MAX_SEQ_LENGTH,
    }
    Path(path).write_text(json.dumps(config))
    return str(path)


def pretraining_args(data_dir, config_file, output_dir, num_train_steps, save_checkpoints_steps, *extra):
    return [
        "--do_train", f"--input_file={data_dir}", f"--albert_config_file={config_file}",
        f"--output_dir={output_dir}", "--train_batch_size=8", f"--max_seq_length={MAX_SEQ_LENGTH}",
        f"--max_predictions_per_seq={MAX_PREDICTIONS}", f"--num_train_steps={num_train_steps}",
        "--num_warmup_steps=2", f"--save_checkpoints_steps={save_checkpoints_steps}",
        "--learning_rate=0.05", "--dynamic_masking", "--shuffle_buffer_size=100", *extra,
    ]


def start_program(args, log_path, tf_config=None):
    """`python -m tasks.run_pretraining args` in its own process (logs to a file)."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", "tasks.run_pretraining", *args],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def free_ports(count):
    """Ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def read_weights(path):
    """All arrays of a `.weights.h5` file (model and optimizer), by name."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def max_weight_difference(path_a, path_b):
    a, b = read_weights(path_a), read_weights(path_b)
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    return max(float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)))) for k in a)

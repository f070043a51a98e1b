"""The fine-tuning programs stop cleanly: SIGTERM mid-training ends them within seconds (exit 143)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sentencepiece

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.heavy
def test_sigterm_ends_run_classifier_mid_training_within_30_seconds(tmp_path, shared_data_dir, spm_model_path):
    vocab_size = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path)).get_piece_size()
    config = {
        "vocab_size": vocab_size, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu", "max_position_embeddings": 64,
        "type_vocab_size": 2, "num_hidden_groups": 1, "inner_group_num": 1,
    }
    (tmp_path / "albert_config.json").write_text(json.dumps(config))
    output_dir, log_path = tmp_path / "out", tmp_path / "run.log"
    args = [
        "--task_name=sst-2", f"--data_dir={shared_data_dir / 'sst2'}", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={tmp_path / 'albert_config.json'}", f"--output_dir={output_dir}", "--do_train",
        "--max_seq_length=32", "--max_train_examples=32", "--train_batch_size=16",
        "--num_train_epochs=100000", "--not_learning_check_fraction=0",  # Hours of training: only a signal ends it.
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "tasks.run_classifier", *args], stdout=log, stderr=log, env=env)
    try:
        # The first epoch's checkpoint: the program is inside model.fit.
        deadline = time.monotonic() + 240
        while not (output_dir / "checkpoint.weights.h5").exists():
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no first epoch in 240 s: {log_path.read_text()[-3000:]}"
            time.sleep(0.1)
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        start = time.monotonic()
        process.wait(timeout=30)
        assert time.monotonic() - start < 30
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, log_path.read_text()[-3000:]
    assert "Received SIGTERM: stopping now" in log_path.read_text()

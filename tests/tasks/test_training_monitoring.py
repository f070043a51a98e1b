"""The fine-tuning programs warn when training does not learn and draw training curves."""

import json
import logging

import pytest
import sentencepiece

from tasks import common, run_classifier

GOOD = ["a good film", "good and fun", "really good acting", "a good story", "good music , good cast"]
BAD = ["a bad film", "bad and dull", "really bad acting", "a bad story", "bad music , bad cast"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """An SST-2-format task a tiny model learns in a few steps: the word 'good' or 'bad'."""
    path = tmp_path_factory.mktemp("good_bad")
    rows = [(text, "1") for text in GOOD] + [(text, "0") for text in BAD]
    for name, copies in (("train.tsv", 8), ("dev.tsv", 1)):
        with open(path / name, "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            f.writelines(f"{text}\t{label}\n" for _ in range(copies) for text, label in rows)
    return path


@pytest.fixture(scope="module")
def albert_config_file(tmp_path_factory, spm_model_path):
    """One layer; weights drawn wide (0.2) so that it breaks symmetry and learns in 40 steps."""
    vocab_size = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path)).get_piece_size()
    config = {
        "vocab_size": vocab_size, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 32,
        "type_vocab_size": 2, "initializer_range": 0.2, "num_hidden_groups": 1, "inner_group_num": 1,
    }
    path = tmp_path_factory.mktemp("config") / "albert_config.json"
    path.write_text(json.dumps(config))
    return str(path)


class _Collected(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _train(output_dir, data_dir, spm_model_path, albert_config_file, learning_rate):
    """Runs the program; returns its not-learning warnings."""
    collected = _Collected()
    logging.getLogger("absl").addHandler(collected)
    try:
        common.run_program(run_classifier.main, [
            "run_classifier", "--task_name=sst-2", f"--data_dir={data_dir}", f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={albert_config_file}", f"--output_dir={output_dir}", "--do_train", "--do_eval",
            "--max_seq_length=16", "--train_batch_size=8", "--eval_batch_size=16", "--num_train_epochs=4",
            f"--learning_rate={learning_rate}", "--warmup_proportion=0", "--not_learning_check_fraction=0.75",
        ])
    finally:
        logging.getLogger("absl").removeHandler(collected)
    return [m for m in collected.messages if "does not look like it is learning" in m]


@pytest.fixture(scope="module")
def learning_run(tmp_path_factory, data_dir, spm_model_path, albert_config_file):
    output_dir = tmp_path_factory.mktemp("learning_run")
    return output_dir, _train(output_dir, data_dir, spm_model_path, albert_config_file, 3e-3)


def test_a_vanishing_learning_rate_warns_once(tmp_path, data_dir, spm_model_path, albert_config_file):
    # --learning_rate must be above 0 (tasks.common.FLAG_RANGES); 1e-12 moves no weight measurably.
    warnings = _train(tmp_path, data_dir, spm_model_path, albert_config_file, 1e-12)
    assert len(warnings) == 1
    assert "after 30 of 40 steps (75%)" in warnings[0] and "learning rate" in warnings[0]


def test_a_learning_run_gets_no_warning(learning_run):
    output_dir, warnings = learning_run
    assert warnings == []
    assert json.loads((output_dir / "eval_results.json").read_text())["accuracy"] == 1.0


def test_training_writes_its_step_history_and_curves(learning_run):
    output_dir, _ = learning_run
    history = json.loads((output_dir / "step_history.json").read_text())
    assert history["step"] == list(range(1, 41))
    assert history["loss"][-1] < history["loss"][0] / 2
    png = (output_dir / "training_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

"""`python -m tasks.run_pretraining` in-process with a tiny model on WikiText-2 articles."""

import json
import shutil

import numpy as np
import pytest
from pretraining_test_data import (
    MAX_PREDICTIONS,
    MAX_SEQ_LENGTH,
    pretraining_args,
    write_tiny_config,
    write_tiny_data,
)

import keras_albert
from tasks import common, run_classifier, run_pretraining


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, spm_model_path, shared_data_dir):
    directory = tmp_path_factory.mktemp("pretraining")
    data_dir = write_tiny_data(directory, spm_model_path, shared_data_dir / "wikitext2" / "valid.txt")
    return data_dir, write_tiny_config(directory / "config.json", spm_model_path)


def run(*args):
    common.run_program(run_pretraining.main, ["run_pretraining", *args])


@pytest.fixture(scope="module")
def pretrained_dir(tiny_setup, tmp_path_factory):
    data_dir, config_file = tiny_setup
    output_dir = tmp_path_factory.mktemp("pretrained")
    run(*pretraining_args(data_dir, config_file, output_dir, 8, 3), "--do_eval", "--max_eval_steps=2", "--eval_batch_size=8")
    return output_dir


def test_pretraining_checkpoints_every_interval_and_at_the_end(pretrained_dir):
    checkpoints = sorted(p.name for p in (pretrained_dir / "checkpoints" / "worker_0").iterdir())
    assert checkpoints == [f"ckpt-{step:09d}.weights.h5" for step in (3, 6, 8)]


def test_pretraining_logs_falling_mlm_loss_and_metrics(pretrained_dir):
    history = json.loads((pretrained_dir / "train_history.json").read_text())
    assert len(history["mlm_logits_loss"]) == 3  # Epochs of 3, 3 and 2 steps.
    assert history["mlm_logits_loss"][-1] < history["mlm_logits_loss"][0]
    results = json.loads((pretrained_dir / "eval_results.json").read_text())
    assert {"mlm_logits_accuracy", "sop_logits_accuracy", "mlm_logits_loss", "sop_logits_loss"} <= set(results)
    assert 0.0 <= results["sop_logits_accuracy"] <= 1.0


def test_rerunning_a_finished_job_keeps_its_output(tiny_setup, pretrained_dir, tmp_path):
    data_dir, config_file = tiny_setup
    output_dir = tmp_path / "finished"
    shutil.copytree(pretrained_dir, output_dir)
    before = sorted(path.relative_to(output_dir) for path in output_dir.rglob("*"))
    run(*pretraining_args(data_dir, config_file, output_dir, 8, 3))  # Resumes at step 8 of 8: nothing to train.
    assert sorted(path.relative_to(output_dir) for path in output_dir.rglob("*")) == before
    keras_albert.AlbertBackbone.from_preset(str(output_dir))


def test_output_dir_is_a_preset_the_fine_tuning_programs_load(pretrained_dir, shared_data_dir, tmp_path):
    pretrainer = keras_albert.AlbertPretrainer.from_preset(str(pretrained_dir))
    backbone = keras_albert.AlbertBackbone.from_preset(str(pretrained_dir))
    for a, b in zip(pretrainer.backbone.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(a, b)
    common.run_program(
        run_classifier.main,
        [
            "run_classifier", "--task_name=sst-2", f"--data_dir={shared_data_dir / 'sst2'}",
            f"--preset={pretrained_dir}", f"--output_dir={tmp_path / 'sst2'}", "--do_train", "--do_eval",
            f"--max_seq_length={MAX_SEQ_LENGTH}", "--max_train_examples=16", "--max_eval_examples=16",
            "--train_batch_size=8", "--num_train_epochs=1",
        ],
    )
    results = json.loads((tmp_path / "sst2" / "eval_results.json").read_text())
    assert results["num_examples"] == 16 and 0.0 <= results["accuracy"] <= 1.0


def test_flags_that_disagree_with_the_data_raise(tiny_setup, tmp_path):
    data_dir, config_file = tiny_setup
    args = pretraining_args(data_dir, config_file, tmp_path, 2, 2)
    with pytest.raises(ValueError, match="max_predictions_per_seq"):
        run(*args, f"--max_predictions_per_seq={MAX_PREDICTIONS + 1}")
    with pytest.raises(ValueError, match="no file matches"):
        run(*args, f"--input_file={tmp_path / 'nothing'}/*.tfrecord")

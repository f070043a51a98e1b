"""`python -m tasks.run_classifier` in-process on the real SST-2/MRPC files, with a tiny model."""

import json

import numpy as np
import pytest

import keras_albert
from keras_albert import task_spec
from tasks import common, run_classifier

STSB_TRAIN = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n" + "".join(
    f"{i}\tmain-captions\tMSRvid\t2012test\t{i:04d}\tnone\tnone\t{a}\t{b}\t{score}\n"
    for i, (a, b, score) in enumerate(
        [
            ("A man is playing a flute.", "A man is playing a flute.", "5.000"),
            ("A woman is slicing an onion.", "A man is playing the piano.", "0.000"),
            ("A dog runs in the park.", "A dog is running in a park.", "4.600"),
            ("Two kids are reading.", "A cat sleeps on a chair.", "0.250"),
        ]
    )
)
STSB_TEST = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n" + (
    "0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone\tA girl is styling her hair.\tA girl is brushing her hair.\n"
    "1\tmain-captions\tMSRvid\t2012test\t0033\tnone\tnone\tA man is cutting a tomato.\tA man plays a guitar.\n"
)


@pytest.fixture(scope="module")
def albert_config_file(tmp_path_factory, write_tiny_albert_config):
    return str(write_tiny_albert_config(tmp_path_factory.mktemp("config")))


def run(*args):
    common.run_program(run_classifier.main, ["run_classifier", "--max_seq_length=48", *args])


def read_submission(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], [line.split("\t") for line in lines[1:]]


def test_sst2_trains_and_evaluates_on_the_real_files(tmp_path, shared_data_dir, spm_model_path, albert_config_file):
    output_dir = tmp_path / "sst2"
    run(
        "--task_name=sst-2", f"--data_dir={shared_data_dir / 'sst2'}", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={albert_config_file}", f"--output_dir={output_dir}",
        "--do_train", "--do_eval", "--max_train_examples=64", "--max_eval_examples=40",
        "--train_batch_size=16", "--num_train_epochs=1", "--learning_rate=1e-3",
    )
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert set(results) == {"accuracy", "loss", "num_examples", "num_truncated"}
    assert results["num_examples"] == 40
    assert 0.0 <= results["accuracy"] <= 1.0
    assert (output_dir / "checkpoint.weights.h5").is_file()
    assert task_spec.load_task_spec(output_dir) == task_spec.TextClassificationSpec(
        labels=("0", "1"), text_pair=False, sequence_length=48
    )


def test_mrpc_writes_a_glue_submission_and_its_preset_reproduces_the_evaluation(
    tmp_path, shared_data_dir, spm_model_path, albert_config_file
):
    output_dir = tmp_path / "mrpc"
    common_args = ["--task_name=mrpc", f"--data_dir={shared_data_dir / 'glue_mrpc'}", "--max_eval_examples=24"]
    run(
        *common_args, f"--spm_model_file={spm_model_path}", f"--albert_config_file={albert_config_file}",
        f"--output_dir={output_dir}", "--do_train", "--do_eval", "--do_predict",
        "--max_train_examples=32", "--max_predict_examples=20", "--train_batch_size=16",
        "--num_train_epochs=1", "--learning_rate=1e-3",
    )
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert {"accuracy", "f1", "loss"} <= set(results) and results["num_examples"] == 24
    header, rows = read_submission(output_dir / "MRPC.tsv")
    assert header == "index\tprediction"
    assert [index for index, _ in rows] == [str(i) for i in range(20)]
    assert {prediction for _, prediction in rows} <= {"0", "1"}

    # Evaluation only, from the saved preset (its own tokenizer, no config).
    reloaded_dir = tmp_path / "reloaded"
    run(*common_args, f"--preset={output_dir}", f"--output_dir={reloaded_dir}", "--do_eval")
    reloaded = json.loads((reloaded_dir / "eval_results.json").read_text())
    assert reloaded["accuracy"] == results["accuracy"]
    assert reloaded["loss"] == pytest.approx(results["loss"], rel=1e-5)

    # Its head cannot evaluate another task: other labels, or single sentences.
    with pytest.raises(ValueError, match=r"fine-tuned with labels \('0', '1'\) \(--task_name=mnli: "):
        run("--task_name=mnli", f"--data_dir={tmp_path}", f"--preset={output_dir}",
            f"--output_dir={tmp_path / 'mnli'}", "--do_eval")
    with pytest.raises(ValueError, match=r"fine-tuned with text_pair True \(--task_name=sst-2: False\)"):
        run("--task_name=sst-2", f"--data_dir={shared_data_dir / 'sst2'}", f"--preset={output_dir}",
            f"--output_dir={tmp_path / 'sst2'}", "--do_eval")

    # As served: the preset's classifier takes raw sentence pairs.
    classifier = keras_albert.AlbertTextClassifier.from_preset(str(output_dir))
    logits = classifier.predict((["He said the pie business does not fit."], ["The pie business does not fit."]))
    assert logits.shape == (1, 2) and np.all(np.isfinite(logits))


def test_stsb_regression_writes_scores(tmp_path, spm_model_path, albert_config_file):
    data_dir = tmp_path / "STS-B"
    data_dir.mkdir()
    (data_dir / "train.tsv").write_text(STSB_TRAIN)
    (data_dir / "dev.tsv").write_text(STSB_TRAIN)
    (data_dir / "test.tsv").write_text(STSB_TEST)
    output_dir = tmp_path / "out"
    run(
        "--task_name=sts-b", f"--data_dir={data_dir}", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={albert_config_file}", f"--output_dir={output_dir}",
        "--do_train", "--do_eval", "--do_predict", "--train_batch_size=4", "--num_train_epochs=1",
    )
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert {"pearson", "spearman", "loss"} <= set(results) and results["num_examples"] == 4
    header, rows = read_submission(output_dir / "STS-B.tsv")
    assert [index for index, _ in rows] == ["0", "1"]
    assert all(np.isfinite(float(score)) for _, score in rows)


def test_a_malformed_line_stops_the_program_with_file_and_line(tmp_path, spm_model_path, albert_config_file):
    data_dir = tmp_path / "SST-2"
    data_dir.mkdir()
    (data_dir / "train.tsv").write_text("sentence\tlabel\ngood \t1\nbad \t0\textra\n")
    with pytest.raises(ValueError, match=r"train.tsv:3: expected 2 tab-separated fields"):
        run(
            "--task_name=sst-2", f"--data_dir={data_dir}", f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={albert_config_file}", f"--output_dir={tmp_path / 'out'}", "--do_train",
        )


def test_missing_task_or_model_flags_are_reported(tmp_path):
    with pytest.raises(ValueError, match="--task_name and --data_dir are required"):
        run("--albert_config_file=c.json", f"--output_dir={tmp_path}", "--do_eval")
    with pytest.raises(ValueError, match="^--data_dir is required"):  # Only the missing one.
        run("--task_name=sst-2", "--albert_config_file=c.json", f"--output_dir={tmp_path}", "--do_eval")
    with pytest.raises(ValueError, match="Pass --preset"):
        run("--task_name=sst-2", f"--data_dir={tmp_path}", f"--output_dir={tmp_path}", "--do_eval")


def test_a_missing_eval_file_is_reported_before_training(tmp_path, spm_model_path, albert_config_file):
    data_dir = tmp_path / "STS-B"
    data_dir.mkdir()
    (data_dir / "train.tsv").write_text(STSB_TRAIN)
    with pytest.raises(ValueError, match=r"dev.tsv does not exist \(--data_dir="):
        run(
            "--task_name=sts-b", f"--data_dir={data_dir}", f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={albert_config_file}", f"--output_dir={tmp_path / 'out'}",
            "--do_train", "--do_eval",
        )
    assert not (tmp_path / "out").exists()  # Nothing was trained.

"""`python -m tasks.run_squad` in-process on the real SQuAD parts, with a tiny model."""

import json

import pytest

import keras_albert
from keras_albert import task_spec
from tasks import common, run_squad, squad, squad_metrics

V1_FILE = "squad_v1.1_part_a/dev-v1.1-part-a.json"
V2_FILE = "squad_v2.0_part_a/dev-v2.0-part-a.json"


@pytest.fixture(scope="module")
def albert_config_file(tmp_path_factory, write_tiny_albert_config):
    return str(write_tiny_albert_config(tmp_path_factory.mktemp("config"), num_layers=2))


def run(*args):
    common.run_program(
        run_squad.main,
        ["run_squad", "--max_seq_length=64", "--doc_stride=24", "--max_query_length=16", *args],
    )


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def trained_v2(tmp_path_factory, shared_data_dir, spm_model_path, albert_config_file):
    """Trains on the v1.1 part, predicts and evaluates on the v2.0 part."""
    output_dir = tmp_path_factory.mktemp("squad")
    run(
        f"--train_file={shared_data_dir / V1_FILE}", f"--predict_file={shared_data_dir / V2_FILE}",
        "--version_2_with_negative", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={albert_config_file}", f"--output_dir={output_dir}",
        "--do_train", "--do_eval", "--do_predict", "--max_train_examples=48", "--max_eval_examples=40",
        "--train_batch_size=16", "--predict_batch_size=32", "--num_train_epochs=1", "--learning_rate=1e-3",
    )
    return output_dir


def test_trains_on_v1_and_writes_official_v2_metrics_and_prediction_files(trained_v2, shared_data_dir):
    examples = squad.read_squad_examples(shared_data_dir / V2_FILE, max_examples=40)
    ids = {example.question_id for example in examples}
    results = read_json(trained_v2 / "eval_results.json")
    for name in ("exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1", "best_f1_thresh"):
        assert name in results
    assert results["total"] == 40 and results["num_examples"] == 40
    assert results["num_windows"] > 40  # Contexts need several 64-token windows.
    predictions = read_json(trained_v2 / "predictions.json")
    null_odds = read_json(trained_v2 / "null_odds.json")
    nbest = read_json(trained_v2 / "nbest_predictions.json")
    assert set(predictions) == set(null_odds) == set(nbest) == ids
    contexts = {example.question_id: example.context for example in examples}
    for qid, text in predictions.items():
        assert text in contexts[qid]
        # "" exactly when the null odds exceed the threshold used.
        assert (text == "") == (null_odds[qid] > results["null_score_diff_threshold"])
        assert "" in [entry["text"] for entry in nbest[qid]]
        assert sum(entry["probability"] for entry in nbest[qid]) == pytest.approx(1.0)
    # The reported scores are the official scores of predictions.json.
    official = squad_metrics.evaluate_v2(squad.gold_answers(examples), predictions)
    assert results["exact"] == pytest.approx(official["exact"])
    assert results["f1"] == pytest.approx(official["f1"])
    assert (trained_v2 / "checkpoint.weights.h5").is_file()
    assert task_spec.load_task_spec(trained_v2) == task_spec.QuestionAnsweringSpec(
        sequence_length=64, doc_stride=24, max_query_length=16, version_2_with_negative=True
    )


def test_the_saved_preset_predicts_with_the_tuned_threshold(trained_v2, tmp_path, shared_data_dir):
    best = read_json(trained_v2 / "eval_results.json")
    null_odds = read_json(trained_v2 / "null_odds.json")
    # Halfway to the next null odds: re-predicting moves them by float noise
    # (~1e-7), which must not move a question across the threshold.
    above = [odds for odds in null_odds.values() if odds > best["best_f1_thresh"]]
    threshold = (best["best_f1_thresh"] + min(above)) / 2 if above else best["best_f1_thresh"]
    output_dir = tmp_path / "tuned"
    run(
        f"--preset={trained_v2}", f"--predict_file={shared_data_dir / V2_FILE}", "--version_2_with_negative",
        f"--output_dir={output_dir}", "--do_eval", "--max_eval_examples=40",
        f"--null_score_diff_threshold={threshold}",
    )
    results = read_json(output_dir / "eval_results.json")
    # Same weights, same windows: the same null odds up to float noise; the
    # threshold search's best F1 is what predicting at its threshold scores.
    assert read_json(output_dir / "null_odds.json") == pytest.approx(null_odds, abs=1e-6)
    assert results["f1"] == pytest.approx(best["best_f1"])
    model = keras_albert.AlbertQuestionAnswerer.from_preset(str(trained_v2))
    assert model.null_score_diff_threshold == 0.0  # The flag's default at training time.


def test_v1_evaluation_reports_exact_match_and_f1(tmp_path, shared_data_dir, spm_model_path, albert_config_file):
    output_dir = tmp_path / "v1"
    run(
        f"--predict_file={shared_data_dir / V1_FILE}", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={albert_config_file}", f"--output_dir={output_dir}", "--do_eval",
        "--max_eval_examples=12",
    )
    results = read_json(output_dir / "eval_results.json")
    assert {"exact_match", "f1", "num_examples"} <= set(results)
    assert results["num_examples"] == 12
    predictions = read_json(output_dir / "predictions.json")
    assert len(predictions) == 12 and all(predictions.values())  # v1.1 always answers.


def test_evaluating_a_v2_file_without_the_v2_flag_is_an_error(tmp_path, shared_data_dir, spm_model_path, albert_config_file):
    with pytest.raises(ValueError, match="without answers.*--version_2_with_negative"):
        run(
            f"--predict_file={shared_data_dir / V2_FILE}", f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={albert_config_file}", f"--output_dir={tmp_path}", "--do_eval",
            "--max_eval_examples=12",
        )


def test_training_needs_a_train_file(tmp_path, spm_model_path, albert_config_file):
    with pytest.raises(ValueError, match="--do_train needs --train_file"):
        run(f"--spm_model_file={spm_model_path}", f"--albert_config_file={albert_config_file}",
            f"--output_dir={tmp_path}", "--do_train")


def test_the_backbone_check_reads_squads_default_length_not_the_common_one(tmp_path, spm_model_path, albert_config_file):
    # run_squad packs 384-token windows without --max_seq_length; a 64-position
    # backbone must be refused before training, not meet them in fit.
    with pytest.raises(ValueError, match=r"--max_seq_length=384 \(this program's default: the flag was not given\) exceeds the model's 64 positions"):
        common.run_program(run_squad.main, [
            "run_squad", "--train_file=unused.json", f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={albert_config_file}", f"--output_dir={tmp_path}", "--do_train",
        ])


def test_a_question_without_any_allowed_span_is_written_as_strict_json(tmp_path):
    answers = {"q1": {"text": "", "best_non_null_text": "", "null_odds": float("inf"), "nbest": []}}
    run_squad.write_prediction_files(tmp_path, answers)
    null_odds = json.loads((tmp_path / "null_odds.json").read_text(), parse_constant=pytest.fail)
    assert null_odds["q1"] > 1e300  # Above every threshold: "no answer" for the official script too.


def unlabeled_questions_file(path, shared_data_dir, num_questions):
    """The v1.1 part's first paragraph with its questions' answers removed."""
    document = read_json(shared_data_dir / V1_FILE)
    paragraph = document["data"][0]["paragraphs"][0]
    paragraph["qas"] = [{"id": qa["id"], "question": qa["question"]} for qa in paragraph["qas"][:num_questions]]
    document["data"] = [{"title": "t", "paragraphs": [paragraph]}]
    path.write_text(json.dumps(document), encoding="utf-8")
    return [qa["id"] for qa in paragraph["qas"]]


def test_questions_without_answers_are_predicted(tmp_path, shared_data_dir, spm_model_path, albert_config_file):
    ids = unlabeled_questions_file(tmp_path / "questions.json", shared_data_dir, 3)
    run(
        f"--predict_file={tmp_path / 'questions.json'}", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={albert_config_file}", f"--output_dir={tmp_path / 'out'}", "--do_predict",
    )
    assert sorted(read_json(tmp_path / "out" / "predictions.json")) == sorted(ids)
    # Evaluating them needs the answers.
    with pytest.raises(ValueError, match="has no field 'answers'"):
        run(
            f"--predict_file={tmp_path / 'questions.json'}", f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={albert_config_file}", f"--output_dir={tmp_path / 'eval'}", "--do_eval",
        )


def test_a_bad_predict_file_is_reported_before_training(tmp_path, shared_data_dir, spm_model_path, albert_config_file):
    (tmp_path / "bad.json").write_text(json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="has no field 'context'"):
        run(
            f"--train_file={shared_data_dir / V1_FILE}", f"--predict_file={tmp_path / 'bad.json'}",
            f"--spm_model_file={spm_model_path}", f"--albert_config_file={albert_config_file}",
            f"--output_dir={tmp_path / 'out'}", "--do_train", "--do_predict", "--max_train_examples=8",
        )
    assert not (tmp_path / "out").exists()  # Nothing was trained.

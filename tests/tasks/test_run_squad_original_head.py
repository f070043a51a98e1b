"""`run_squad --squad_head=original` on the shared SQuAD v2.0 part, with a tiny model.

The original run_squad_v2.py head trains a few steps and predicts; its
EM/F1 and its null-threshold search are the official definitions
(`tasks.squad_metrics`) over the written prediction files.
"""

import json

import pytest

from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer
from tasks import common, run_squad, squad, squad_metrics

V2_FILE = "squad_v2.0_part_a/dev-v2.0-part-a.json"
NUM_EVAL = 40


@pytest.fixture(scope="module")
def albert_config_file(tmp_path_factory, write_tiny_albert_config):
    return str(write_tiny_albert_config(tmp_path_factory.mktemp("config"), num_layers=2))


def run(*args):
    common.run_program(
        run_squad.main,
        ["run_squad", "--max_seq_length=64", "--doc_stride=24", "--max_query_length=16",
         "--version_2_with_negative", "--max_eval_examples=40", *args],
    )


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def trained_original(tmp_path_factory, shared_data_dir, spm_model_path, albert_config_file):
    output_dir = tmp_path_factory.mktemp("squad_original")
    run(
        f"--train_file={shared_data_dir / V2_FILE}", f"--predict_file={shared_data_dir / V2_FILE}",
        "--squad_head=original", f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={albert_config_file}", f"--output_dir={output_dir}",
        "--do_train", "--do_eval", "--max_train_examples=48", "--train_batch_size=16",
        "--predict_batch_size=32", "--num_train_epochs=1", "--learning_rate=1e-3",
    )
    return output_dir


def test_original_head_trains_and_its_scores_are_the_official_ones(trained_original, shared_data_dir):
    assert read_json(trained_original / "task.json")["class_name"] == AlbertSquadV2QuestionAnswerer.__name__
    examples = squad.read_squad_examples(shared_data_dir / V2_FILE, max_examples=NUM_EVAL)
    contexts = {example.question_id: example.context for example in examples}
    results = read_json(trained_original / "eval_results.json")
    predictions = read_json(trained_original / "predictions.json")
    null_odds = read_json(trained_original / "null_odds.json")
    nbest = read_json(trained_original / "nbest_predictions.json")
    assert set(predictions) == set(null_odds) == set(nbest) == set(contexts)
    assert results["total"] == NUM_EVAL and results["num_windows"] > NUM_EVAL
    threshold = results["null_score_diff_threshold"]
    for qid, text in predictions.items():
        best = nbest[qid][0]
        assert set(best) == {"text", "probability", "start_log_prob", "end_log_prob"}
        assert best["text"] in contexts[qid]
        # The answer-class logit decides "no answer", else the beam's best span.
        assert text == ("" if null_odds[qid] > threshold else best["text"])
        assert sum(entry["probability"] for entry in nbest[qid]) == pytest.approx(1.0)
    # Every question has a beam span; the answer-class logits tell questions apart.
    assert all(entries[0]["text"] for entries in nbest.values())
    assert len(set(null_odds.values())) == NUM_EVAL
    # The official v2.0 evaluation of the best spans with their null scores.
    official = squad_metrics.evaluate_v2(
        squad.gold_answers(examples),
        {qid: entries[0]["text"] for qid, entries in nbest.items()},
        na_probs=null_odds,
        na_prob_thresh=threshold,
    )
    for name in ("exact", "f1", "HasAns_exact", "NoAns_f1", "best_exact", "best_f1", "best_f1_thresh"):
        assert results[name] == pytest.approx(official[name])
    # predictions.json is what that threshold predicts.
    thresholded = squad_metrics.evaluate_v2(squad.gold_answers(examples), predictions)
    assert (thresholded["exact"], thresholded["f1"]) == pytest.approx((official["exact"], official["f1"]))


def test_predicting_at_the_searched_threshold_scores_the_best_f1(trained_original, shared_data_dir, tmp_path):
    searched = read_json(trained_original / "eval_results.json")
    null_odds = read_json(trained_original / "null_odds.json")
    # Halfway to the next null score, so float noise of re-predicting
    # cannot move a question across the threshold.
    above = [odds for odds in null_odds.values() if odds > searched["best_f1_thresh"]]
    threshold = (searched["best_f1_thresh"] + min(above)) / 2 if above else searched["best_f1_thresh"]
    output_dir = tmp_path / "tuned"
    # No --squad_head: the preset's head is the original one.
    run(
        f"--preset={trained_original}", f"--predict_file={shared_data_dir / V2_FILE}",
        f"--output_dir={output_dir}", "--do_eval", f"--null_score_diff_threshold={threshold}",
    )
    assert read_json(output_dir / "null_odds.json") == pytest.approx(null_odds, abs=1e-5)
    assert read_json(output_dir / "eval_results.json")["f1"] == pytest.approx(searched["best_f1"])

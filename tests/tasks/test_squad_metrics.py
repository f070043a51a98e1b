"""tasks/squad_metrics.py against hand-computed cases of the official SQuAD scripts."""

import pytest

from tasks import squad_metrics
from tasks.squad_metrics import (
    evaluate_v1,
    evaluate_v2,
    exact_match_score,
    f1_score,
    find_best_thresh,
    normalize_answer,
)


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("The  Denver Broncos!", "denver broncos"),
        ("an apple, a day", "apple day"),  # Punctuation goes before articles.
        ("Theatre and anthem", "theatre and anthem"),  # Articles only as whole words.
        ("A-B  the\tC\n", "ab c"),  # "-" is removed, not a word break.
        ("“Quoted” ¿qué?", "“quoted” ¿qué"),  # Only ASCII punctuation goes.
        ("THE", ""),
        ("", ""),
    ],
)
def test_normalize_answer_lowercases_strips_punctuation_articles_and_whitespace(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_compares_normalized_strings():
    assert exact_match_score("the Denver Broncos.", "Denver  Broncos") == 1
    assert exact_match_score("Denver", "Denver Broncos") == 0


@pytest.mark.parametrize(
    "prediction, gold, f1",
    [
        ("Denver Broncos", "the Denver Broncos team", 0.8),  # p=1, r=2/3.
        ("x y y", "y y z", 2 / 3),  # Bags: two shared "y", p=r=2/3.
        ("y y y", "y z", 0.4),  # Shared min(3, 1) = 1: p=1/3, r=1/2.
        ("Carolina", "Denver Broncos", 0.0),
        ("the", "Denver", 0.0),  # The prediction normalizes to nothing.
    ],
)
def test_f1_is_the_harmonic_mean_of_bag_of_words_precision_and_recall(prediction, gold, f1):
    assert f1_score(prediction, gold) == pytest.approx(f1)


def test_f1_of_two_empty_answers_is_one_in_v2_and_zero_in_v1():
    assert f1_score("", "") == 1.0
    assert f1_score("a", "the", empty_answers_match=True) == 1.0
    assert f1_score("", "", empty_answers_match=False) == 0.0


def test_evaluate_v1_takes_the_best_gold_answer_and_scores_missing_questions_zero():
    gold = {
        "q1": ["Denver Broncos", "the Denver Broncos team"],
        "q2": ["Carolina Panthers"],
        "q3": ["Santa Clara, California"],
    }
    predictions = {"q1": "Denver Broncos team", "q2": "Carolina Panthers"}  # q3 missing.
    results = evaluate_v1(gold, predictions)
    # q1 matches the 2nd gold exactly ("denver broncos team"); against the
    # 1st alone it would score EM 0, F1 0.8.
    assert results["exact_match"] == pytest.approx(100 * 2 / 3)
    assert results["f1"] == pytest.approx(100 * (1.0 + 1.0 + 0.0) / 3)


def test_evaluate_v1_rejects_questions_without_gold_answers():
    with pytest.raises(ValueError, match="'q2'.*v2.0"):
        evaluate_v1({"q1": ["x"], "q2": []}, {"q1": "x", "q2": ""})


def test_evaluate_v2_scores_no_answer_and_breaks_down_has_and_no_answer():
    gold = {
        "h1": ["France", "in France"],
        "h2": ["10th and 11th centuries"],
        "n1": [],
        "n2": [],
        "n3": ["the"],  # Normalizes to "": counts as has-answer, only "" matches.
    }
    predictions = {"h1": "France", "h2": "11th centuries", "n1": "", "n2": "Rollo", "n3": ""}
    results = evaluate_v2(gold, predictions)
    # h2: p=2/2, r=2/4 ("and" is not an article) -> F1 2/3.
    assert results["exact"] == pytest.approx(100 * (1 + 0 + 1 + 0 + 1) / 5)
    assert results["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0 + 1) / 5)
    assert results["total"] == 5
    assert results["HasAns_total"] == 3 and results["NoAns_total"] == 2
    assert results["HasAns_exact"] == pytest.approx(100 * 2 / 3)
    assert results["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 3)
    assert results["NoAns_exact"] == pytest.approx(50.0)
    assert "best_f1" not in results  # Only with na_probs.


def test_evaluate_v2_needs_a_prediction_for_every_question():
    with pytest.raises(ValueError, match="missing from predictions.*'q2'"):
        evaluate_v2({"q1": ["x"], "q2": []}, {"q1": "x"})


def test_evaluate_v2_applies_the_no_answer_threshold_and_finds_the_best_one():
    gold = {"h1": ["France"], "h2": ["Rollo"], "n1": [], "n2": []}
    # Best non-null answers and their null odds.
    predictions = {"h1": "France", "h2": "Normandy", "n1": "Paris", "n2": "Seine"}
    na_probs = {"h1": -3.0, "n1": -1.0, "h2": 0.5, "n2": 2.0}
    results = evaluate_v2(gold, predictions, na_probs=na_probs, na_prob_thresh=0.0)
    # At threshold 0: h1 "France" (1), n1 "Paris" (0), h2 null (0), n2 null (1).
    assert results["exact"] == pytest.approx(50.0)
    assert results["NoAns_exact"] == pytest.approx(50.0)
    # Search: all-null scores 2 (n1, n2); switching h1 (+1) -> 3 at -3.0,
    # n1 (-1) -> 2, h2 (+0) -> 2, n2 (-1) -> 1. Best 3/4 at -3.0.
    assert results["best_exact"] == pytest.approx(75.0)
    assert results["best_exact_thresh"] == -3.0
    assert results["best_f1"] == pytest.approx(75.0)


@pytest.mark.parametrize("lowest_null_odds", [0.5, 1.0])
def test_find_best_thresh_keeps_everything_null_when_no_answer_helps(lowest_null_odds):
    best, thresh = find_best_thresh(
        {"n1": "x", "h1": "y"}, {"n1": 0, "h1": 0}, {"n1": lowest_null_odds, "h1": 2.0}, {"n1": False, "h1": True}
    )
    # The official 0.0: below every null odds, so everything stays null.
    assert (best, thresh) == (50.0, 0.0)


def test_find_best_thresh_returns_a_score_its_threshold_gives_when_null_odds_tie():
    gold = {"h1": ["France"], "n1": [], "h2": ["Rollo"]}
    predictions = {"h1": "France", "n1": "Paris", "h2": "Rollo"}
    # h1 and n1 tie: answering h1 alone (3/3) is no threshold's outcome.
    na_probs = {"h1": 1.0, "n1": 1.0, "h2": 2.0}
    scores = {"h1": 1.0, "n1": 0.0, "h2": 1.0}
    best, thresh = find_best_thresh(predictions, scores, na_probs, {q: bool(g) for q, g in gold.items()})
    assert (best, thresh) == (pytest.approx(200 / 3), 2.0)
    at_thresh = evaluate_v2(gold, predictions, na_probs=na_probs, na_prob_thresh=thresh)
    assert at_thresh["exact"] == pytest.approx(best)


def test_find_best_thresh_for_all_null_lies_below_negative_null_odds():
    gold = {"n1": [], "h1": ["Rollo"]}
    predictions = {"n1": "Paris", "h1": "Seine"}
    na_probs = {"n1": -2.0, "h1": -1.0}
    best, thresh = find_best_thresh(predictions, {"n1": 0, "h1": 0}, na_probs, {"n1": False, "h1": True})
    assert (best, thresh) == (50.0, -3.0)
    assert evaluate_v2(gold, predictions, na_probs=na_probs, na_prob_thresh=thresh)["exact"] == 50.0


@pytest.mark.parametrize("evaluate", [evaluate_v1, evaluate_v2])
def test_evaluating_no_questions_is_a_clear_error(evaluate):
    with pytest.raises(ValueError, match="no questions to evaluate"):
        evaluate({}, {})


def test_gold_answers_from_dataset_reads_every_question_of_a_squad_file():
    dataset = [
        {"paragraphs": [{"context": "c", "qas": [{"id": "a", "answers": [{"text": "x"}]}, {"id": "b", "answers": []}]}]}
    ]
    assert squad_metrics.gold_answers_from_dataset(dataset) == {"a": ["x"], "b": []}

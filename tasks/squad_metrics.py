"""SQuAD exact match and F1, as the official evaluation scripts define them.

Written here because the official `evaluate-v1.1.py` and `evaluate-v2.0.py`
(SQuAD explorer) are scripts, not an installable package; every rule below
follows them line for line, and `tests/tasks/test_squad_metrics.py` checks
hand-computed cases:

- An answer is normalized by lower-casing, removing ASCII punctuation
  (`string.punctuation`), removing the words a/an/the, and collapsing
  whitespace.
- Exact match: normalized strings equal. F1: over the bags of normalized
  words. A question's score is the maximum over its gold answers.
- v1.1 (`evaluate_v1`): a question without a prediction scores 0 and
  counts in the total. Results `exact_match` and `f1` (percent).
- v2.0 (`evaluate_v2`): gold answers that normalize to "" are dropped; a
  question left with none is unanswerable and only the empty prediction
  scores on it (EM and F1 both 1). With no-answer probabilities
  (`na_probs`, here the null-odds), a question whose probability exceeds
  `na_prob_thresh` is predicted unanswerable; `find_best_thresh` searches
  the threshold that maximizes EM (F1) over the dev set. Results `exact`,
  `f1`, `total`, `HasAns_*`, `NoAns_*`, and `best_exact`,
  `best_exact_thresh`, `best_f1`, `best_f1_thresh` when `na_probs` is given.
"""

import collections
import re
import string

from absl import logging

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text):
    """Lower-case, drop punctuation and articles, collapse whitespace.

    Example:
    ```python
    normalize_answer("The  Denver Broncos!")  # 'denver broncos'
    ```
    """
    text = text.lower()
    text = "".join(c for c in text if c not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction, gold):
    """1 if the normalized strings are equal, else 0."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction, gold, empty_answers_match=True):
    """Harmonic mean of word precision and recall after normalization.

    When either side normalizes to no words, the score is 0, except that
    with `empty_answers_match` (v2.0's rule for "no answer") two empty
    sides score 1; v1.1 scores them 0.
    """
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not prediction_tokens or not gold_tokens:
        return float(empty_answers_match and prediction_tokens == gold_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers_from_dataset(dataset):
    """`{question id: [gold answer texts]}` of the `data` list of a SQuAD JSON file.

    What the official scripts read: each question's `answers` texts (empty
    for unanswerable v2.0 questions).
    """
    return {
        qa["id"]: [answer["text"] for answer in qa["answers"]]
        for article in dataset
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


def evaluate_v1(gold_answers, predictions):
    """Official SQuAD v1.1 evaluation.

    Args:
        gold_answers: dict question id -> list of gold answer texts (see
            `gold_answers_from_dataset`); every question has at least one.
        predictions: dict question id -> answer text.

    Returns:
        `{"exact_match": float, "f1": float}` in percent.

    Example:
    ```python
    evaluate_v1({"q1": ["Denver Broncos"]}, {"q1": "the Denver Broncos"})
    # {'exact_match': 100.0, 'f1': 100.0}
    ```
    """
    _check_has_questions(gold_answers)
    unanswerable = [qid for qid, golds in gold_answers.items() if not golds]
    if unanswerable:
        raise ValueError(
            f"{len(unanswerable)} questions have no gold answer (e.g. id {unanswerable[0]!r}); "
            "SQuAD v1.1 evaluation needs one per question (use SQuAD v2.0 evaluation)."
        )
    exact_match = f1 = 0.0
    missing = 0
    for qid, golds in gold_answers.items():
        if qid not in predictions:
            missing += 1
            continue
        prediction = predictions[qid]
        exact_match += max(exact_match_score(prediction, gold) for gold in golds)
        f1 += max(f1_score(prediction, gold, empty_answers_match=False) for gold in golds)
    if missing:
        logging.warning("%d of %d questions have no prediction; they score 0.", missing, len(gold_answers))
    total = len(gold_answers)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def evaluate_v2(gold_answers, predictions, na_probs=None, na_prob_thresh=1.0):
    """Official SQuAD v2.0 evaluation, with the HasAns / NoAns breakdown.

    Args:
        gold_answers: dict question id -> list of gold answer texts (empty
            for an unanswerable question).
        predictions: dict question id -> answer text (`""` for no answer).
            Must cover every question (the official script fails otherwise).
        na_probs: optional dict question id -> no-answer score (probability,
            or the null odds `null_score - best_span_score`). Given, the
            best-threshold search runs too.
        na_prob_thresh: float. Questions with `na_probs` above it count as
            predicted unanswerable (only with `na_probs`).

    Returns:
        A dict of the official result names (see the module docstring).

    Example:
    ```python
    evaluate_v2({"q1": ["France"], "q2": []}, {"q1": "France", "q2": ""})
    # {'exact': 100.0, 'f1': 100.0, 'total': 2, 'HasAns_exact': 100.0, ...}
    ```
    """
    _check_has_questions(gold_answers)
    for name, scores in (("predictions", predictions), ("na_probs", na_probs or gold_answers)):
        missing = [qid for qid in gold_answers if qid not in scores]
        if missing:
            raise ValueError(
                f"{len(missing)} of {len(gold_answers)} questions are missing from {name} "
                f"(e.g. id {missing[0]!r}); SQuAD v2.0 evaluation needs every question."
            )
    exact_raw, f1_raw = {}, {}
    for qid, golds in gold_answers.items():
        golds = [gold for gold in golds if normalize_answer(gold)] or [""]
        exact_raw[qid] = max(exact_match_score(predictions[qid], gold) for gold in golds)
        f1_raw[qid] = max(f1_score(predictions[qid], gold) for gold in golds)
    qid_to_has_ans = {qid: bool(golds) for qid, golds in gold_answers.items()}
    exact, f1 = exact_raw, f1_raw
    if na_probs is not None:
        exact = _apply_no_answer_threshold(exact_raw, na_probs, qid_to_has_ans, na_prob_thresh)
        f1 = _apply_no_answer_threshold(f1_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    results = _eval_dict(exact, f1, list(gold_answers))
    for prefix, has_answer in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, value in qid_to_has_ans.items() if value == has_answer]
        if qids:
            for name, value in _eval_dict(exact, f1, qids).items():
                results[f"{prefix}_{name}"] = value
    if na_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            best, thresh = find_best_thresh(predictions, raw, na_probs, qid_to_has_ans)
            results[f"best_{name}"] = best
            results[f"best_{name}_thresh"] = thresh
    return results


def _check_has_questions(gold_answers):
    if not gold_answers:
        raise ValueError("`gold_answers` is empty: there are no questions to evaluate.")


def _apply_no_answer_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh):
    return {
        qid: float(not qid_to_has_ans[qid]) if na_probs[qid] > na_prob_thresh else score
        for qid, score in scores.items()
    }


def _eval_dict(exact, f1, qids):
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[qid] for qid in qids) / total,
        "f1": 100.0 * sum(f1[qid] for qid in qids) / total,
        "total": total,
    }


def find_best_thresh(predictions, scores, na_probs, qid_to_has_ans):
    """The no-answer threshold that maximizes the total score (official search).

    Starting from "every question unanswerable", questions are switched to
    their predicted answer in increasing `na_probs` order; the best running
    total and the `na_probs` value where it is reached are returned. For the
    search to be meaningful `predictions` holds each question's best
    non-empty answer. Questions with equal `na_probs` switch together, so
    the score returned is the one `na_prob_thresh=threshold` gives.

    Args:
        predictions: dict question id -> answer text.
        scores: dict question id -> EM or F1 of that prediction (0..1).
        na_probs: dict question id -> no-answer score.
        qid_to_has_ans: dict question id -> whether it has gold answers.

    Returns:
        `(best score in percent, threshold)`.
    """
    num_no_answer = sum(1 for has_answer in qid_to_has_ans.values() if not has_answer)
    current = best = num_no_answer
    ordered = sorted((qid for qid in na_probs if qid in scores), key=lambda k: na_probs[k])
    # "All unanswerable" needs a threshold below every `na_probs`: the
    # official 0.0 where that is one, else one below the lowest.
    lowest = na_probs[ordered[0]] if ordered else 1.0
    best_thresh = 0.0 if lowest > 0.0 else lowest - 1.0
    for position, qid in enumerate(ordered):
        if qid_to_has_ans[qid]:
            current += scores[qid]
        elif predictions[qid]:
            current -= 1
        # The official script may stop inside a run of equal `na_probs`, a
        # score no threshold gives (all of them switch at once): only the end
        # of a run is a candidate, so predicting at `best_thresh` scores `best`.
        run_continues = position + 1 < len(ordered) and na_probs[ordered[position + 1]] == na_probs[qid]
        if current > best and not run_continues:
            best = current
            best_thresh = na_probs[qid]
    return 100.0 * best / len(scores), best_thresh

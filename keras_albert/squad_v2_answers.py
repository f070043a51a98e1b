"""Answers from the beam of the original SQuAD v2.0 head.

The prediction of the original `squad_utils.accumulate_predictions_v2` and
`write_predictions_v2` over the outputs of `AlbertSquadV2QuestionAnswerer`,
on the windows of `keras_albert.question_answering` (whose character
offsets give the answer text, exactly as written in the context):

- candidates: the `start_n_top * end_n_top` (start, end) pairs of each
  window whose start and end are context tokens, the start in its
  max-context window, the end not before the start, at most
  `max_answer_length` tokens; scored `start_log_prob + end_log_prob`;
- the n-best: candidates of all windows, best first, distinct non-empty
  texts, at most `n_best_size`, with softmax probabilities over them;
- "no answer": the question's null score is its smallest answer-class
  logit over windows (`cls_logits`); with SQuAD v2.0 the prediction is ""
  when it exceeds `null_score_diff_threshold`, as the official evaluation
  applies a threshold to it (`na_prob > thresh`), so that predicting with
  the searched `best_f1_thresh` gives `best_f1`. (The original's own
  writer predicts "" already at equality.)
"""

import numpy as np

from keras_albert.question_answering import span_text

# The original's score of the placeholder answer when no span is valid.
_NO_SPAN_LOG_PROB = -1e6


def decode_beam_answer(
    context,
    windows,
    beam,
    n_best_size=20,
    max_answer_length=30,
    version_2_with_negative=True,
    null_score_diff_threshold=0.0,
):
    """The answer text of one question from the beam outputs of all its windows.

    Args:
        context: str. The context the windows were made from.
        windows: the windows of `encode_question_and_context` (at least
            `token_offsets` and `token_is_max_context`).
        beam: dict of arrays, one row per window: `start_top_log_probs`,
            `start_top_index` (`[W, start_n_top]`), `end_top_log_probs`,
            `end_top_index` (`[W, start_n_top * end_n_top]`), `cls_logits`
            (`[W]`), as `AlbertSquadV2QuestionAnswerer` predicts them.
        n_best_size: int. Answers kept.
        max_answer_length: int. Longest answer, in tokens.
        version_2_with_negative: bool. Whether "no answer" may be predicted.
        null_score_diff_threshold: float. Predict "no answer" when the null
            score exceeds it.

    Returns:
        A dict: `text` (the prediction, "" for no answer),
        `best_non_null_text` (the best span's text, "" if none is valid),
        `null_odds` (the null score: the smallest `cls_logits` over the
        windows) and `nbest`: dicts `text`, `probability`,
        `start_log_prob`, `end_log_prob`, best first.
    """
    candidates = []  # (score, order, start log-prob, end log-prob, window, start, end)
    for window_index, window in enumerate(windows):
        start_log_probs = np.asarray(beam["start_top_log_probs"][window_index], np.float64)
        start_indices = np.asarray(beam["start_top_index"][window_index])
        end_log_probs = np.asarray(beam["end_top_log_probs"][window_index], np.float64)
        end_indices = np.asarray(beam["end_top_index"][window_index])
        end_n_top = len(end_indices) // len(start_indices)
        length = len(window["token_offsets"])
        in_context = window["token_offsets"][:, 0] >= 0
        for i, start in enumerate(start_indices):
            for j in range(end_n_top):
                end = end_indices[i * end_n_top + j]
                if not (start < length and end < length and in_context[start] and in_context[end]):
                    continue
                if not window["token_is_max_context"][start]:
                    continue
                if end < start or end - start + 1 > max_answer_length:
                    continue
                start_log_prob, end_log_prob = start_log_probs[i], end_log_probs[i * end_n_top + j]
                candidates.append(
                    (start_log_prob + end_log_prob, len(candidates), start_log_prob, end_log_prob,
                     window_index, int(start), int(end))
                )
    # Best first; on equal scores earlier windows and beam entries first.
    candidates.sort(key=lambda candidate: (-candidate[0], candidate[1]))

    nbest, seen = [], set()
    for _, _, start_log_prob, end_log_prob, window_index, start, end in candidates:
        text = span_text(context, windows[window_index], start, end)
        if not text or text in seen:  # Empty: a span of bare word-start pieces.
            continue
        seen.add(text)
        nbest.append({"text": text, "start_log_prob": start_log_prob, "end_log_prob": end_log_prob})
        if len(nbest) == n_best_size:
            break
    if not nbest:
        nbest.append({"text": "", "start_log_prob": _NO_SPAN_LOG_PROB, "end_log_prob": _NO_SPAN_LOG_PROB})
    scores = np.array([entry["start_log_prob"] + entry["end_log_prob"] for entry in nbest])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    for entry, probability in zip(nbest, probabilities):
        entry["probability"] = float(probability)
        entry["start_log_prob"] = float(entry["start_log_prob"])
        entry["end_log_prob"] = float(entry["end_log_prob"])

    null_score = float(np.min(np.asarray(beam["cls_logits"], np.float64)))
    best_non_null_text = nbest[0]["text"]
    predict_null = version_2_with_negative and null_score > null_score_diff_threshold
    return {
        "text": "" if predict_null else best_non_null_text,
        "best_non_null_text": best_non_null_text,
        "null_odds": null_score,
        "nbest": nbest,
    }

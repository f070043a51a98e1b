"""The best answer span of each question from its windows' logits, as TF ops.

`keras_albert.question_answering.decode_answer` in a serving graph, for the
prediction itself (the n-best list, with its texts deduplicated, is not
needed for the best answer): in each window the `n_best_size` best allowed
starts and ends are paired, pairs that end before they start, are longer
than `max_answer_length` tokens or cover no character are dropped, and
the best `start_logit + end_logit` over all windows wins (a question with
no allowed pair among them is searched over all its starts and ends, as
Python does). Candidates are
ordered (window, start rank, end rank), as Python generates them, and the
first best one is taken, as Python's stable sort does; scores are float64
as in NumPy. "No answer" scores `start_logits[0] + end_logits[0]` in the
window where that is lowest.
"""

import tensorflow as tf


def first_best_per_question(scores, question_ids, num_questions):
    """Each question's best candidate over its windows, the first of equals as Python's stable sort keeps it.

    Args:
        scores: float64 `[num_windows, candidates per window]` in generation
            order, -inf where a candidate is not allowed.
        question_ids: int `[num_windows]`, the question of each window;
            a question's windows are consecutive and in order.
        num_questions: int scalar.

    Returns:
        `(best_scores, best_index, found)`, each `[num_questions]`:
        `best_index` is the candidate's index in the flattened `scores`
        (0 where `found` is false: no allowed candidate).
    """
    flat_scores = tf.reshape(scores, [-1])
    flat_questions = tf.repeat(question_ids, tf.shape(scores)[1])
    best_scores = tf.math.unsorted_segment_max(flat_scores, flat_questions, num_questions)
    is_best = tf.logical_and(flat_scores >= tf.gather(best_scores, flat_questions), flat_scores > -float("inf"))
    best_index = tf.math.unsorted_segment_min(
        tf.where(is_best, tf.range(tf.size(flat_scores)), tf.int32.max), flat_questions, num_questions
    )
    found = best_index < tf.int32.max
    return best_scores, tf.where(found, best_index, 0), found


def answer_outputs(
    found, answer_starts, answer_ends, best_scores, null_scores, null_odds, version_2_with_negative,
    null_score_diff_threshold,
):
    """The decoders' outputs: each question's answer, or "no answer" (SQuAD v2.0) when
    `null_odds` exceeds the threshold or no span is allowed; all `[num_questions]`."""
    has_answer = found
    if version_2_with_negative:
        has_answer = tf.logical_and(found, null_odds <= null_score_diff_threshold)
    return {
        "answer_char_starts": tf.where(has_answer, answer_starts, -1),
        "answer_char_ends": tf.where(has_answer, answer_ends, -1),
        "has_answer": has_answer,
        "answer_scores": tf.cast(
            tf.where(has_answer, best_scores, null_scores if version_2_with_negative else 0.0), tf.float32
        ),
        "null_odds": tf.cast(null_odds, tf.float32),
    }


class AnswerSpanDecoder:
    """Best answer span per question.

    Args:
        n_best_size: int. Starts and ends considered per window.
        max_answer_length: int. Longest answer, in tokens.
        version_2_with_negative: bool. Whether "no answer" may be predicted.
        null_score_diff_threshold: float. Predict "no answer" when
            `null_score - best_span_score` is larger.
    """

    def __init__(self, n_best_size=20, max_answer_length=30, version_2_with_negative=False, null_score_diff_threshold=0.0):
        if n_best_size < 1 or max_answer_length < 1:
            raise ValueError(
                "`n_best_size` and `max_answer_length` must be positive. Received: "
                f"n_best_size={n_best_size}, max_answer_length={max_answer_length}"
            )
        self.n_best_size = n_best_size
        self.max_answer_length = max_answer_length
        self.version_2_with_negative = version_2_with_negative
        self.null_score_diff_threshold = float(null_score_diff_threshold)

    def _best(self, logits, allowed, k):
        """Indices `[W, k]` of the best allowed logits, best first, and their validity."""
        masked = tf.where(allowed, logits, tf.constant(-float("inf"), logits.dtype))
        # top_k returns the lower index first among equal values, as
        # NumPy's stable argsort of the negated logits.
        values, indices = tf.math.top_k(masked, k=k, sorted=True)
        return indices, values > -float("inf")

    def _best_spans(self, k, start_logits, end_logits, token_offsets, is_max_context, question_ids, num_questions):
        """Each question's best allowed span from the `k` best starts and ends
        of its windows: `(found, char starts, char ends, scores)`, `[num_questions]`."""
        in_context = token_offsets[:, :, 0] >= 0
        starts, start_ok = self._best(start_logits, tf.logical_and(in_context, is_max_context), k)
        ends, end_ok = self._best(end_logits, in_context, k)

        start_scores = tf.gather(start_logits, starts, batch_dims=1)  # [W, k]
        end_scores = tf.gather(end_logits, ends, batch_dims=1)
        span_start_chars = tf.gather(token_offsets[:, :, 0], starts, batch_dims=1)
        span_end_chars = tf.gather(token_offsets[:, :, 1], ends, batch_dims=1)
        length = ends[:, None, :] - starts[:, :, None] + 1  # [W, k_start, k_end]
        valid = tf.logical_and(start_ok[:, :, None], end_ok[:, None, :])
        valid = tf.logical_and(valid, tf.logical_and(length >= 1, length <= self.max_answer_length))
        valid = tf.logical_and(valid, span_end_chars[:, None, :] > span_start_chars[:, :, None])
        scores = tf.where(valid, start_scores[:, :, None] + end_scores[:, None, :], -float("inf"))

        best_scores, safe_index, found = first_best_per_question(
            tf.reshape(scores, [tf.shape(scores)[0], k * k]), question_ids, num_questions
        )
        window = safe_index // (k * k)
        start_rank = safe_index % (k * k) // k
        end_rank = safe_index % k
        # An empty batch has no windows to gather from: one spare row.
        spare = tf.zeros([1, k], tf.int32)
        answer_starts = tf.gather_nd(tf.concat([span_start_chars, spare], 0), tf.stack([window, start_rank], 1))
        answer_ends = tf.gather_nd(tf.concat([span_end_chars, spare], 0), tf.stack([window, end_rank], 1))
        return found, answer_starts, answer_ends, best_scores

    def __call__(self, start_logits, end_logits, token_offsets, is_max_context, question_ids, num_questions):
        """Decodes every question.

        Args:
            start_logits, end_logits: float `[num_windows, T]`.
            token_offsets: int `[num_windows, T, 2]`, the character span of
                each context token in its context, -1 elsewhere.
            is_max_context: bool `[num_windows, T]`.
            question_ids: int `[num_windows]`, the question of each window;
                a question's windows are consecutive and in order.
            num_questions: int scalar.

        Returns:
            dict of `[num_questions]` tensors: `answer_char_starts`,
            `answer_char_ends` (int32, -1 for no answer), `has_answer`
            (bool), `answer_scores` (float32: the answer's start + end
            logit; the null score for "no answer"), `null_odds` (float32,
            `null_score - best_span_score`, +inf without a valid span).
        """
        start_logits = tf.cast(start_logits, tf.float64)
        end_logits = tf.cast(end_logits, tf.float64)
        inputs = (start_logits, end_logits, token_offsets, is_max_context, question_ids, num_questions)
        length = tf.shape(start_logits)[1]
        best = self._best_spans(tf.minimum(self.n_best_size, length), *inputs)

        def with_full_search():
            # A question with no allowed pair among its best starts and ends
            # is searched over all of them, as `decode_answer` does.
            full = self._best_spans(length, *inputs)
            return tuple(tf.where(best[0], ours, theirs) for ours, theirs in zip(best, full))

        found, answer_starts, answer_ends, best_scores = tf.cond(
            tf.reduce_all(best[0]), lambda: best, with_full_search
        )

        null_scores = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0], question_ids, num_questions)
        null_odds = tf.where(found, null_scores - best_scores, float("inf"))
        return answer_outputs(
            found, answer_starts, answer_ends, best_scores, null_scores, null_odds,
            self.version_2_with_negative, self.null_score_diff_threshold,
        )

"""The best answer span of each question from the original SQuAD v2.0 head's beam, as TF ops.

`keras_albert.squad_v2_answers.decode_beam_answer` in a serving graph, for
the prediction itself: in each window the `start_n_top * end_n_top` beam
pairs of `AlbertSquadV2QuestionAnswerer` whose start is a context token in
its max-context window, whose end is a context token not before the start,
at most `max_answer_length` tokens on, and that cover some character, are
scored `start_log_prob + end_log_prob` (float64, as in NumPy); the first
best over the question's windows, in (window, start rank, end rank) order
as Python's stable sort, wins. The null score is the smallest `cls_logits`
over the question's windows; with SQuAD v2.0 the question has no answer
when it exceeds `null_score_diff_threshold`.
"""

import tensorflow as tf

from keras_albert.graph_answer_spans import answer_outputs, first_best_per_question


class BeamAnswerSpanDecoder:
    """Best answer span per question from the original head's beam.

    Args:
        max_answer_length: int. Longest answer, in tokens.
        version_2_with_negative: bool. Whether "no answer" may be predicted.
        null_score_diff_threshold: float. Predict "no answer" when the null
            score is larger.
    """

    def __init__(self, max_answer_length=30, version_2_with_negative=True, null_score_diff_threshold=0.0):
        if max_answer_length < 1:
            raise ValueError(f"`max_answer_length` must be positive. Received: max_answer_length={max_answer_length}")
        self.max_answer_length = max_answer_length
        self.version_2_with_negative = version_2_with_negative
        self.null_score_diff_threshold = float(null_score_diff_threshold)

    def __call__(self, beam, token_offsets, is_max_context, question_ids, num_questions):
        """Decodes every question.

        Args:
            beam: the model's outputs: `start_top_log_probs`,
                `start_top_index` `[num_windows, start_n_top]`,
                `end_top_log_probs`, `end_top_index`
                `[num_windows, start_n_top * end_n_top]`, `cls_logits`
                `[num_windows]`.
            token_offsets, is_max_context, question_ids, num_questions: as
                `keras_albert.graph_answer_spans.AnswerSpanDecoder`'s.

        Returns:
            dict of `[num_questions]` tensors: `answer_char_starts`,
            `answer_char_ends` (int32, -1 for no answer), `has_answer`
            (bool), `answer_scores` (float32: the answer's start + end
            log-probability; the null score for "no answer"), `null_odds`
            (float32, the null score).
        """
        start_index = tf.cast(beam["start_top_index"], tf.int32)  # [W, K]
        start_n_top = tf.shape(start_index)[1]
        end_index = tf.cast(beam["end_top_index"], tf.int32)  # [W, K * E], start-major
        start_of_pair = tf.repeat(start_index, tf.shape(end_index)[1] // start_n_top, axis=1)
        start_scores = tf.repeat(
            tf.cast(beam["start_top_log_probs"], tf.float64), tf.shape(end_index)[1] // start_n_top, axis=1
        )
        scores = start_scores + tf.cast(beam["end_top_log_probs"], tf.float64)

        def at(values, index):
            return tf.gather(values, index, batch_dims=1)

        span_start_chars = at(token_offsets[:, :, 0], start_of_pair)
        span_end_chars = at(token_offsets[:, :, 1], end_index)
        length = end_index - start_of_pair + 1
        valid = tf.logical_and(span_start_chars >= 0, at(token_offsets[:, :, 0], end_index) >= 0)
        valid = tf.logical_and(valid, at(is_max_context, start_of_pair))
        valid = tf.logical_and(valid, tf.logical_and(length >= 1, length <= self.max_answer_length))
        valid = tf.logical_and(valid, span_end_chars > span_start_chars)
        scores = tf.where(valid, scores, -float("inf"))

        best_scores, safe_index, found = first_best_per_question(scores, question_ids, num_questions)
        # An empty batch has no windows to gather from: one spare entry.
        answer_starts = tf.gather(tf.concat([tf.reshape(span_start_chars, [-1]), [0]], 0), safe_index)
        answer_ends = tf.gather(tf.concat([tf.reshape(span_end_chars, [-1]), [0]], 0), safe_index)

        null_scores = tf.math.unsorted_segment_min(
            tf.cast(beam["cls_logits"], tf.float64), question_ids, num_questions
        )
        # The original head's null odds are the null score itself.
        return answer_outputs(
            found, answer_starts, answer_ends, best_scores, null_scores, null_scores,
            self.version_2_with_negative, self.null_score_diff_threshold,
        )

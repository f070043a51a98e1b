"""Sliding windows over token sequences as TensorFlow ops, for serving graphs.

The windows of the task programs, in-graph: `token_labels.windows_for_words`
(NER) and `question_answering`'s `_window_starts` / `_is_max_context` (QA)
both start a window every `stride` tokens until one reaches the end, and
predict each token from the window where `min(left context, right context)
+ 0.01 * window length` is largest, the first such window on ties. The
score is computed in float64 like NumPy and Python do, so ties break the
same way.
"""

import tensorflow as tf


class SlidingWindows:
    """The windows of a batch of sequences, flattened into one batch of windows.

    Args:
        lengths: int `[batch]`, tokens per sequence.
        capacity: int, or int `[batch]`: most tokens per window (QA: what
            the question leaves).
        stride: int, or int `[batch]`, in `[1, capacity]`: tokens between
            window starts.
        window_for_empty: bool. Whether an empty sequence gets one (empty)
            window (QA: every question is answered) or none (NER: a
            sentence without words).
        max_capacity: int, the largest capacity (the width of `gather`'s
            result); default `capacity`, which must then be an int.

    Attributes:
        sequence_ids: int32 `[num_windows]`, the sequence of each window,
            in order (a sequence's windows are consecutive).
        starts, lengths: int32 `[num_windows]`, first token and number of
            tokens of each window.
    """

    def __init__(self, lengths, capacity, stride, window_for_empty, max_capacity=None):
        if isinstance(capacity, int) and isinstance(stride, int) and not 1 <= stride <= capacity:
            raise ValueError(f"`stride` must be in [1, capacity={capacity}]. Received: stride={stride}")
        if max_capacity is None:
            if not isinstance(capacity, int):
                raise ValueError("`max_capacity` is required when `capacity` varies per sequence.")
            max_capacity = capacity
        self.capacity = max_capacity
        self.sequence_lengths = tf.cast(lengths, tf.int32)
        capacity = tf.broadcast_to(tf.cast(capacity, tf.int32), tf.shape(self.sequence_lengths))
        stride = tf.broadcast_to(tf.cast(stride, tf.int32), tf.shape(self.sequence_lengths))
        extra = tf.maximum(self.sequence_lengths - capacity, 0)
        num_windows = 1 + (extra + stride - 1) // stride
        if not window_for_empty:
            num_windows = tf.where(self.sequence_lengths > 0, num_windows, 0)
        self.num_windows = num_windows
        self.sequence_ids = tf.repeat(tf.range(tf.shape(num_windows)[0]), num_windows)
        first_window = tf.cumsum(num_windows, exclusive=True)
        index_in_sequence = tf.range(tf.reduce_sum(num_windows)) - tf.gather(first_window, self.sequence_ids)
        self.starts = index_in_sequence * tf.gather(stride, self.sequence_ids)
        sequence_length = tf.gather(self.sequence_lengths, self.sequence_ids)
        window_capacity = tf.gather(capacity, self.sequence_ids)
        self.lengths = tf.minimum(self.starts + window_capacity, sequence_length) - self.starts

    def gather(self, sequences, pad_value=0):
        """Window contents `[num_windows, capacity]` of dense `[batch, max_length]` sequences."""
        positions = self.starts[:, None] + tf.range(self.capacity)[None, :]
        inside = tf.range(self.capacity)[None, :] < self.lengths[:, None]
        width = tf.shape(sequences)[1]
        safe = tf.minimum(positions, tf.maximum(width - 1, 0))
        rows = tf.broadcast_to(self.sequence_ids[:, None], tf.shape(positions))
        # A spare column keeps the gather valid for sequences of width 0.
        padded = tf.pad(sequences, [[0, 0], [0, 1]], constant_values=pad_value)
        values = tf.gather_nd(padded, tf.stack([rows, safe], axis=-1))
        return tf.where(inside, values, tf.cast(pad_value, values.dtype))

    def is_max_context(self):
        """bool `[num_windows, capacity]`: the window predicts this token."""
        num_windows = tf.shape(self.starts)[0]
        positions = self.starts[:, None] + tf.range(self.capacity)[None, :]  # [W, C]
        # Windows that can share a token with window w: w + d for |d| < the
        # most windows of one sequence ([W, D], D = 2 * that - 1).
        reach = tf.maximum(tf.reduce_max(tf.concat([self.num_windows, [1]], 0)), 1)
        others = tf.range(num_windows)[:, None] + tf.range(-reach + 1, reach)[None, :]
        valid = tf.logical_and(others >= 0, others < num_windows)
        others = tf.clip_by_value(others, 0, tf.maximum(num_windows - 1, 0))
        same_sequence = tf.logical_and(
            valid, tf.equal(tf.gather(self.sequence_ids, others), self.sequence_ids[:, None])
        )
        other_starts = tf.gather(self.starts, others)[:, None, :]  # [W, 1, D]
        other_ends = other_starts + tf.gather(self.lengths, others)[:, None, :]
        token = positions[:, :, None]  # [W, C, 1]
        holds = tf.logical_and(tf.logical_and(other_starts <= token, token < other_ends), same_sequence[:, None, :])
        left, right = token - other_starts, other_ends - 1 - token
        scores = tf.cast(tf.minimum(left, right), tf.float64) + 0.01 * tf.cast(other_ends - other_starts, tf.float64)
        scores = tf.where(holds, scores, tf.constant(-1.0, tf.float64))
        best = tf.reduce_max(scores, axis=-1, keepdims=True)
        # The first window with the best score (explicitly: argmax does not
        # promise which of equal values it returns).
        first_best = tf.reduce_min(
            tf.where(tf.logical_and(holds, scores >= best), tf.broadcast_to(others[:, None, :], tf.shape(holds)), tf.int32.max),
            axis=-1,
        )
        inside = tf.range(self.capacity)[None, :] < self.lengths[:, None]
        return tf.logical_and(inside, tf.equal(first_best, tf.range(num_windows)[:, None]))

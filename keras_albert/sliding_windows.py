"""Sliding windows with BERT's max-context rule, in Python and as TensorFlow ops.

The one window rule of the project, used by question answering
(`question_answering`: SQuAD windows) and token classification
(`token_labels`: NER windows), in training and in the serving graphs of
`export/`:

- Windows of at most `capacity` tokens start at token 0 and then every
  `stride` tokens, until one reaches the last token (the original
  `run_squad.py`'s `doc_spans`).
- Each token is predicted from the window where `min(left context, right
  context) + 0.01 * window length` is largest, the first such window on
  ties (the original's `_check_is_max_context`).

`window_spans` and `max_context_windows` are the Python reference;
`SlidingWindowsTF` computes the same in-graph. Its score is computed in
float64 like NumPy, so ties break the same way. The graph class imports
TensorFlow when used; the Python functions need none.
"""

import numpy as np


def window_spans(num_tokens, capacity, stride, window_for_empty=True, stride_name="stride"):
    """`(start, end)` token spans of the windows over a sequence.

    Args:
        num_tokens: int, tokens in the sequence.
        capacity: int >= 1, most tokens per window.
        stride: int in `[1, capacity]`, tokens between window starts.
        window_for_empty: bool. Whether an empty sequence gets one (empty)
            window (QA: every question is answered) or none (NER: a
            sentence without words).
        stride_name: str, the caller's name for `stride`, for errors.

    Returns:
        list of `(start, end)`, `end` exclusive.

    Example:
    ```python
    window_spans(10, capacity=4, stride=3)  # [(0, 4), (3, 7), (6, 10)]
    ```
    """
    if capacity < 1:
        raise ValueError(f"A window needs room for a token. Received: capacity={capacity}")
    if not 1 <= stride <= capacity:
        raise ValueError(
            f"`{stride_name}` must be in [1, {capacity}] (the tokens a window holds) so that "
            f"windows cover every token. Received: {stride_name}={stride}"
        )
    if num_tokens == 0 and not window_for_empty:
        return []
    starts = [0]
    while starts[-1] + capacity < num_tokens:
        starts.append(starts[-1] + stride)
    return [(start, min(start + capacity, num_tokens)) for start in starts]


def max_context_windows(spans, num_tokens):
    """For each token, the index of the window that predicts it.

    Args:
        spans: list of `(start, end)` from `window_spans`.
        num_tokens: int.

    Returns:
        int array `[num_tokens]`.
    """
    if num_tokens == 0:
        return np.zeros([0], np.int64)
    starts = np.asarray([start for start, _ in spans])[:, None]
    ends = np.asarray([end for _, end in spans])[:, None] - 1
    index = np.arange(num_tokens)[None, :]
    scores = np.minimum(index - starts, ends - index) + 0.01 * (ends - starts + 1)
    scores = np.where((index >= starts) & (index <= ends), scores, -np.inf)
    return np.argmax(scores, axis=0)  # The first maximum: the earlier window.


class SlidingWindowsTF:
    """`window_spans` and `max_context_windows` for a batch, as TensorFlow ops.

    The windows of all sequences are flattened into one batch of windows.

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
        import tensorflow as tf

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
        import tensorflow as tf

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
        import tensorflow as tf

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

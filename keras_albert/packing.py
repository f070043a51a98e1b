"""`[CLS] a [SEP] b [SEP]` packing, in Python and as TensorFlow ops.

The one packer of the project: `AlbertPreprocessor` (classification,
multiple choice, embeddings), the question-answering and NER windows
(`question_answering`, `token_labels`), pretraining examples, and the
serving and TFLite graphs of `export/` all pack through it.

The rule:

- Segments are truncated together to `sequence_length - 1 - num_segments`
  tokens (`[CLS]` and one `[SEP]` per segment) by round robin: one token at a
  time to each segment that still has tokens, in order. For two segments
  that is the original `_truncate_seq_pair` (shorten the longer one, `b`
  on ties) and HuggingFace's "longest_first"; for any number it equals
  `tf_text.RoundRobinTrimmer` and keras-hub's `MultiSegmentPacker`.
- `[CLS]`, then each kept segment followed by `[SEP]`, then `<pad>` up to
  `sequence_length`.
- Segment ids are the segment index (0 for `[CLS]`, `a` and its `[SEP]`;
  1 for `b` and its `[SEP]`, ...); the padding mask is 1 on every packed
  token.

`pack_segments` is the Python reference (lists in, NumPy out);
`pack_segments_tf` computes the same in-graph with builtin ops only
(arithmetic on positions, no ragged concatenation), so it also converts to
TFLite. Both also return where each segment starts, so that callers place
per-token values (character offsets, max-context flags) beside the ids
with `place_segment` / `place_segment_tf`. The graph functions import
TensorFlow when called; the Python ones need none.
"""

import numpy as np


def _check_budget(sequence_length, num_segments):
    if num_segments < 1:
        raise ValueError("Packing needs at least one segment. Received none.")
    budget = sequence_length - 1 - num_segments
    if budget < 0:
        raise ValueError(
            f"`sequence_length={sequence_length}` has no room for [CLS] and one [SEP] per "
            f"segment ({num_segments} segments need {num_segments + 1} positions)."
        )
    return budget


def truncated_lengths(lengths, budget):
    """How many tokens of each segment round-robin truncation keeps.

    Args:
        lengths: sequence of int, tokens per segment.
        budget: int, tokens that fit in all.

    Returns:
        list of int, the kept length of each segment.

    Example:
    ```python
    truncated_lengths([10, 2, 10], budget=9)  # [4, 2, 3]
    ```
    """
    kept = [0] * len(lengths)
    remaining = budget
    while remaining > 0 and any(k < n for k, n in zip(kept, lengths)):
        for index, length in enumerate(lengths):
            if remaining > 0 and kept[index] < length:
                kept[index] += 1
                remaining -= 1
    return kept


def pack_segments(segments, cls_token_id, sep_token_id, sequence_length=None, pad_token_id=0):
    """Packs segments of token ids as `[CLS] a [SEP] b [SEP] ...`.

    Args:
        segments: list of sequences of int, one per segment.
        cls_token_id, sep_token_id, pad_token_id: int.
        sequence_length: int, or None to keep every token and not pad.

    Returns:
        `(features, segment_starts)`: a dict of int32 arrays `[length]`
        (`token_ids`, `segment_ids`, `padding_mask`), `length` being
        `sequence_length` or the packed length; and the position of each
        segment's first token (list of int).

    Example:
    ```python
    features, starts = pack_segments([[7, 8], [9]], cls_token_id=2, sep_token_id=3, sequence_length=8)
    features["token_ids"]  # [2, 7, 8, 3, 9, 3, 0, 0]; starts == [1, 4]
    ```
    """
    lengths = [len(segment) for segment in segments]
    if sequence_length is None:
        _check_budget(sum(lengths) + 1 + len(segments), len(segments))
        kept = lengths
    else:
        kept = truncated_lengths(lengths, _check_budget(sequence_length, len(segments)))
    token_ids, segment_ids, segment_starts = [cls_token_id], [0], []
    for index, (segment, length) in enumerate(zip(segments, kept)):
        segment_starts.append(len(token_ids))
        token_ids.extend(int(token) for token in segment[:length])
        token_ids.append(sep_token_id)
        segment_ids.extend([index] * (length + 1))
    packed_length = len(token_ids)
    total = packed_length if sequence_length is None else sequence_length
    padding = total - packed_length
    features = {
        "token_ids": np.asarray(token_ids + [pad_token_id] * padding, np.int32),
        "segment_ids": np.asarray(segment_ids + [0] * padding, np.int32),
        "padding_mask": np.asarray([1] * packed_length + [0] * padding, np.int32),
    }
    return features, segment_starts


def place_segment(values, segment_start, length, fill_value):
    """Per-token `values` of a segment at its packed positions.

    Args:
        values: array `[n, ...]`, one entry per token of the segment (only
            the first kept ones are placed).
        segment_start: int, from `pack_segments`.
        length: int, the packed length.
        fill_value: the value at every other position.

    Returns:
        array `[length, ...]`.
    """
    values = np.asarray(values)
    placed = np.full((length,) + values.shape[1:], fill_value, values.dtype)
    count = min(len(values), length - segment_start)
    placed[segment_start : segment_start + count] = values[:count]
    return placed


def truncated_lengths_tf(lengths, budget):
    """`truncated_lengths` for a batch, as TensorFlow ops.

    Round robin in closed form: after `r` full rounds segment `i` holds
    `min(length_i, r)` tokens; the last full round `r` is the largest whose
    total fits, and the tokens left over go one each to the first
    segments longer than `r`.

    Args:
        lengths: list of int `[batch]` tensors, one per segment.
        budget: int or int scalar tensor.

    Returns:
        list of int32 `[batch]` tensors.
    """
    import tensorflow as tf

    num_segments = len(lengths)
    lengths = tf.stack([tf.cast(length, tf.int32) for length in lengths], axis=1)  # [B, N]
    budget = tf.cast(budget, tf.int32)
    # Past the longest segment every round totals the same: no need to look further.
    rounds = tf.range(tf.maximum(tf.minimum(budget, tf.reduce_max(lengths)), 0) + 1)  # [R]
    totals = tf.reduce_sum(tf.minimum(lengths[:, None, :], rounds[None, :, None]), axis=2)  # [B, R]
    # `totals` grows with the round and is 0 at round 0.
    full_rounds = tf.reduce_sum(tf.cast(totals <= budget, tf.int32), axis=1) - 1
    left_over = budget - tf.gather(totals, full_rounds, batch_dims=1)
    longer = lengths > full_rounds[:, None]
    earlier_longer = tf.cumsum(tf.cast(longer, tf.int32), axis=1, exclusive=True)
    extra = tf.logical_and(longer, earlier_longer < left_over[:, None])
    kept = tf.minimum(lengths, full_rounds[:, None]) + tf.cast(extra, tf.int32)
    return tf.unstack(kept, num=num_segments, axis=1)


def place_segment_tf(values, segment_starts, lengths, sequence_length, fill_value):
    """`place_segment` for a batch: `values[b, j]` at `segment_starts[b] + j`, `j < lengths[b]`.

    Args:
        values: dense `[batch, width]` tensor.
        segment_starts, lengths: int `[batch]`.
        sequence_length: int or int scalar tensor.
        fill_value: scalar, everywhere else.

    Returns:
        `[batch, sequence_length]`, of `values`' dtype.
    """
    import tensorflow as tf

    positions = tf.range(sequence_length)[None, :]
    offsets = positions - tf.cast(segment_starts, tf.int32)[:, None]
    inside = tf.logical_and(offsets >= 0, offsets < tf.cast(lengths, tf.int32)[:, None])
    # A spare column keeps the gather valid for values of width 0.
    fill = tf.cast(fill_value, values.dtype)
    padded = tf.concat([values, tf.fill([tf.shape(values)[0], 1], fill)], axis=1)
    index = tf.clip_by_value(offsets, 0, tf.shape(padded)[1] - 1)
    return tf.where(inside, tf.gather(padded, index, batch_dims=1), fill)


def pack_segments_tf(segments, cls_token_id, sep_token_id, sequence_length, pad_token_id=0):
    """`pack_segments` for a batch, as TensorFlow ops (builtin ops only).

    Args:
        segments: list of `(ids, lengths)` pairs, one per segment: ids a
            dense int `[batch, width]` tensor (any width; entries past the
            length are ignored), lengths int `[batch]`.
        cls_token_id, sep_token_id, pad_token_id: int.
        sequence_length: int or int scalar tensor, the packed length.

    Returns:
        `(features, segment_starts)`: int32 `[batch, sequence_length]`
        `token_ids`, `segment_ids`, `padding_mask`, and a list of int32
        `[batch]` positions of each segment's first token.
    """
    import tensorflow as tf

    if isinstance(sequence_length, int):
        budget = _check_budget(sequence_length, len(segments))
    else:
        budget = sequence_length - 1 - len(segments)
    kept = truncated_lengths_tf([length for _, length in segments], budget)
    positions = tf.range(sequence_length)[None, :]
    batch_size = tf.shape(kept[0])[0]
    token_ids = tf.where(positions == 0, cls_token_id, pad_token_id)
    token_ids = tf.tile(token_ids, [batch_size, 1])
    segment_ids = tf.zeros_like(token_ids)
    start = tf.ones([batch_size], tf.int32)
    segment_starts = []
    for index, ((ids, _), length) in enumerate(zip(segments, kept)):
        segment_starts.append(start)
        placed = place_segment_tf(tf.cast(ids, tf.int32), start, length, sequence_length, pad_token_id)
        offsets = positions - start[:, None]
        inside = tf.logical_and(offsets >= 0, offsets < length[:, None])
        token_ids = tf.where(inside, placed, token_ids)
        token_ids = tf.where(offsets == length[:, None], sep_token_id, token_ids)
        segment_ids = tf.where(tf.logical_and(offsets >= 0, offsets <= length[:, None]), index, segment_ids)
        start = start + length + 1
    features = {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": tf.cast(positions < start[:, None], tf.int32),
    }
    return features, segment_starts

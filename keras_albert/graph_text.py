"""String handling inside serving graphs: UTF-8 repair, words, character offsets.

Offsets returned to callers are *character* offsets (Python `str` indices,
code points), like SQuAD's `answer_start`; TensorFlow's string ops work in
bytes, so every byte offset is converted here.
"""

import tensorflow as tf
import tensorflow_text as tf_text

from keras_albert.text_normalization import whitespace_run_pattern

REPLACEMENT_CHARACTER = 0xFFFD


def repair_utf8(texts):
    """Replaces invalid UTF-8 with U+FFFD, as `bytes.decode(errors="replace")`.

    Serving graphs run this first, so that a malformed request gets answers
    about its readable part instead of a failed batch.
    """
    return tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=REPLACEMENT_CHARACTER
    )


def byte_to_char_offsets(texts, byte_offsets):
    """Character offsets of byte offsets into valid UTF-8 strings.

    Args:
        texts: string `[batch]`.
        byte_offsets: int `[batch, n]` (dense), each in `[0, len(text)]`.

    Returns:
        int32 `[batch, n]`: the number of characters before each offset.
    """
    _, char_starts = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")
    # Past-the-end padding sorts after every real offset.
    char_starts = char_starts.to_tensor(default_value=tf.int64.max)
    # searchsorted misreads empty inputs: give both a spare last column.
    spare = tf.fill([tf.shape(texts)[0], 1], tf.int64.max)
    char_starts = tf.concat([char_starts, spare], axis=1)
    byte_offsets = tf.concat([tf.cast(byte_offsets, tf.int64), spare], axis=1)
    char_offsets = tf.searchsorted(char_starts, byte_offsets, side="left")[:, :-1]
    return tf.cast(char_offsets, tf.int32)


def split_words(texts):
    """Whitespace-separated words with their byte and character spans.

    `question_answering.split_words` in-graph: whitespace is `str.isspace()`
    (wider than RE2's `\\s`: \\x1c-\\x1f, \\x85, NBSP, U+2028, ...).

    Args:
        texts: string `[batch]` of valid UTF-8.

    Returns:
        dict of ragged `[batch, (num_words)]` tensors: `words` (string),
        `byte_starts`, `byte_ends`, `char_starts`, `char_ends` (int32,
        `[start, end)` spans).
    """
    words, byte_starts, byte_ends = tf_text.regex_split_with_offsets(texts, whitespace_run_pattern())
    byte_starts = tf.cast(byte_starts, tf.int32)
    byte_ends = tf.cast(byte_ends, tf.int32)
    char_starts = byte_to_char_offsets(texts, byte_starts.to_tensor())
    char_ends = byte_to_char_offsets(texts, byte_ends.to_tensor())
    row_lengths = words.row_lengths()
    return {
        "words": words,
        "byte_starts": byte_starts,
        "byte_ends": byte_ends,
        "char_starts": tf.RaggedTensor.from_tensor(char_starts, lengths=row_lengths),
        "char_ends": tf.RaggedTensor.from_tensor(char_ends, lengths=row_lengths),
    }

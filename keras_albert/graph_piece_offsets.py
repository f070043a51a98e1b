"""Character spans of each word's SentencePiece tokens, as TensorFlow ops.

`keras_albert.question_answering.tokenize_with_offsets` gives every token
of a context the span of the original characters it came from, by lining
up the token strings with the normalized word. A graph only has token ids,
and `<unk>` ids do not say what they cover, so this module recovers the
same spans from what SentencePiece guarantees:

- a known piece's surface is its vocabulary string without the leading
  "▁" (a table indexed by id);
- an `<unk>` piece is a maximal run of characters that occur in no piece
  (SentencePiece merges consecutive unknown characters into one `<unk>`),
  so the k-th `<unk>` of a word is the k-th such run of its normalized
  text.

The spans then follow `_piece_spans` exactly: positions in the normalized
word map back through each original character's normalized length
(Python's `unicodedata`, precomputed for every code point whose length is
not 1), and a word whose pieces do not line up with its normalized text
gets the whole-word span for every piece. The one case that cannot be
recovered is a digit-comma re-split piece that is not in the vocabulary
(its id is `<unk>` but its text is known characters); such a word also
gets whole-word spans here, where Python gives per-piece spans.
"""

import functools

import tensorflow as tf

from keras_albert.text_normalization import normalize_characters, normalize_text_tf

SPIECE_UNDERLINE = "\u2581"


@functools.cache
def _odd_normalized_lengths(lower_case, keep_accents):
    """`(code point, normalized length)` for every code point whose length is not 1."""
    return [
        (code_point, length)
        for code_point in range(0x110000)
        if not 0xD800 <= code_point <= 0xDFFF
        and (length := len(normalize_characters(chr(code_point), lower_case, keep_accents))) != 1
    ]


def _utf8_length(code_points):
    """Bytes of each code point in UTF-8."""
    return 1 + tf.cast(code_points >= 0x80, tf.int32) + tf.cast(code_points >= 0x800, tf.int32) + tf.cast(
        code_points >= 0x10000, tf.int32
    )


def _ragged_exclusive_cumsum(ragged):
    """Exclusive cumulative sum within each row of a 2-D ragged tensor."""
    values = ragged.flat_values
    inclusive = tf.cumsum(values)
    row_starts = tf.gather(tf.concat([[0], inclusive], 0), ragged.row_starts())
    return ragged.with_flat_values(inclusive - values - tf.repeat(row_starts, ragged.row_lengths()))


def _gather_in_rows(dense, ragged_index):
    """`dense[row, index]` for a ragged `[rows, (n)]` index, clipped into the row."""
    index = tf.clip_by_value(ragged_index.to_tensor(), 0, tf.shape(dense)[1] - 1)
    values = tf.gather(dense, index, batch_dims=1)
    return tf.RaggedTensor.from_tensor(values, lengths=ragged_index.row_lengths())


def _searchsorted_in_rows(dense_sorted, ragged_values):
    """Per row, how many of `dense_sorted` are below each value (ragged like it)."""
    values = ragged_values.to_tensor(default_value=tf.int32.max)
    # searchsorted misreads empty inputs: a spare column on both.
    spare = tf.fill([tf.shape(values)[0], 1], tf.int32.max)
    found = tf.searchsorted(dense_sorted, tf.concat([values, spare], 1), side="left")[:, :-1]
    return tf.RaggedTensor.from_tensor(tf.cast(found, tf.int32), lengths=ragged_values.row_lengths())


def _to_dense(ragged, default):
    """Dense `[rows, max_len + 1]`: one spare column so gathers never fail."""
    dense = ragged.to_tensor(default_value=default)
    return tf.pad(dense, [[0, 0], [0, 1]], constant_values=default)


class WordPieceOffsets:
    """Character spans of the pieces of words, as `tokenize_with_offsets`.

    Args:
        tokenizer: the `keras_albert.AlbertTokenizer` the ids came from.

    Example:
    ```python
    offsets = WordPieceOffsets(tokenizer)
    words = tf.constant(["Crème", "brûlée"])
    starts, ends = offsets(words, tokenizer(words))  # ragged [2, (pieces)]
    ```
    """

    def __init__(self, tokenizer):
        import sentencepiece

        sp_model = sentencepiece.SentencePieceProcessor(model_proto=tokenizer.proto)
        self.lower_case = tokenizer.lower_case
        self.keep_accents = tokenizer.keep_accents
        self.unk_token_id = tokenizer.unk_token_id
        pieces = [sp_model.id_to_piece(i) for i in range(sp_model.get_piece_size())]
        surfaces = [piece.lstrip(SPIECE_UNDERLINE) for piece in pieces]
        self.surfaces = tf.constant(surfaces)
        self.surface_bytes = tf.constant([len(s.encode("utf-8")) for s in surfaces], tf.int32)
        emitted = [
            i for i in range(len(pieces))
            if not (sp_model.is_control(i) or sp_model.is_unknown(i) or sp_model.is_unused(i))
        ]
        known = sorted({ord(c) for i in emitted for c in surfaces[i]})
        self.known_code_points = tf.constant(known + [0x110000], tf.int32)
        odd = _odd_normalized_lengths(self.lower_case, self.keep_accents)
        self.odd_length_code_points = tf.constant([c for c, _ in odd] + [0x110000], tf.int32)
        self.odd_lengths = tf.constant([n for _, n in odd] + [1], tf.int32)

    def _is_known(self, code_points):
        index = tf.searchsorted(self.known_code_points, code_points)
        return tf.equal(tf.gather(self.known_code_points, index), code_points)

    def _normalized_lengths(self, code_points):
        index = tf.searchsorted(self.odd_length_code_points, code_points)
        is_odd = tf.equal(tf.gather(self.odd_length_code_points, index), code_points)
        return tf.where(is_odd, tf.gather(self.odd_lengths, index), 1)

    def __call__(self, words, piece_ids):
        """Spans of the pieces of each word.

        Args:
            words: string `[num_words]`, valid UTF-8 without whitespace.
            piece_ids: int ragged `[num_words, (num_pieces)]`, the
                tokenizer's ids of each word on its own.

        Returns:
            `(starts, ends)`: int32 ragged `[num_words, (num_pieces)]`,
            character positions `[start, end)` in each word.
        """
        piece_ids = tf.cast(piece_ids, tf.int32)
        normalized = normalize_text_tf(words, self.lower_case, self.keep_accents)
        code_points, byte_starts = tf.strings.unicode_decode_with_offsets(normalized, "UTF-8")
        byte_starts = tf.cast(byte_starts, tf.int32)
        normalized_bytes = tf.strings.length(normalized)
        char_bytes = code_points.with_flat_values(_utf8_length(code_points.flat_values))

        # Runs of unknown characters, numbered within each word.
        unknown = tf.logical_not(self._is_known(code_points.flat_values))
        unknown = code_points.with_flat_values(unknown)
        previous_unknown = tf.concat([tf.zeros_like(unknown[:, :1]), unknown[:, :-1]], axis=1)
        run_starts = tf.logical_and(unknown, tf.logical_not(previous_unknown))
        run_index = _ragged_exclusive_cumsum(tf.cast(run_starts, tf.int32)) + tf.cast(run_starts, tf.int32) - 1
        runs_per_word = tf.reduce_sum(tf.cast(run_starts, tf.int32), axis=1)
        run_bytes = tf.math.unsorted_segment_sum(
            tf.where(unknown.flat_values, char_bytes.flat_values, 0),
            tf.where(unknown.flat_values, run_index.flat_values + tf.repeat(tf.cumsum(runs_per_word, exclusive=True), unknown.row_lengths()), 0),
            tf.maximum(tf.reduce_sum(runs_per_word), 1),
        )
        run_byte_starts = tf.ragged.boolean_mask(byte_starts, run_starts)

        # Byte length and position of every piece in its normalized word.
        is_unk = tf.equal(piece_ids, self.unk_token_id)
        unk_index = _ragged_exclusive_cumsum(tf.cast(is_unk, tf.int32))
        unks_per_word = tf.reduce_sum(tf.cast(is_unk, tf.int32), axis=1)
        first_run = tf.repeat(tf.cumsum(runs_per_word, exclusive=True), piece_ids.row_lengths())
        global_run = tf.minimum(first_run + unk_index.flat_values, tf.maximum(tf.reduce_sum(runs_per_word) - 1, 0))
        piece_bytes = tf.where(
            is_unk.flat_values, tf.gather(run_bytes, global_run), tf.gather(self.surface_bytes, piece_ids.flat_values)
        )
        piece_bytes = piece_ids.with_flat_values(piece_bytes)
        piece_starts = _ragged_exclusive_cumsum(piece_bytes)

        # Do the pieces spell the normalized word? (Python compares strings.)
        word_of_piece = piece_ids.value_rowids()
        clipped_start = tf.minimum(piece_starts.flat_values, tf.gather(normalized_bytes, word_of_piece))
        spelled = tf.strings.substr(tf.gather(normalized, word_of_piece), clipped_start, piece_bytes.flat_values)
        known_ok = tf.logical_or(is_unk.flat_values, tf.equal(spelled, tf.gather(self.surfaces, piece_ids.flat_values)))
        run_start_of_unk = _gather_in_rows(_to_dense(run_byte_starts, -1), unk_index)
        unk_ok = tf.logical_or(
            tf.logical_not(is_unk.flat_values), tf.equal(run_start_of_unk.flat_values, piece_starts.flat_values)
        )
        pieces_ok = piece_ids.with_flat_values(tf.logical_and(known_ok, unk_ok))
        aligned = tf.logical_and(
            tf.reduce_all(pieces_ok, axis=1),
            tf.logical_and(tf.equal(tf.reduce_sum(piece_bytes, axis=1), normalized_bytes), tf.equal(unks_per_word, runs_per_word)),
        )

        # Each normalized character's source character (per-character lengths).
        word_chars = tf.strings.unicode_decode(words, "UTF-8")
        per_char = word_chars.with_flat_values(self._normalized_lengths(word_chars.flat_values))
        origins = tf.RaggedTensor.from_row_lengths(
            tf.repeat(tf.cast(tf.ragged.range(word_chars.row_lengths()).flat_values, tf.int32), per_char.flat_values),
            tf.reduce_sum(per_char, axis=1),
        )
        aligned = tf.logical_and(
            aligned, tf.equal(tf.cast(origins.row_lengths(), tf.int32), tf.cast(code_points.row_lengths(), tf.int32))
        )

        # Character position and length of each piece in the normalized word.
        dense_starts = _to_dense(byte_starts, tf.int32.max)
        first_char = _searchsorted_in_rows(dense_starts, piece_starts)
        after_char = _searchsorted_in_rows(dense_starts, piece_starts + piece_bytes)
        dense_origins = _to_dense(origins, -1)
        start_origin = _gather_in_rows(dense_origins, first_char)
        last_origin = _gather_in_rows(dense_origins, after_char - 1)
        word_length = tf.cast(tf.gather(word_chars.row_lengths(), word_of_piece), tf.int32)
        empty = tf.equal(first_char.flat_values, after_char.flat_values)
        past_end = first_char.flat_values >= tf.cast(tf.gather(origins.row_lengths(), word_of_piece), tf.int32)
        # A bare "▁" piece is empty, placed before what follows it.
        starts = tf.where(tf.logical_and(empty, past_end), word_length, start_origin.flat_values)
        ends = tf.where(empty, starts, last_origin.flat_values + 1)
        word_aligned = tf.gather(aligned, word_of_piece)
        starts = tf.where(word_aligned, starts, 0)
        ends = tf.where(word_aligned, ends, word_length)
        return piece_ids.with_flat_values(starts), piece_ids.with_flat_values(ends)

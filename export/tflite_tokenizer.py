"""ALBERT tokenization and packing that a TFLite model can run.

`keras_albert.AlbertTokenizer` normalizes text with regex, NFKD and
lower-casing ops and re-splits digit-comma pieces with a ragged gather;
none of those has a TFLite kernel (they would need the Flex delegate).
This module computes the same ids inside a TFLite model with builtin ops
and TensorFlow Text's TFLite `FastSentencepieceTokenize` kernel only:

1. Normalization is folded into the SentencePiece model itself
   (`fold_albert_normalization`): ALBERT's `preprocess_text` (whitespace,
   ``` `` ```/`''`, accent stripping, lower-casing) is composed with the
   model's own character map (nmt_nfkc) into one precompiled map, which
   `FastSentencepieceTokenize` applies while it tokenizes.
2. The digit-comma re-split is a gather from a dense `[vocab, k]`
   replacement table (`split_digit_comma` for every piece) followed by a
   scatter that closes the gaps, instead of a ragged gather.
3. `[CLS] a [SEP] (b [SEP])` packing is arithmetic on positions
   (`pack_segments`) instead of ragged concatenation; ragged slicing or
   concatenation would bring in `RaggedRange`/`RaggedGather`, which no
   TFLite registrar provides.

The tests check the ids against `AlbertTokenizer` on real data and on every
Unicode code point, and the packing against `AlbertPreprocessor`.
"""

import functools
import hashlib
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from keras_albert.albert_tokenizer import split_digit_comma


def _albert_preprocess_chars(text, lower_case, keep_accents):
    """ALBERT's `preprocess_text` without the whitespace collapse and strip.

    SentencePiece's own `remove_extra_whitespaces` collapses and strips the
    spaces this leaves; every `str.isspace()` character becomes a space
    first, as `str.split()` would have split on it.
    """
    text = "".join(" " if c.isspace() else c for c in text)
    text = text.replace("``", '"').replace("''", '"')
    if not keep_accents:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if lower_case:
        text = text.lower()
    return text


def fold_albert_normalization(proto, lower_case=True, keep_accents=False):
    """A SentencePiece model that applies ALBERT's normalization itself.

    The returned model maps raw text to the pieces that
    `AlbertTokenizer(proto, lower_case, keep_accents)` gives before its
    digit-comma re-split: its character map is "ALBERT's `preprocess_text`,
    then the model's map", compiled by `sentencepiece` itself. Every code
    point gets its composed replacement; the model's multi-character rules
    (NFKC compositions) are kept, composed the same way.

    Known differences from `normalize_text` + SentencePiece: `str.lower()`'s
    final-sigma rule depends on context ("ΟΔΟΣ" -> "οδος"), a character map
    has none, so a final capital sigma becomes "σ" here.

    Args:
        proto: bytes of an ALBERT SentencePiece model.
        lower_case, keep_accents: as `AlbertTokenizer`.

    Returns:
        bytes of the folded model (same pieces and ids).
    """
    return _fold_cached(hashlib.sha256(proto).hexdigest(), proto, lower_case, keep_accents)


@functools.lru_cache(maxsize=4)
def _fold_cached(digest, proto, lower_case, keep_accents):
    del digest  # The cache key; `proto` itself is compared only on hash collisions.
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto.FromString(proto)
    # The model's map alone: no dummy prefix or whitespace handling, which
    # SentencePiece applies after the map.
    model_map = sentencepiece.SentencePieceNormalizer(
        model_proto=proto, add_dummy_prefix=False, escape_whitespaces=False, remove_extra_whitespaces=False
    )
    original_rules = dict(model_map.Decompile())

    def compose(source):
        return model_map.normalize(_albert_preprocess_chars(source, lower_case, keep_accents))

    rules = {}
    for code_point in range(1, 0x110000):
        if 0xD800 <= code_point <= 0xDFFF:  # Surrogates are not text.
            continue
        char = chr(code_point)
        if char in original_rules or _albert_preprocess_chars(char, lower_case, keep_accents) != char:
            target = compose(char)
            if target != char:
                rules[char] = target
    for source, target in original_rules.items():
        if len(source) > 1:
            rules[source] = compose(source) if _albert_preprocess_chars(source, lower_case, keep_accents) != source else target
    # Two-character rules: "``" and "''" become '"' before anything else.
    for source in ("``", "''"):
        rules[source] = compose(source)
    compiled = sentencepiece.SentencePieceNormalizer(norm_map=sorted(rules.items()))
    spec = sentencepiece_model_pb2.NormalizerSpec.FromString(compiled.serialized_normalizer_spec())
    model.normalizer_spec.precompiled_charsmap = spec.precompiled_charsmap
    model.normalizer_spec.name = f"albert_{model.normalizer_spec.name or 'identity'}"
    return model.SerializeToString()


class TfliteAlbertTokenizer:
    """`AlbertTokenizer`'s ids from builtin TFLite ops + `FastSentencepieceTokenize`.

    Call inside a `tf.function` that is converted to TFLite with
    `allow_custom_ops=True`; run the model with
    `ai_edge_litert.interpreter.InterpreterWithCustomOps(
    custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)`.

    Args:
        tokenizer: a `keras_albert.AlbertTokenizer`; its SentencePiece
            model, normalization options and special ids are used.

    Example:
    ```python
    tflite_tokenizer = TfliteAlbertTokenizer(tokenizer)
    ids, lengths = tflite_tokenizer.tokenize(tf.constant(["Hello, World!"]))
    inputs = tflite_tokenizer.pack([(ids, lengths)], sequence_length=128)
    ```
    """

    def __init__(self, tokenizer):
        import sentencepiece

        self.cls_token_id = tokenizer.cls_token_id
        self.sep_token_id = tokenizer.sep_token_id
        self.pad_token_id = tokenizer.pad_token_id
        folded = fold_albert_normalization(tokenizer.proto, tokenizer.lower_case, tokenizer.keep_accents)
        self.sentencepiece = tf_text.FastSentencepieceTokenizer(folded)
        sp_model = sentencepiece.SentencePieceProcessor(model_proto=tokenizer.proto)
        rows = [
            [sp_model.piece_to_id(piece) for piece in split_digit_comma(sp_model.id_to_piece(i), sp_model)]
            for i in range(sp_model.get_piece_size())
        ]
        self.max_replacement_length = max(len(row) for row in rows)
        # Row i: the ids replacing id i, padded with -1.
        table = np.full((len(rows), self.max_replacement_length), -1, dtype=np.int32)
        for i, row in enumerate(rows):
            table[i, : len(row)] = row
        self.replacements = tf.constant(table)

    def tokenize(self, texts):
        """Token ids of a batch of strings.

        Args:
            texts: string tensor `[batch]`.

        Returns:
            `(ids, lengths)`: int32 `[batch, max_length]` padded with the pad
            id, and int32 `[batch]`.
        """
        pieces = self.sentencepiece.tokenize(texts)
        ids = pieces.to_tensor(default_value=0)
        lengths = tf.cast(pieces.row_lengths(), tf.int32)
        if self.max_replacement_length == 1:
            return ids, lengths
        return self._split_digit_commas(ids, lengths)

    def _split_digit_commas(self, ids, lengths):
        batch_size, width = tf.shape(ids)[0], tf.shape(ids)[1]
        k = self.max_replacement_length
        replaced = tf.gather(self.replacements, ids)  # [batch, width, k]
        in_text = tf.range(width)[None, :] < lengths[:, None]
        valid = tf.logical_and(replaced >= 0, in_text[:, :, None])
        replaced = tf.reshape(replaced, [batch_size, width * k])
        valid = tf.reshape(valid, [batch_size, width * k])
        # Each kept id moves to (number of kept ids before it); dropped ones
        # go to a spare last column that is cut off.
        valid_int = tf.cast(valid, tf.int32)
        target = tf.where(valid, tf.cumsum(valid_int, axis=1) - 1, width * k)
        rows = tf.broadcast_to(tf.range(batch_size)[:, None], [batch_size, width * k])
        indices = tf.stack([rows, target], axis=-1)
        updates = tf.where(valid, replaced, tf.zeros_like(replaced))
        packed = tf.scatter_nd(indices, updates, [batch_size, width * k + 1])
        return packed[:, : width * k], tf.reduce_sum(valid_int, axis=1)

    def pack(self, segments, sequence_length):
        """`[CLS] a [SEP] (b [SEP])`, truncated round-robin, padded.

        Args:
            segments: list of one or two `(ids, lengths)` pairs from
                `tokenize`.
            sequence_length: int, the packed length T.

        Returns:
            dict of int32 `[batch, T]`: `token_ids`, `segment_ids`,
            `padding_mask`, as `AlbertPreprocessor` packs them.
        """
        return pack_segments(
            segments, sequence_length, self.cls_token_id, self.sep_token_id, self.pad_token_id
        )


def pack_segments(segments, sequence_length, cls_token_id, sep_token_id, pad_token_id):
    """Packs one or two dense segments with builtin ops (see `TfliteAlbertTokenizer.pack`).

    Truncation is round-robin: the first segment keeps
    `min(len_a, max(budget - len_b, ceil(budget / 2)))` tokens and the
    second the rest of the budget, which is what keras-hub's round-robin
    trimmer and the original `_truncate_seq_pair` (longest first) both give.
    """
    if len(segments) not in (1, 2):
        raise ValueError(f"`segments` must hold one or two segments. Received {len(segments)}.")
    budget = sequence_length - 1 - len(segments)
    if budget < 0:
        raise ValueError(f"`sequence_length={sequence_length}` has no room for the special tokens.")
    positions = tf.range(sequence_length)[None, :]
    # Room for the gathers below: every segment at least T wide.
    padded = [tf.pad(ids, [[0, 0], [0, sequence_length]]) for ids, _ in segments]
    lengths_a = segments[0][1]
    if len(segments) == 1:
        kept_a = tf.minimum(lengths_a, budget)
        kept_b = tf.zeros_like(kept_a)
    else:
        lengths_b = segments[1][1]
        kept_a = tf.minimum(lengths_a, tf.maximum(budget - lengths_b, (budget + 1) // 2))
        kept_b = tf.minimum(lengths_b, budget - kept_a)
    kept_a, kept_b = kept_a[:, None], kept_b[:, None]

    def take(ids, offsets):
        index = tf.clip_by_value(positions - offsets, 0, sequence_length - 1)
        index = tf.broadcast_to(index, [tf.shape(ids)[0], sequence_length])
        return tf.gather(ids, index, batch_dims=1)

    in_a = tf.logical_and(positions >= 1, positions <= kept_a)
    first_sep = positions == kept_a + 1
    token_ids = tf.where(in_a, take(padded[0], 1), pad_token_id)
    token_ids = tf.where(first_sep, sep_token_id, token_ids)
    segment_ids = tf.zeros_like(token_ids)
    end = kept_a + 2
    if len(segments) == 2:
        in_b = tf.logical_and(positions >= kept_a + 2, positions < kept_a + 2 + kept_b)
        second_sep = positions == kept_a + 2 + kept_b
        token_ids = tf.where(in_b, take(padded[1], kept_a + 2), token_ids)
        token_ids = tf.where(second_sep, sep_token_id, token_ids)
        segment_ids = tf.cast(tf.logical_or(in_b, second_sep), token_ids.dtype)
        end = kept_a + kept_b + 3
    token_ids = tf.where(positions == 0, cls_token_id, token_ids)
    padding_mask = tf.cast(positions < end, token_ids.dtype)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}

"""ALBERT tokenization and packing that a TFLite model can run.

The library's graphs run in TFLite with builtin ops plus TensorFlow Text's
`FastSentencepieceTokenize` kernel, all but one step: `AlbertTokenizer`'s
SentencePiece ids and digit-comma re-split (a dense table gather) and
`keras_albert.packing` (arithmetic on positions) convert as they are; the
library test `test_tflite_graph_with_normalize_false` converts them.
Normalization does not: `normalize_text_tf` needs regex, ICU NFKD and
lower-casing ops, which only a Flex-enabled runtime has.

So this module keeps only what TFLite truly needs, the normalization moved
into the SentencePiece model (`fold_albert_normalization`): ALBERT's
per-character rules (`text_normalization.normalize_characters`: whitespace,
``` `` ```/`''`, accent stripping, lower-casing) are composed with the
model's own character map (nmt_nfkc) into one precompiled map, which
`FastSentencepieceTokenize` applies while it tokenizes (SentencePiece's own
`remove_extra_whitespaces` collapses and strips the spaces). Everything
else is the library's code: `TfliteAlbertTokenizer` runs `AlbertTokenizer`'s
graph on the folded model and packs with `keras_albert.packing`.

The tests check the ids against `AlbertTokenizer` on real data and on every
Unicode code point, and the packing against `AlbertPreprocessor`.
"""

import functools
import hashlib

import tensorflow as tf

from keras_albert.albert_tokenizer import AlbertSentencePieceOps
from keras_albert.packing import pack_segments_tf
from keras_albert.text_normalization import normalize_characters


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
        return model_map.normalize(normalize_characters(source, lower_case, keep_accents))

    rules = {}
    for code_point in range(1, 0x110000):
        if 0xD800 <= code_point <= 0xDFFF:  # Surrogates are not text.
            continue
        char = chr(code_point)
        if char in original_rules or normalize_characters(char, lower_case, keep_accents) != char:
            target = compose(char)
            if target != char:
                rules[char] = target
    for source, target in original_rules.items():
        if len(source) > 1:
            rules[source] = compose(source) if normalize_characters(source, lower_case, keep_accents) != source else target
    # Two-character rules: "``" and "''" become '"' before anything else.
    for source in ("``", "''"):
        rules[source] = compose(source)
    compiled = sentencepiece.SentencePieceNormalizer(norm_map=sorted(rules.items()))
    spec = sentencepiece_model_pb2.NormalizerSpec.FromString(compiled.serialized_normalizer_spec())
    model.normalizer_spec.precompiled_charsmap = spec.precompiled_charsmap
    model.normalizer_spec.name = f"albert_{model.normalizer_spec.name or 'identity'}"
    return model.SerializeToString()


class TfliteAlbertTokenizer:
    """`AlbertTokenizer`'s ids and `AlbertPreprocessor`'s packing, TFLite-convertible.

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
        self.cls_token_id = tokenizer.cls_token_id
        self.sep_token_id = tokenizer.sep_token_id
        self.pad_token_id = tokenizer.pad_token_id
        folded = fold_albert_normalization(tokenizer.proto, tokenizer.lower_case, tokenizer.keep_accents)
        # The digit-comma table comes from the original model, as the
        # library tokenizer's; only the piece segmentation reads the folded one.
        self.sentence_piece = AlbertSentencePieceOps(
            tokenizer.proto,
            dtype="int32",
            lower_case=tokenizer.lower_case,
            keep_accents=tokenizer.keep_accents,
            normalize=False,
            segmenter_proto=folded,
        )

    def tokenize(self, texts):
        """Token ids of a batch of strings.

        Args:
            texts: string tensor `[batch]`.

        Returns:
            `(ids, lengths)`: int32 `[batch, max_length]` padded with the pad
            id, and int32 `[batch]`.
        """
        ids = self.sentence_piece.tokenize(texts)
        return ids.to_tensor(default_value=self.pad_token_id), tf.cast(ids.row_lengths(), tf.int32)

    def pack(self, segments, sequence_length):
        """`[CLS] a [SEP] (b [SEP] ...)`, truncated round-robin, padded.

        Args:
            segments: list of `(ids, lengths)` pairs from `tokenize`.
            sequence_length: int, the packed length T.

        Returns:
            dict of int32 `[batch, T]`: `token_ids`, `segment_ids`,
            `padding_mask`, as `AlbertPreprocessor` packs them.
        """
        features, _ = pack_segments_tf(segments, self.cls_token_id, self.sep_token_id, sequence_length, self.pad_token_id)
        return features

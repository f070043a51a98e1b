"""ALBERT's SentencePiece tokenizer, in-graph and in pure Python."""

import os

import keras
import sentencepiece
try:
    import tensorflow as tf
    import tensorflow_text as tf_text
except ImportError:  # Optional: `require_tensorflow` guards the uses.
    tf = tf_text = None
from keras_hub.tokenizers import SentencePieceTokenizer

from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.tensorflow_dependency import require_tensorflow
from keras_albert.text_normalization import normalize_text, normalize_text_tf

SPIECE_UNDERLINE = "\u2581"
# The pieces ALBERT's `spm_train` recipe puts at ids 0-4, with the names of
# the tokenizer attributes that hold them.
SPECIAL_PIECES = (
    ("<pad>", "pad_token"),
    ("<unk>", "unk_token"),
    ("[CLS]", "cls_token"),
    ("[SEP]", "sep_token"),
    ("[MASK]", "mask_token"),
)


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertTokenizer(SentencePieceTokenizer):
    """ALBERT's tokenizer: normalization, SentencePiece, digit-comma re-split.

    Runs the original `tokenization.FullTokenizer` pipeline (google-research
    albert, and HuggingFace `AlbertTokenizer`) as TensorFlow ops:

    1. `normalize_text_tf`: whitespace collapse, ``` `` ```/`''` to `"`,
       accent stripping unless `keep_accents`, lower-casing if `lower_case`.
    2. SentencePiece with `tensorflow_text.FastSentencepieceTokenizer`. It
       gives the same ids as the `sentencepiece` package (checked on the
       GLUE, SQuAD, WikiText and WNUT texts and random Unicode), where
       `tf_text.SentencepieceTokenizer` breaks ties between equal-score
       segmentations differently ("$320000": "000", "0" against "0",
       "000"), and it has a TFLite kernel.
    3. `encode_pieces`' re-split of pieces that end in a digit and a comma
       ("▁1990," becomes "▁1990", ","). The result depends on the piece
       only, so it is precomputed for the whole vocabulary with the
       `sentencepiece` package and applied in-graph as a table lookup.

    The same graph runs for eager calls, inside `tf.data` and in
    SavedModels, so what is trained is what is served. `tokenize_python()`
    is the reference pipeline in pure Python, for offline data preparation.

    TFLite: steps 2 and 3 convert to TFLite builtins plus TensorFlow Text's
    TFLite kernels (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`).
    Step 1 needs TensorFlow string ops (regex, ICU normalization and
    lower-casing), which only a Flex-enabled TFLite runtime has. With
    `normalize=False` the graph leaves step 1 out, and callers pass text
    already normalized with `normalize_text` (same `lower_case` and
    `keep_accents`).

    Inputs may be a string, a list of strings or a string tensor of any
    rank. A scalar gives a dense `[num_tokens]` tensor; a batch gives a
    `tf.RaggedTensor` (a list of lists when called eagerly, as keras-hub
    tokenizers do), or a dense `[batch, sequence_length]` tensor if
    `sequence_length` is set.

    Args:
        proto: path to a SentencePiece `.model` file, or its bytes. It must
            hold ALBERT's special pieces: `<pad>`, `<unk>`, `[CLS]`,
            `[SEP]`, `[MASK]` at ids 0 to 4 (as `train_sentencepiece`
            writes them).
        lower_case: bool. Lower-case text first; `True` for the released
            (uncased) ALBERT models.
        keep_accents: bool. Keep accents and other combining marks.
        normalize: bool. Normalize the text (in-graph and in
            `tokenize_python`); `False` for text that was normalized with
            `normalize_text` already, e.g. to build a TFLite graph.
        sequence_length: int or None. Pad or truncate outputs to this length.
        dtype: integer dtype of the token ids.

    Example:
    ```python
    tokenizer = keras_albert.AlbertTokenizer("30k-clean.model")
    tokenizer("The quick brown fox.")           # int32 ids, shape [num_tokens]
    tokenizer(["Hello!", "It cost 1,000,"])    # two lists of ids
    tokenizer.tokenize_python("Hello!")        # [list of int], no TF
    tokenizer.cls_token_id, tokenizer.sep_token_id  # 2, 3
    ```
    """

    backbone_cls = AlbertBackbone

    def __init__(
        self, proto, lower_case=True, keep_accents=False, normalize=True, **kwargs
    ):
        require_tensorflow("AlbertTokenizer")
        if kwargs.get("add_bos") or kwargs.get("add_eos"):
            raise ValueError(
                "ALBERT SentencePiece models have no BOS/EOS pieces; "
                "`AlbertPreprocessor` adds [CLS] and [SEP]. Received "
                f"add_bos={kwargs.get('add_bos')}, add_eos={kwargs.get('add_eos')}."
            )
        # Read by `set_proto()`, which the base constructor calls.
        self.lower_case = lower_case
        self.keep_accents = keep_accents
        self.normalize = normalize
        for piece, name in SPECIAL_PIECES:
            self._add_special_token(piece, name)
        # keras-hub's packers and tasks look for `start_token`/`end_token`.
        self._add_special_token("[CLS]", "start_token")
        self._add_special_token("[SEP]", "end_token")
        super().__init__(proto=proto, **kwargs)

    def set_proto(self, proto):
        proto = os.fspath(proto) if isinstance(proto, os.PathLike) else proto
        # Named in errors; a long string is keras-hub's base64 form.
        if isinstance(proto, str) and len(proto) <= 2048:
            self._proto_source = f"SentencePiece model {proto!r}"
        else:
            self._proto_source = "the SentencePiece model passed as `proto`"
        _check_sentencepiece_model(proto)
        super().set_proto(proto)

    def _update_special_token_ids(self):
        vocabulary = self.get_vocabulary()
        for expected_id, (piece, _) in enumerate(SPECIAL_PIECES):
            found = vocabulary[expected_id] if expected_id < len(vocabulary) else None
            if found != piece:
                where = (
                    f"it is at id {vocabulary.index(piece)}"
                    if piece in vocabulary
                    else "it is missing"
                )
                raise ValueError(
                    f"{self._proto_source} is not an ALBERT vocabulary: "
                    f"ALBERT needs {piece!r} at id {expected_id} but {where} "
                    f"(id {expected_id} is {found!r}). ALBERT models need "
                    f"{', '.join(p for p, _ in SPECIAL_PIECES)} at ids 0-4; "
                    "train one with `keras_albert.train_sentencepiece`."
                )
        super()._update_special_token_ids()

    def _set_proto_tf(self, proto):
        if not keras.backend.is_int_dtype(self.compute_dtype):
            raise ValueError(
                "`AlbertTokenizer` outputs token ids; `dtype` must be an "
                f"integer dtype. Received: dtype={self.compute_dtype}"
            )
        # keras-hub's `_tokenize_tf`/`_detokenize_tf` call
        # `self._sentence_piece`, and add batching and padding around it.
        self._sentence_piece = AlbertSentencePieceOps(
            proto,
            dtype=self.compute_dtype,
            lower_case=self.lower_case,
            keep_accents=self.keep_accents,
            normalize=self.normalize,
        )

    def _use_tf_workflow(self):
        # keras-hub runs eager calls through the `sentencepiece` package;
        # here they run the graph that tf.data, SavedModels and TFLite run.
        return True

    def tokenize_python(self, inputs, as_pieces=False):
        """Tokenizes with the `sentencepiece` package, outside any graph.

        This is the original `encode_ids`/`encode_pieces` pipeline, for
        offline data preparation; the in-graph tokenizer gives the same ids.

        Args:
            inputs: a string, or a list of strings.
            as_pieces: bool. Return piece strings instead of ids.

        Returns:
            A list of ids (or pieces); a list of lists for a list input.
        """
        if isinstance(inputs, (list, tuple)):
            return [self.tokenize_python(text, as_pieces) for text in inputs]
        self._check_vocabulary()
        self._maybe_initialized_spm()
        sp_model = self._sentence_piece_spm
        if isinstance(inputs, bytes):
            inputs = inputs.decode("utf-8")
        if self.normalize:
            inputs = normalize_text(inputs, self.lower_case, self.keep_accents)
        pieces = [
            split
            for piece in sp_model.encode(inputs, out_type=str)
            for split in split_digit_comma(piece, sp_model)
        ]
        if as_pieces:
            return pieces
        return [sp_model.piece_to_id(piece) for piece in pieces]

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads from a local preset directory or a converted named preset
        (`keras_albert.albert_presets`); nothing is downloaded."""
        from keras_albert.albert_presets import resolve_tokenizer_preset

        return super().from_preset(resolve_tokenizer_preset(preset), **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lower_case": self.lower_case,
                "keep_accents": self.keep_accents,
                "normalize": self.normalize,
            }
        )
        return config


def split_digit_comma(piece, sp_model):
    """ALBERT's re-split of a piece that ends in a digit and a comma.

    SentencePiece learns pieces such as "▁1990," from numbers followed by a
    comma. The original `encode_pieces` re-encodes such a piece without the
    comma (and without "▁", adding back only a word start the piece had) and
    emits "," as a piece of its own.

    Args:
        piece: str. A piece from `sp_model`.
        sp_model: a `sentencepiece.SentencePieceProcessor`.

    Returns:
        The list of pieces that replace `piece`: `[piece]` when the rule
        does not apply.
    """
    if len(piece) < 2 or piece[-1] != "," or not piece[-2].isdigit():
        return [piece]
    pieces = sp_model.encode(piece[:-1].replace(SPIECE_UNDERLINE, ""), out_type=str)
    if piece[0] != SPIECE_UNDERLINE and pieces[0][0] == SPIECE_UNDERLINE:
        if len(pieces[0]) == 1:
            pieces = pieces[1:]
        else:
            pieces = [pieces[0][1:]] + pieces[1:]
    return pieces + [","]


def _check_sentencepiece_model(proto):
    """Raises "not a SentencePiece model: PATH" for a file (or bytes) SentencePiece
    cannot load, an empty one included; its own error names neither."""
    if isinstance(proto, bytes):
        data, name = proto, "the bytes passed as `proto`"
    elif isinstance(proto, str) and os.path.isfile(proto):
        with open(proto, "rb") as file:
            data, name = file.read(), proto
    else:  # A base64 string (keras-hub's saved form) or a missing file, which keras-hub reports.
        return
    try:
        loads = bool(data) and sentencepiece.SentencePieceProcessor(model_proto=data).get_piece_size() > 0
    except RuntimeError:
        loads = False
    if not loads:
        raise ValueError(f"not a SentencePiece model: {name}")


class AlbertSentencePieceOps:
    """The in-graph pipeline `SentencePieceTokenizer` calls for tokenizing.

    Args:
        proto: bytes of the SentencePiece model.
        dtype: integer dtype of the ids.
        lower_case, keep_accents, normalize: as `AlbertTokenizer`.
        segmenter_proto: bytes of the model that segments text, when not
            `proto` itself: `export/tflite_tokenizer.py` passes one with the
            normalization folded in, and keeps `proto`'s digit-comma table.
    """

    def __init__(self, proto, dtype, lower_case, keep_accents, normalize, segmenter_proto=None):
        sp_model = sentencepiece.SentencePieceProcessor(model_proto=proto)
        self.dtype = dtype
        self.lower_case = lower_case
        self.keep_accents = keep_accents
        self.normalize = normalize
        self.fast = tf_text.FastSentencepieceTokenizer(segmenter_proto or proto)
        # Row i holds the ids that replace id i: [i] unless the digit-comma
        # rule applies. Unknown text tokenizes to <unk>, which never
        # matches, as in the original as long as "," itself is a piece.
        rows = [
            [sp_model.piece_to_id(p) for p in split_digit_comma(piece, sp_model)]
            for piece in sp_model.id_to_piece(list(range(sp_model.get_piece_size())))
        ]
        # A dense table padded with -1, not a `tf.RaggedTensor`: gathering
        # ragged rows is an op TFLite does not have. int32 like the fast
        # tokenizer's ids and row splits.
        width = max(len(row) for row in rows)
        self.replacement_ids = tf.constant(
            [row + [-1] * (width - len(row)) for row in rows], "int32"
        )
        self.replacement_lengths = tf.constant([len(row) for row in rows], "int32")

    def tokenize(self, inputs):
        if self.normalize:
            inputs = normalize_text_tf(inputs, self.lower_case, self.keep_accents)
        ids = self.fast.tokenize(inputs)
        flat_ids = ids.flat_values
        replacements = tf.gather(self.replacement_ids, flat_ids)
        lengths = tf.gather(self.replacement_lengths, flat_ids)
        values = tf.boolean_mask(replacements, replacements >= 0)
        # The replacements of tokens 0..j-1 fill ends[j] values, so a row
        # that ended before token j now ends before value ends[j].
        ends = tf.concat([[0], tf.cumsum(lengths)], 0)
        splits = ids.nested_row_splits
        ids = tf.RaggedTensor.from_nested_row_splits(
            tf.cast(values, self.dtype),
            splits[:-1] + (tf.gather(ends, splits[-1]),),
            validate=False,
        )
        return ids.with_row_splits_dtype("int64")

    def detokenize(self, inputs):
        return self.fast.detokenize(inputs)

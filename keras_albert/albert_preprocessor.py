"""Turns raw text segments into ALBERT's packed model inputs."""

import json
import os

import keras
try:
    import tensorflow as tf
except ImportError:  # Optional: `require_tensorflow` guards the uses.
    tf = None
from keras_hub.models import Preprocessor

# Converts Python inputs to tensors and keeps the tokenizer's outputs as TF
# (ragged) tensors inside `call`; keras-hub exports no public alias.
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_tokenizer import AlbertTokenizer
from keras_albert.packing import pack_segments_tf
from keras_albert.tensorflow_dependency import require_tensorflow

# Round robin and longest first give the same lengths (see
# `keras_albert.packing`); both names are accepted, for keras-hub and
# HuggingFace users, and pack the same way. The tests check each against
# the original `_truncate_seq_pair`.
TRUNCATE_MODES = ("round_robin", "longest_first")


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertPreprocessor(Preprocessor):
    """Tokenizes and packs text segments as `[CLS] a [SEP] b [SEP]`.

    Each segment is tokenized with `tokenizer`, the segments are truncated
    together to fit `sequence_length` minus the special tokens, joined with
    `[CLS]` in front and `[SEP]` after each segment, and padded with
    `<pad>` (id 0), by `keras_albert.packing` (the project's one packer).
    Segment ids are the segment index (0 for `[CLS]`, `a` and its `[SEP]`;
    1 for `b` and its `[SEP]`; and so on).

    `x` is one segment (a string, a list of strings or a string tensor) or
    a tuple of segments; a list is a batch, never a pair. `y` and
    `sample_weight` pass through unchanged. Unlike keras-hub preprocessors,
    a lone tuple argument is always segments, never `(x, y)`, so that
    `preprocessor((a, b))` packs a pair. (`tf.data` still unpacks an
    `(a, b)` element into `x=a, y=b`: map over `((a, b), y)` or
    `((a, b),)` elements.)

    Runs eagerly and inside `tf.data` with the same ops, so also inside
    SavedModels. With a `normalize=False` tokenizer the whole graph
    converts to TFLite builtins plus TensorFlow Text's TFLite kernels.

    Args:
        tokenizer: `AlbertTokenizer`.
        sequence_length: int. Length of the packed sequences; at least 3.
        truncate: str. How segments share `sequence_length`:
            `"round_robin"`: one token at a time to each segment that
                still has tokens, in order;
            `"longest_first"`: the original `_truncate_seq_pair`, which
                shortens the longest segment first. Both give the same
                lengths; the two names are kept for keras-hub and
                HuggingFace users.
        num_segments: optional int. The most segments a call may pack: the
            backbone's `num_segments` (segment-id embeddings; 2 in every
            ALBERT checkpoint). A task model sets it from its backbone and
            `from_preset` from the preset's backbone; `None` packs any
            number.

    Returns:
        `x`, `(x, y)` or `(x, y, sample_weight)`, where `x` is a dict of
        int32 tensors `[batch, sequence_length]` (or `[sequence_length]`
        for unbatched input): `token_ids`, `segment_ids` and `padding_mask`
        (1 for real tokens, 0 for padding).

    Example:
    ```python
    preprocessor = keras_albert.AlbertPreprocessor(
        keras_albert.AlbertTokenizer("30k-clean.model"), sequence_length=128
    )
    preprocessor("The quick brown fox.")["token_ids"]  # [2, ..., 3, 0, ...]
    x = preprocessor(("A man eats.", "Someone eats."))  # a pair
    x, y = preprocessor((["A man eats."], ["Someone eats."]), [1])
    ds = tf.data.Dataset.from_tensor_slices(((premises, hypotheses), labels))
    ds = ds.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    ```
    """

    backbone_cls = AlbertBackbone
    tokenizer_cls = AlbertTokenizer

    def __init__(
        self,
        tokenizer,
        sequence_length=512,
        truncate="round_robin",
        num_segments=None,
        **kwargs,
    ):
        require_tensorflow("AlbertPreprocessor")
        super().__init__(**kwargs)
        if sequence_length is None or sequence_length < 3:
            raise ValueError(
                "`sequence_length` must be at least 3 ([CLS] a [SEP] needs "
                f"3 positions). Received: sequence_length={sequence_length}"
            )
        if truncate not in TRUNCATE_MODES:
            raise ValueError(
                f"`truncate` must be one of {', '.join(TRUNCATE_MODES)}. "
                f"Received: truncate={truncate!r}"
            )
        if num_segments is not None and (not isinstance(num_segments, int) or num_segments < 1):
            raise ValueError(
                f"`num_segments` must be a positive int or None. Received: num_segments={num_segments!r}"
            )
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.truncate = truncate
        self.num_segments = num_segments

    def __call__(self, *args, **kwargs):
        # keras-hub's `PreprocessingLayer` reads a lone 2- or 3-tuple as
        # `(x, y[, sample_weight])`; for text pairs that would silently
        # turn the second segment into a label.
        if len(args) == 1 and isinstance(args[0], tuple):
            return super().__call__(x=args[0], **kwargs)
        return super().__call__(*args, **kwargs)

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        segments = x if isinstance(x, tuple) else (x,)
        # Segment id `num_segments` has no embedding: CPU gathers fail deep
        # in the model, GPU/XLA gathers clamp or give zeros without an error.
        if self.num_segments is not None and len(segments) > self.num_segments:
            raise ValueError(
                f"This model has {self.num_segments} segment types "
                f"(`num_segments={self.num_segments}`), so it takes at most "
                f"{self.num_segments} text segments; received {len(segments)}."
            )
        segments = [self.tokenizer(segment) for segment in segments]
        unbatched = not isinstance(segments[0], tf.RaggedTensor)
        if unbatched:
            segments = [tf.RaggedTensor.from_tensor(s[tf.newaxis]) for s in segments]
        # Dense rows cut to `sequence_length` (no segment keeps more) with
        # their full lengths, which the packer's truncation reads.
        x, _ = pack_segments_tf(
            [(s.to_tensor(shape=[None, self.sequence_length]), s.row_lengths()) for s in segments],
            self.tokenizer.cls_token_id,
            self.tokenizer.sep_token_id,
            self.sequence_length,
            self.tokenizer.pad_token_id,
        )
        if unbatched:
            x = {name: value[0] for name, value in x.items()}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads from a local preset directory or a converted named preset
        (`keras_albert.albert_presets`); nothing is downloaded."""
        from keras_albert.albert_presets import resolve_tokenizer_preset

        directory = resolve_tokenizer_preset(preset)
        preprocessor = super().from_preset(directory, **kwargs)
        # A preprocessor saved without a limit (or built from the tokenizer
        # alone) takes its backbone's, which every preset holds.
        if preprocessor.num_segments is None and "num_segments" not in kwargs:
            with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
                preprocessor.num_segments = json.load(f)["config"]["num_segments"]
        return preprocessor

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "truncate": self.truncate,
                "num_segments": self.num_segments,
            }
        )
        return config

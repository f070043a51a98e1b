"""Per-token classification (NER, POS tagging) over ALBERT."""

import keras
from keras import ops

from keras_albert.albert_task import AlbertTask, float32_output, fine_tuning_optimizer, head_initializer
from keras_albert.token_labels import IGNORE_LABEL


@keras.saving.register_keras_serializable(package="keras_albert")
class TokenAccuracy(keras.metrics.Mean):
    """Accuracy over the positions whose label is not `ignore_class`.

    Keras' `SparseCategoricalAccuracy` has no `ignore_class`, so it would
    count padding and non-first word pieces (label -1) as errors.
    """

    def __init__(self, ignore_class=IGNORE_LABEL, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        counted = ops.cast(ops.not_equal(y_true, self.ignore_class), self.dtype)
        if sample_weight is not None:
            counted = counted * ops.cast(sample_weight, self.dtype)
        correct = ops.cast(ops.equal(y_true, ops.cast(ops.argmax(y_pred, axis=-1), "int32")), self.dtype)
        super().update_state(correct, sample_weight=counted)

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertTokenClassifier(AlbertTask):
    """Per-token logits: `Dense(num_classes)(Dropout(sequence_output))`.

    As HuggingFace `AlbertForTokenClassification`. Labels are per sub-word
    token; positions that should not count (padding, `[CLS]`/`[SEP]`, the
    non-first pieces of a word) carry the label `IGNORE_LABEL` (-1), which
    the default loss and accuracy leave out (`keras_albert.token_labels`
    builds such labels from word-level tags). The backbone's pooler, which
    this head does not read, is left out of the model's trainable variables
    (the backbone itself is not changed).

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        num_classes: int. Number of tags.
        preprocessor: optional preprocessor layer.
        dropout: float. Dropout on the sequence output.

    Inputs: the backbone's dict. Output: `[batch, seq_len, num_classes]`.

    Example:
    ```python
    tagger = keras_albert.AlbertTokenClassifier(backbone, num_classes=13)
    tagger.fit(features, tag_ids)  # [batch, seq_len]; -1 where not counted
    ```
    """

    reads_pooled_output = False

    def __init__(self, backbone, num_classes, preprocessor=None, dropout=0.1, **kwargs):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}"
            )
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=head_initializer(backbone),
            dtype=backbone.dtype_policy,
            name="logits",
        )
        inputs = backbone.input
        sequence = backbone(inputs)["sequence_output"]
        outputs = float32_output(self.output_dense(self.output_dropout(sequence)), "output")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.num_classes = num_classes
        self.dropout = dropout

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Defaults: `keras_albert.training.AdamW(5e-5)` (no decay of LayerNorm
        parameters and biases), token cross-entropy and accuracy, both
        leaving out the positions labelled `IGNORE_LABEL`."""
        if optimizer == "auto":
            optimizer = fine_tuning_optimizer(5e-5)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_LABEL)
        if metrics == "auto":
            metrics = [TokenAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config

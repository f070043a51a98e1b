"""Per-token classification (NER, POS tagging) over ALBERT."""

import keras

from keras_albert.albert_task import AlbertTask, float32_output, head_initializer


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertTokenClassifier(AlbertTask):
    """Per-token logits: `Dense(num_classes)(Dropout(sequence_output))`.

    As HuggingFace `AlbertForTokenClassification`. Labels are per sub-word
    token; positions that should not count (padding, `[CLS]`/`[SEP]`, the
    non-first pieces of a word) are given `sample_weight` 0 by the data
    pipeline (`keras_albert.token_labels`).

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        num_classes: int. Number of tags.
        preprocessor: optional preprocessor layer.
        dropout: float. Dropout on the sequence output.

    Inputs: the backbone's dict. Output: `[batch, seq_len, num_classes]`.

    Example:
    ```python
    tagger = keras_albert.AlbertTokenClassifier(backbone, num_classes=13)
    tagger.fit(features, tag_ids, sample_weight=first_piece_mask)
    ```
    """

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
        """Defaults: AdamW(5e-5), token cross-entropy on logits, accuracy."""
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(5e-5, weight_decay=0.01)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config

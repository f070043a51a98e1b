"""Sentence and sentence-pair classification / regression over ALBERT."""

import keras

from keras_albert.albert_task import (
    AlbertTask,
    fine_tuning_optimizer,
    float32_output,
    head_initializer,
)


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertTextClassifier(AlbertTask):
    """Classifier (or regressor) on the pooled `[CLS]` output.

    `logits = Dense(num_classes)(Dropout(pooled_output))`, as the original
    `run_classifier.py` and HuggingFace `AlbertForSequenceClassification`.
    `num_classes=1` is regression (STS-B): the output is the score and the
    default loss is mean squared error.

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        num_classes: int. Number of labels; 1 for regression.
        preprocessor: optional `keras_albert.AlbertPreprocessor`; when set,
            `fit`/`predict` take raw strings (or pairs of strings).
        activation: optional output activation (default: logits).
        dropout: float. Dropout on the pooled output.

    Inputs: the backbone's dict (`token_ids`, `segment_ids`,
    `padding_mask`, each `[batch, seq_len]`). Output: `[batch, num_classes]`.

    Example:
    ```python
    classifier = keras_albert.AlbertTextClassifier(backbone, num_classes=2)
    classifier.fit(features, labels, batch_size=32)
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        activation=None,
        dropout=0.1,
        **kwargs,
    ):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}"
            )
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            activation=activation,
            kernel_initializer=head_initializer(backbone),
            dtype=backbone.dtype_policy,
            name="logits",
        )
        # === Functional model ===
        inputs = backbone.input
        pooled = backbone(inputs)["pooled_output"]
        outputs = self.output_dense(self.output_dropout(pooled))
        outputs = float32_output(outputs, "output")
        # === Config === (set first: `Task.__init__` calls `compile()`)
        self.num_classes = num_classes
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """`model.compile` with ALBERT fine-tuning defaults.

        Defaults: `keras_albert.training.AdamW(2e-5)` (weight decay 0.01,
        none on LayerNorm parameters and biases), sparse categorical
        cross-entropy on logits and accuracy; for `num_classes=1`, mean
        squared error and no accuracy.
        """
        regression = self.num_classes == 1
        if optimizer == "auto":
            optimizer = fine_tuning_optimizer(2e-5)
        if loss == "auto":
            from_logits = self.activation != keras.activations.softmax
            loss = (
                keras.losses.MeanSquaredError()
                if regression
                else keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
            )
        if metrics == "auto":
            metrics = [] if regression else [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
            }
        )
        return config

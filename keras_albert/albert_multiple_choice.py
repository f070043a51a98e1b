"""Multiple choice (RACE, SWAG style) over ALBERT."""

import keras

from keras_albert.albert_task import (
    AlbertTask,
    fine_tuning_optimizer,
    float32_output,
    head_initializer,
)
from keras_albert.layers import FoldChoices, UnfoldChoices


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertMultipleChoice(AlbertTask):
    """One score per choice from the pooled output, softmaxed across choices.

    Every choice is packed as its own sequence (`[CLS] context [SEP] choice
    [SEP]`); the batch and choice axes are flattened for the backbone and the
    `Dense(1)` scores reshaped back, as HuggingFace `AlbertForMultipleChoice`.

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        preprocessor: optional preprocessor layer.
        dropout: float. Dropout on the pooled output.

    Inputs: a dict of int tensors `[batch, num_choices, seq_len]`:
    `token_ids`, `segment_ids`, `padding_mask`. Output: logits
    `[batch, num_choices]`.
    """

    def __init__(self, backbone, preprocessor=None, dropout=0.1, **kwargs):
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            1,
            kernel_initializer=head_initializer(backbone),
            dtype=backbone.dtype_policy,
            name="choice_logits",
        )
        inputs = {
            name: keras.Input(shape=(None, None), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        flat = FoldChoices(name="fold_choices")(inputs)
        pooled = backbone(flat)["pooled_output"]
        scores = self.output_dense(self.output_dropout(pooled))
        scores = UnfoldChoices(name="unfold_choices")(scores, inputs["token_ids"])
        outputs = float32_output(scores, "output")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.dropout = dropout

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Defaults: `keras_albert.training.AdamW(2e-5)` (no decay of LayerNorm
        parameters and biases), cross-entropy over choices, accuracy."""
        if optimizer == "auto":
            optimizer = fine_tuning_optimizer(2e-5)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout})
        return config

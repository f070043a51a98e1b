"""ALBERT's pretraining model: masked LM + sentence-order prediction."""

import keras
from keras_hub.layers import MaskedLMHead

from keras_albert.albert_task import (
    AlbertTask,
    float32_output,
    head_initializer,
    pretraining_optimizer,
)
from keras_albert.layers import get_activation


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertPretrainer(AlbertTask):
    """Backbone with the MLM and sentence-order-prediction (SOP) heads.

    MLM head (original `cls/predictions`): gather the masked positions,
    `Dense(embedding_dim)`, the backbone's activation, LayerNorm, then the
    output projection *tied* to the word-embedding table plus an output
    bias. SOP head (original `cls/seq_relationship`): `Dense(2)` on the
    pooled output; label 1 means the two segments were swapped.

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        preprocessor: optional preprocessor layer (masking happens in the
            data pipeline, `tasks.pretraining_data`).

    Inputs: the backbone's dict plus `mask_positions` `[batch, P]` (int,
    padded with 0 where fewer than P tokens are masked).

    Outputs: a dict with `mlm_logits` `[batch, P, vocabulary_size]` and
    `sop_logits` `[batch, 2]`.

    Example:
    ```python
    pretrainer = keras_albert.AlbertPretrainer(backbone)
    pretrainer.fit(dataset)  # x: features, y: {"mlm_logits": ids,
                             # "sop_logits": order}, sample weights for MLM
    ```
    """

    def __init__(self, backbone, preprocessor=None, **kwargs):
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.mlm_head = MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size,
            token_embedding=backbone.token_embedding,
            intermediate_activation=get_activation(backbone.activation),
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            kernel_initializer=head_initializer(backbone),
            dtype=backbone.dtype_policy,
            name="mlm_head",
        )
        self.sop_dense = keras.layers.Dense(
            2,
            kernel_initializer=head_initializer(backbone),
            dtype=backbone.dtype_policy,
            name="sop_dense",
        )
        inputs = dict(backbone.input)
        inputs["mask_positions"] = keras.Input(
            shape=(None,), dtype="int32", name="mask_positions"
        )
        backbone_outputs = backbone({k: inputs[k] for k in backbone.input})
        mlm_logits = self.mlm_head(
            backbone_outputs["sequence_output"], mask_positions=inputs["mask_positions"]
        )
        sop_logits = self.sop_dense(backbone_outputs["pooled_output"])
        outputs = {
            "mlm_logits": float32_output(mlm_logits, "mlm_logits"),
            "sop_logits": float32_output(sop_logits, "sop_logits"),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto", weighted_metrics="auto", **kwargs
    ):
        """Defaults: `keras_albert.training.Lamb(1.76e-3)` (the original's
        rate for batch 4096, with its weight decay 0.01 inside the trust
        ratio and none on LayerNorm parameters and biases) at a constant
        rate, for the recipe's warmup and decay pass
        `keras_albert.training.create_optimizer("lamb", ...)`; the sum of
        the MLM and SOP cross-entropies, with MLM and SOP accuracy.

        The MLM loss and accuracy are weighted per masked position by the
        sample weights the data pipeline provides (0 for padded prediction
        slots), so padding never counts as a correct prediction.
        """
        if optimizer == "auto":
            optimizer = pretraining_optimizer(1.76e-3)
        if loss == "auto":
            loss = {
                "mlm_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "sop_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            }
        if metrics == "auto":
            metrics = {"sop_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
        if weighted_metrics == "auto":
            # Keras passes sample weights to `weighted_metrics` only.
            weighted_metrics = {
                "mlm_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            }
        super().compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            weighted_metrics=weighted_metrics,
            **kwargs,
        )

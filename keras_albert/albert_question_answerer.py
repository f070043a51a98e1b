"""Extractive question answering (SQuAD v1.1 / v2.0) over ALBERT."""

import keras
from keras import ops

from keras_albert.albert_task import AlbertTask, float32_output, fine_tuning_optimizer, head_initializer


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertQuestionAnswerer(AlbertTask):
    """Span head: start and end logits for every token.

    `Dense(2)(sequence_output)` split into start and end logits, as the
    original `run_squad_v1.py` and HuggingFace `AlbertForQuestionAnswering`.
    For SQuAD v2.0, "no answer" is the span `[CLS]`-`[CLS]` (position 0);
    its score `start_logits[0] + end_logits[0]` is compared against the best
    span with `null_score_diff_threshold` in post-processing. The backbone's
    pooler, which this head does not read, is left out of the model's
    trainable variables (the backbone itself is not changed).

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        preprocessor: optional preprocessor layer.
        null_score_diff_threshold: float. Predict "no answer" when
            `null_score - best_span_score > threshold` (tuned on a dev set).

    Inputs: the backbone's dict. Outputs: a dict with `start_logits` and
    `end_logits`, each `[batch, seq_len]`.

    Example:
    ```python
    reader = keras_albert.AlbertQuestionAnswerer(backbone)
    reader.fit(features, {"start_logits": starts, "end_logits": ends})
    ```
    """

    reads_pooled_output = False

    def __init__(
        self,
        backbone,
        preprocessor=None,
        null_score_diff_threshold=0.0,
        **kwargs,
    ):
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.span_dense = keras.layers.Dense(
            2,
            kernel_initializer=head_initializer(backbone),
            dtype=backbone.dtype_policy,
            name="span_logits",
        )
        inputs = backbone.input
        logits = self.span_dense(backbone(inputs)["sequence_output"])
        start_logits, end_logits = ops.unstack(logits, 2, axis=-1)
        outputs = {
            "start_logits": float32_output(start_logits, "start_logits"),
            "end_logits": float32_output(end_logits, "end_logits"),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.null_score_diff_threshold = float(null_score_diff_threshold)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Defaults: `keras_albert.training.AdamW(5e-5)` (no decay of LayerNorm
        parameters and biases); the mean of start and end position losses."""
        if optimizer == "auto":
            optimizer = fine_tuning_optimizer(5e-5)
        if loss == "auto":
            position_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            loss = {"start_logits": position_loss, "end_logits": position_loss}
            kwargs.setdefault("loss_weights", {"start_logits": 0.5, "end_logits": 0.5})
        if metrics == "auto":
            metrics = None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"null_score_diff_threshold": self.null_score_diff_threshold})
        return config

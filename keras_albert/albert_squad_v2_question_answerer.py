"""The original SQuAD v2.0 head of google-research/albert (`run_squad_v2.py`).

The head that produced ALBERT's SQuAD 2.0 results (XLNet's, in the
original's `squad_utils.create_v2_model`), over the backbone's sequence
output `h` (`[batch, T, H]`):

- start: `start_logits = Dense(1)(h)`, masked to the positions an answer may
  take (`answer_position_mask`), `start_log_probs = log_softmax`;
- end, conditioned on the start: `Dense(1)(LayerNorm(Dense(H, tanh)(
  concat([h_t, h_start]))))` for every position t. Training reads the gold
  start (`start_positions` in the inputs); inference takes the
  `start_n_top` best starts and, for each, the `end_n_top` best ends;
- answer class: `Dense(1, no bias)(Dropout(Dense(H, tanh)(concat([
  sum_t p_start(t) h_t, h_[CLS]]))))`, one logit per window, large when the
  question has no answer in it.

The loss is the original's: `(start + end) / 2 + 0.5 * sigmoid cross-entropy
of the answer class` (`compile()`'s default). Answers are decoded from the
beam by `keras_albert.squad_v2_answers.decode_beam_answer`. The backbone's
pooler, which this head does not read, is left out of the model's trainable
variables (the backbone itself is not changed).

The model is functional, as keras-hub's tasks are: its graph is the
inference beam. keras-hub's `PipelineModel` is the base class of every task
and gets `Functional` as its base when a functional task is built; building a
subclassed task resets that, which stops the functional tasks built before it
from running. Training inputs (with `start_positions`) run the same layers
outside the graph, since a graph has one set of outputs.
"""

import keras
from keras import ops

from keras_albert.albert_task import AlbertTask, fine_tuning_optimizer, head_initializer

# The original's `tf.contrib.layers.layer_norm` epsilon.
_LAYER_NORM_EPSILON = 1e-12
# The original masks logits with `logits * (1 - p_mask) - 1e30 * p_mask`.
_MASKED_LOGIT = 1e30


def answer_position_mask(segment_ids, padding_mask):
    """The original's `p_mask`: 1.0 where an answer may NOT start or end.

    Windows are packed `[CLS] question [SEP] context [SEP]`, the context and
    its closing `[SEP]` in segment 1. Allowed (0.0) are the context tokens
    and `[CLS]` (position 0, the "no answer" target in training); masked
    (1.0) the question, both `[SEP]`s and the padding.

    Args:
        segment_ids, padding_mask: int `[batch, T]`.

    Returns:
        float32 `[batch, T]`.
    """
    padding_mask = ops.cast(padding_mask, "int32")
    # From the mask itself: a symbolic (functional) tensor has no length.
    positions = ops.cumsum(ops.ones_like(padding_mask), axis=1) - 1
    closing_sep = ops.sum(padding_mask, axis=1, keepdims=True) - 1
    context = ops.logical_and(
        ops.logical_and(ops.equal(ops.cast(segment_ids, "int32"), 1), ops.equal(padding_mask, 1)),
        ops.less(positions, closing_sep),
    )
    allowed = ops.logical_or(context, ops.equal(positions, 0))
    return 1.0 - ops.cast(allowed, "float32")


def _masked_log_softmax(logits, p_mask):
    masked = logits * (1.0 - p_mask) - _MASKED_LOGIT * p_mask
    return masked, ops.log_softmax(masked, axis=-1)


class _EndLogitFeatures(keras.layers.Layer):
    """The end head's features after each start: `concat([h_t, h_start])`, `[batch, k, T, 2H]`.

    Call args: `sequence` (`[batch, T, H]`), `start_index` (int `[batch, k]`).
    A layer because the broadcast needs the sequence length, which only
    the tensors a layer is called with have.
    """

    def call(self, sequence, start_index):
        start_one_hot = ops.one_hot(start_index, ops.shape(sequence)[1], dtype=sequence.dtype)
        start_states = ops.einsum("bth,bkt->bkh", sequence, start_one_hot)
        pairs_shape = (*ops.shape(start_index), *ops.shape(sequence)[1:])
        return ops.concatenate(
            [
                ops.broadcast_to(sequence[:, None, :, :], pairs_shape),
                ops.broadcast_to(start_states[:, :, None, :], pairs_shape),
            ],
            axis=-1,
        )


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertSquadV2QuestionAnswerer(AlbertTask):
    """The original ALBERT SQuAD v2.0 head: beam-searched spans and an answer class.

    Args:
        backbone: `keras_albert.AlbertBackbone`.
        preprocessor: optional preprocessor layer.
        start_n_top: int. Best starts kept at inference (the original's 5).
        end_n_top: int. Best ends kept per start (the original's 5).
        dropout: float. Dropout of the answer-class layer in training (the
            original's `--dropout_prob`).
        null_score_diff_threshold: float. Predict "no answer" when the
            question's answer-class logit (its smallest over windows)
            exceeds this (tuned on a dev set: `best_f1_thresh`).

    Inputs: the backbone's dict; for training (and for `evaluate` with
    labels) also `start_positions` (int `[batch]`, the gold start whose
    state conditions the end logits, as the original's features).

    Outputs, with `start_positions` (training): `start_log_probs`,
    `end_log_probs` (`[batch, T]`) and `cls_logits` (`[batch]`). Without
    (inference): `start_top_log_probs`, `start_top_index`
    (`[batch, start_n_top]`), `end_top_log_probs`, `end_top_index`
    (`[batch, start_n_top * end_n_top]`; entry `i * end_n_top + j` is the
    j-th best end after the i-th best start) and `cls_logits`.

    Example:
    ```python
    reader = keras_albert.AlbertSquadV2QuestionAnswerer(backbone)
    reader.fit(
        {**features, "start_positions": starts},
        {"start_log_probs": starts, "end_log_probs": ends, "cls_logits": is_impossible},
    )
    beam = reader.predict(features)
    ```
    A checkpoint fine-tuned by the original `run_squad_v2.py` (its head
    under `start_logits/`, `end_logits/`, `answer_class/`) converts with
    `python -m keras_albert.convert --source tf1 --input squad_v2_out/
    --output preset/`; then `python -m tasks.run_squad --preset=preset/
    --version_2_with_negative --do_predict ...` predicts with it.
    """

    reads_pooled_output = False

    def __init__(
        self,
        backbone,
        preprocessor=None,
        start_n_top=5,
        end_n_top=5,
        dropout=0.1,
        null_score_diff_threshold=0.0,
        **kwargs,
    ):
        for name, value in (("start_n_top", start_n_top), ("end_n_top", end_n_top)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        hidden_dim = backbone.hidden_dim

        def dense(units, name, activation=None, use_bias=True):
            return keras.layers.Dense(
                units,
                activation=activation,
                use_bias=use_bias,
                kernel_initializer=head_initializer(backbone),
                dtype=backbone.dtype_policy,
                name=name,
            )

        self.start_dense = dense(1, "start_logits_dense")
        self.end_features = _EndLogitFeatures(dtype=backbone.dtype_policy, name="end_logits_features")
        self.end_dense_0 = dense(hidden_dim, "end_logits_dense_0", activation="tanh")
        self.end_layer_norm = keras.layers.LayerNormalization(
            epsilon=_LAYER_NORM_EPSILON, dtype=backbone.dtype_policy, name="end_logits_layer_norm"
        )
        self.end_dense_1 = dense(1, "end_logits_dense_1")
        self.answer_dense_0 = dense(hidden_dim, "answer_class_dense_0", activation="tanh")
        self.answer_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="answer_class_dropout"
        )
        self.answer_dense_1 = dense(1, "answer_class_dense_1", use_bias=False)

        # === Functional model: the inference beam ===
        inputs = backbone.input
        sequence, p_mask, start_log_probs, cls_logits = self._start_and_answer_class(inputs)
        start_top_log_probs, start_top_index = ops.top_k(start_log_probs, start_n_top)
        end_logits = self._end_logits(sequence, start_top_index)
        _, end_log_probs = _masked_log_softmax(end_logits, p_mask[:, None, :])
        end_top_log_probs, end_top_index = ops.top_k(end_log_probs, end_n_top)
        beam = (-1, start_n_top * end_n_top)
        outputs = {
            "start_top_log_probs": start_top_log_probs,
            "start_top_index": ops.cast(start_top_index, "int32"),
            "end_top_log_probs": ops.reshape(end_top_log_probs, beam),
            "end_top_index": ops.reshape(ops.cast(end_top_index, "int32"), beam),
            "cls_logits": cls_logits,
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.start_n_top = start_n_top
        self.end_n_top = end_n_top
        self.dropout = dropout
        self.null_score_diff_threshold = float(null_score_diff_threshold)

    def _start_and_answer_class(self, inputs, training=None):
        """The backbone's sequence output, `p_mask`, the start log-probabilities and the answer-class logits."""
        backbone_inputs = {
            name: inputs[name] for name in ("token_ids", "segment_ids", "padding_mask")
        }
        sequence = self.backbone(backbone_inputs, training=training)["sequence_output"]
        p_mask = answer_position_mask(inputs["segment_ids"], inputs["padding_mask"])

        start_logits = ops.cast(ops.squeeze(self.start_dense(sequence), -1), "float32")
        start_masked, start_log_probs = _masked_log_softmax(start_logits, p_mask)

        # Answer class: [CLS] and the start-probability-weighted state.
        start_probs = ops.cast(ops.softmax(start_masked, axis=-1), sequence.dtype)
        start_weighted = ops.einsum("bth,bt->bh", sequence, start_probs)
        answer = self.answer_dense_0(ops.concatenate([start_weighted, sequence[:, 0, :]], axis=-1))
        answer = self.answer_dropout(answer, training=training)
        cls_logits = ops.cast(ops.squeeze(self.answer_dense_1(answer), -1), "float32")
        return sequence, p_mask, start_log_probs, cls_logits

    def _end_logits(self, sequence, start_index):
        """End logits after each start of `start_index` (int `[batch, k]`), `[batch, k, T]`."""
        hidden = self.end_dense_0(self.end_features(sequence, start_index))
        hidden = self.end_layer_norm(hidden)
        return ops.cast(ops.squeeze(self.end_dense_1(hidden), -1), "float32")

    def call(self, inputs, training=None, mask=None):
        if "start_positions" not in inputs:
            return super().call(inputs, training=training, mask=mask)
        # Training: the end is conditioned on the gold start.
        sequence, p_mask, start_log_probs, cls_logits = self._start_and_answer_class(inputs, training)
        start_positions = ops.reshape(ops.cast(inputs["start_positions"], "int32"), (-1, 1))
        _, end_log_probs = _masked_log_softmax(self._end_logits(sequence, start_positions)[:, 0, :], p_mask)
        return {
            "start_log_probs": start_log_probs,
            "end_log_probs": end_log_probs,
            "cls_logits": cls_logits,
        }

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Defaults: the project's AdamW(5e-5) (no decay on LayerNorm and biases); the original loss.

        `(start + end) / 2 + 0.5 * answer class`: cross-entropy of the gold
        start and end (the log-probabilities are logits of themselves) and
        sigmoid cross-entropy of `is_impossible`. Labels: `{"start_log_probs":
        start positions, "end_log_probs": end positions, "cls_logits":
        is_impossible}`.
        """
        if optimizer == "auto":
            optimizer = fine_tuning_optimizer(5e-5)
        if loss == "auto":
            position_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            loss = {
                "start_log_probs": position_loss,
                "end_log_probs": position_loss,
                "cls_logits": keras.losses.BinaryCrossentropy(from_logits=True),
            }
            kwargs.setdefault(
                "loss_weights", {"start_log_probs": 0.5, "end_log_probs": 0.5, "cls_logits": 0.5}
            )
        if metrics == "auto":
            metrics = None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "start_n_top": self.start_n_top,
                "end_n_top": self.end_n_top,
                "dropout": self.dropout,
                "null_score_diff_threshold": self.null_score_diff_threshold,
            }
        )
        return config

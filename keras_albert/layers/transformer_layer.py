"""One ALBERT transformer block: self-attention and FFN, each post-LayerNorm."""

import keras
from keras import ops

from keras_albert.layers import tensorflow_fusions
from keras_albert.layers.activations import gelu_approximate, get_activation, kept_activation


class _CenteredLayerNormalization(keras.layers.LayerNormalization):
    """`LayerNormalization` (last axis, same weights) with the variance as `mean((x - mean)²)`.

    Keras' TensorFlow path computes the variance with `SquaredDifference`,
    which full-integer TFLite runs on a slow int8 reference kernel outside
    XNNPACK (a fifth of ALBERT-base's int8 op time); a subtraction and a
    square run inside it. Computed in at least float32, as Keras does; in
    training on TensorFlow as one compiled kernel each way
    (`tensorflow_fusions`), which can also add the residual and bias first.
    """

    def call(self, inputs, training=None):
        if training and tensorflow_fusions.on_tensorflow():
            return self.compiled_for_training(inputs)
        output, _, _ = tensorflow_fusions.centered_layer_norm(inputs, self.gamma, self.beta, self.epsilon)
        return ops.cast(output, self.compute_dtype)

    def compiled_for_training(self, x, *more):
        """`LayerNorm(x + more...)` (residuals, a bias) on TensorFlow, one compiled kernel each way."""
        return tensorflow_fusions.layer_norm(x, self.gamma, self.beta, *more, epsilon=self.epsilon)


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertTransformerLayer(keras.layers.Layer):
    """A post-LayerNorm transformer block as in ALBERT and BERT.

    `x = LayerNorm(x + Dropout(Attention(x)))`, then
    `x = LayerNorm(x + Dropout(Dense(act(Dense(x)))))`.

    Query, key and value share one `[H, 3H]` projection (columns ordered
    query | key | value, heads contiguous inside each): one matmul instead of
    three, which is faster on every backend. Converters split and join it.
    Attention runs through `keras.ops.dot_product_attention`, which uses
    fused / flash kernels where the backend has them; with attention-dropout
    in training the probabilities are computed explicitly so they can be
    dropped, as in the original.

    Args:
        num_heads: int. Number of attention heads; divides `hidden_dim`.
        hidden_dim: int. H, the block's width.
        intermediate_dim: int. Width of the FFN's inner layer.
        activation: string or callable. FFN activation (see
            `keras_albert.layers.get_activation`).
        dropout: float. Dropout on the attention output and the FFN output.
        attention_dropout: float. Dropout on the attention probabilities.
        layer_norm_epsilon: float.
        initializer_range: float. Stddev of the truncated-normal initializer.

    Call arguments:
        x: float tensor `[batch, seq_len, hidden_dim]`.
        padding_mask: optional tensor `[batch, seq_len]`, 1 for real tokens.
        first_token_only: bool. Compute the output of the first position
            only (what the pooler reads), attending over all positions:
            the same values as `output[:, :1]` for a fraction of the work.

    Returns:
        float tensor `[batch, seq_len, hidden_dim]` (`[batch, 1,
        hidden_dim]` with `first_token_only=True`).
    """

    def __init__(
        self,
        num_heads,
        hidden_dim,
        intermediate_dim,
        activation="gelu_approximate",
        dropout=0.0,
        attention_dropout=0.0,
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads != 0:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.activation = kept_activation(activation)
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.head_dim = hidden_dim // num_heads

        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)

        def dense(units, name, activation=None):
            return keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=initializer,
                dtype=self.dtype_policy,
                name=name,
            )

        def layer_norm(name):
            return _CenteredLayerNormalization(
                epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name=name
            )

        self.qkv_dense = dense(3 * hidden_dim, "qkv_dense")
        self.attention_output_dense = dense(hidden_dim, "attention_output_dense")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.ffn_intermediate_dense = dense(
            intermediate_dim, "ffn_intermediate_dense", get_activation(self.activation)
        )
        self.ffn_output_dense = dense(hidden_dim, "ffn_output_dense")
        self.ffn_layer_norm = layer_norm("ffn_layer_norm")
        self.attention_dropout_layer = keras.layers.Dropout(
            attention_dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self.output_dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )

    def build(self, x_shape, padding_mask_shape=None):
        hidden_shape = tuple(x_shape[:-1]) + (self.hidden_dim,)
        self.qkv_dense.build(hidden_shape)
        self.attention_output_dense.build(hidden_shape)
        self.attention_layer_norm.build(hidden_shape)
        self.ffn_intermediate_dense.build(hidden_shape)
        self.ffn_output_dense.build(
            tuple(x_shape[:-1]) + (self.intermediate_dim,)
        )
        self.ffn_layer_norm.build(hidden_shape)

    def _attend(self, query, key, value, mask, training):
        """Scaled dot-product attention over `[batch, seq, heads, head_dim]`."""
        if not (training and self.attention_dropout > 0):
            return ops.dot_product_attention(query, key, value, mask=mask)
        scores = ops.einsum("btnd,bsnd->bnts", query, key)
        scores = scores * ops.cast(1.0 / self.head_dim**0.5, scores.dtype)
        if mask is not None:
            # Finite fill keeps rows that are entirely padding free of NaN.
            scores = ops.where(mask, scores, ops.cast(-1e9, scores.dtype))
        probabilities = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        probabilities = ops.cast(probabilities, value.dtype)
        probabilities = self.attention_dropout_layer(probabilities, training=training)
        return ops.einsum("bnts,bsnd->btnd", probabilities, value)

    def call(self, x, padding_mask=None, training=None, first_token_only=False):
        batch_size, sequence_length = ops.shape(x)[0], ops.shape(x)[1]
        num_queries = 1 if first_token_only else sequence_length
        # The projections, LayerNorms and residuals run on `[batch * seq,
        # features]` rows: on a 3-D input the TensorFlow backend's matmul is
        # a tensordot, whose run-time shape arithmetic added ~8 ops around
        # every projection of the exported TFLite model (interpreter time
        # close to that of int8's matmuls).
        rows = ops.reshape(x, (-1, self.hidden_dim))
        heads_shape = (batch_size, sequence_length, self.num_heads, self.head_dim)
        # Split on the last axis before the head reshape: slicing the 5-D
        # `[b, s, 3, heads, head_dim]` view ran as three slow strided-slice
        # kernels per layer in TFLite (a sixth of int8's non-matmul time).
        query, key, value = (
            ops.reshape(part, heads_shape) for part in ops.split(self.qkv_dense(rows), 3, axis=-1)
        )
        if first_token_only:
            # Only the first ([CLS]) position is asked for: it still attends
            # to every key, but the output projection, FFN and LayerNorms
            # run on one position instead of `seq_len`.
            query, rows = query[:, :1], x[:, 0]
        mask = None
        if padding_mask is not None:
            # [batch, 1 (heads), 1 (queries), seq_len (keys)]
            mask = ops.expand_dims(ops.cast(padding_mask, "bool"), (1, 2))
        attended = self._attend(query, key, value, mask, training)
        attended = ops.reshape(attended, (-1, self.hidden_dim))
        rows = self._project_and_normalize(self.attention_output_dense, attended, rows, self.attention_layer_norm, training)
        intermediate = self._ffn_intermediate(rows, training)
        rows = self._project_and_normalize(self.ffn_output_dense, intermediate, rows, self.ffn_layer_norm, training)
        return ops.reshape(rows, (batch_size, num_queries, self.hidden_dim))

    def _ffn_intermediate(self, rows, training):
        """`ffn_intermediate_dense(rows)`: in training on TensorFlow a plain
        matmul and one kernel for the bias and tanh GELU. (In inference
        oneDNN fuses the Dense's bias and GELU into its matmul.)"""
        dense = self.ffn_intermediate_dense
        if training and dense.activation is gelu_approximate and tensorflow_fusions.fuses(dense):
            return tensorflow_fusions.bias_tanh_gelu(tensorflow_fusions.matmul(dense, rows), dense.bias)
        return dense(rows)

    def _project_and_normalize(self, dense, inputs, residual, layer_norm, training):
        """`layer_norm(residual + dropout(dense(inputs)))`: in training on
        TensorFlow without dropout, a plain matmul and one kernel for the rest."""
        if training and self.dropout == 0 and tensorflow_fusions.fuses(dense):
            return layer_norm.compiled_for_training(tensorflow_fusions.matmul(dense, inputs), residual, dense.bias)
        output = self.output_dropout_layer(dense(inputs), training=training)
        return layer_norm(residual + output, training=training)

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
        return tuple(x_shape)

    def compute_output_spec(self, x, padding_mask=None, training=None, first_token_only=False):
        shape = (x.shape[0], 1, x.shape[2]) if first_token_only else x.shape
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.saving.serialize_keras_object(self.activation)
                if callable(self.activation)
                else self.activation,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config

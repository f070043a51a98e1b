"""The block's fused TensorFlow paths compute what the plain functions do, with exact gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_albert.layers import tensorflow_fusions
from keras_albert.layers.activations import gelu_approximate
from keras_albert.layers.transformer_layer import AlbertTransformerLayer


def _values_and_gradients(function, inputs, upstream):
    """`function(*inputs)` and the gradient of `sum(output * upstream)` for every input, by the tape."""
    inputs = [tf.convert_to_tensor(value) for value in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        output = function(*inputs)
    return [output] + tape.gradient(output, inputs, output_gradients=tf.cast(upstream, output.dtype))


def _as_float32(tensors):
    return [np.asarray(tf.cast(tensor, tf.float32)) for tensor in tensors]


def _assert_all_close(actual, expected, names, tolerance):
    for name, got, want in zip(names, _as_float32(actual), _as_float32(expected)):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=name)


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("bfloat16", 1e-2)])
def test_training_bias_gelu_has_the_tanh_gelu_values_and_gradients(dtype, tolerance):
    """Against float32 autodiff of `gelu_approximate(x + bias)` on the same inputs:
    the kernel computes in float32 and rounds once (bf16 autodiff rounds at every op)."""
    rng = np.random.default_rng(0)
    # Both tails and the curved middle, where a wrong derivative term shows most.
    # (XLA's tanh is a rational approximation: float32 agrees to ~5e-6.)
    x = tf.cast(np.linspace(-6, 6, 3 * 97).reshape(3, 97), dtype)
    bias = rng.normal(0, 0.5, 97).astype("float32")
    upstream = tf.cast(rng.normal(size=(3, 97)), dtype)
    expected = _values_and_gradients(
        lambda x, bias: gelu_approximate(x + bias), [tf.cast(x, "float32"), bias], tf.cast(upstream, "float32")
    )
    actual = _values_and_gradients(tensorflow_fusions.bias_tanh_gelu, [x, bias], upstream)
    assert actual[0].dtype == x.dtype and actual[1].dtype == x.dtype
    _assert_all_close(actual, expected, ("value", "x", "bias"), tolerance)


def _plain_layer_norm(x, gamma, beta, *more):
    output, _, _ = tensorflow_fusions.centered_layer_norm(sum(more, x), gamma, beta, 1e-12)
    return output


@pytest.mark.parametrize("shape", [(5, 24), (2, 3, 24)])
@pytest.mark.parametrize("added", ["nothing", "residual and bias"])
def test_training_layer_norm_has_the_layer_norm_values_and_gradients(shape, added):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 3 + 1.5).astype("float32")
    gamma = rng.uniform(0.5, 1.5, shape[-1]).astype("float32")
    beta = rng.normal(0, 0.5, shape[-1]).astype("float32")
    more = [] if added == "nothing" else [rng.normal(size=shape).astype("float32"), rng.normal(0, 2, shape[-1]).astype("float32")]
    upstream = rng.normal(size=shape).astype("float32")

    def fused(x, gamma, beta, *more):
        return tensorflow_fusions.layer_norm(x, gamma, beta, *more, epsilon=1e-12)

    expected = _values_and_gradients(_plain_layer_norm, [x, gamma, beta, *more], upstream)
    actual = _values_and_gradients(fused, [x, gamma, beta, *more], upstream)
    _assert_all_close(actual, expected, ["value", "x", "gamma", "beta", "residual", "bias"], 1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_a_training_pass_of_the_block_has_the_inference_pass_values_and_gradients(dropout):
    """The block in training (plain matmuls and compiled kernels; with dropout,
    Dense and the compiled LayerNorm) against inference (Dense, plain
    functions), dropout made a no-op."""
    keras.utils.set_random_seed(0)
    layer = AlbertTransformerLayer(
        num_heads=2, hidden_dim=16, intermediate_dim=64, initializer_range=0.5, dropout=dropout
    )
    x = tf.random.normal([2, 7, 16]) * 2
    layer(x)
    rng = np.random.default_rng(2)
    for weight in layer.weights:
        if weight.path.rsplit("/", 1)[-1] in ("gamma", "beta", "bias"):
            weight.assign(rng.normal(0.5, 0.4, weight.shape).astype("float32"))
    layer.output_dropout_layer.rate = 0.0
    results = {}
    for training in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(x)
            output = layer(x, training=training)
            loss = tf.reduce_sum(output**3)
        results[training] = [output] + tape.gradient(loss, [x] + layer.trainable_weights)
    names = ["output", "x"] + [weight.path for weight in layer.trainable_weights]
    for name, trained, inferred in zip(names, _as_float32(results[True]), _as_float32(results[False])):
        np.testing.assert_allclose(trained, inferred, rtol=1e-5, atol=1e-5 * np.abs(inferred).max(), err_msg=name)

"""The transformer block's TFLite-friendly formulations compute what Keras' own do."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from bench import tflite_profile
from export import tflite
from keras_albert.layers import SharedGroupEncoder
from keras_albert.layers.activations import gelu_approximate
from keras_albert.layers.transformer_layer import AlbertTransformerLayer, _CenteredLayerNormalization


def _informative_layer_norms(dtype, width=32, seed=0):
    rng = np.random.default_rng(seed)
    gamma = (1 + rng.choice([-1, 1], width) * rng.uniform(0.2, 0.5, width)).astype("float32")
    beta = rng.normal(0, 0.3, width).astype("float32")
    ours = _CenteredLayerNormalization(epsilon=1e-12, dtype=dtype)
    reference = keras.layers.LayerNormalization(epsilon=1e-12, dtype=dtype)
    for layer in (ours, reference):
        layer.build((None, None, width))
        layer.set_weights([gamma, beta])
    return ours, reference


@pytest.mark.parametrize("dtype, tolerance", [("float32", 2e-6), ("mixed_bfloat16", 2e-2)])
def test_centered_layer_norm_matches_keras_layer_norm(dtype, tolerance):
    ours, reference = _informative_layer_norms(dtype)
    x = (np.random.default_rng(1).standard_normal((2, 7, 32)) * 3 + 1.5).astype("float32")
    expected = np.asarray(reference(x), "float32")
    actual = ours(x)
    assert keras.backend.standardize_dtype(actual.dtype) == reference.compute_dtype
    np.testing.assert_allclose(np.asarray(actual, "float32"), expected, atol=tolerance, rtol=0)
    assert [w.path.split("/")[-1] for w in ours.weights] == ["gamma", "beta"]


def _op_types(flatbuffer):
    return [(name, len(tensors[op.inputs[0]].shape)) for name, op, tensors in tflite_profile.operators(flatbuffer)]


def test_int8_block_has_no_slow_int8_kernels_and_matches_float():
    """No SquaredDifference (int8 reference kernel) and no 5-D strided slice of the fused QKV."""
    keras.utils.set_random_seed(0)
    layer = AlbertTransformerLayer(num_heads=2, hidden_dim=16, intermediate_dim=32, initializer_range=0.2)
    inputs = keras.Input((None, 16), batch_size=1)
    model = keras.Model(inputs, layer(inputs))
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, 9, 16)).astype("float32") for _ in range(30)]
    flatbuffers = {}
    for quantization in ("float32", "int8"):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        flatbuffers[quantization] = tflite.convert_quantized(converter, quantization, lambda: ([s] for s in samples))
    op_types = _op_types(flatbuffers["int8"])
    assert "SQUARED_DIFFERENCE" not in {name for name, _ in op_types}
    assert not [rank for name, rank in op_types if name == "STRIDED_SLICE" and rank == 5]
    expected = np.asarray(model(samples[0]))
    for quantization, tolerance in (("float32", 1e-4), ("int8", 0.35)):
        interpreter = Interpreter(model_content=flatbuffers[quantization])
        (signature,) = interpreter.get_signature_list()
        runner = interpreter.get_signature_runner(signature)
        (name,) = interpreter.get_signature_list()[signature]["inputs"]
        (output,) = runner(**{name: samples[0]}).values()
        np.testing.assert_allclose(output, expected, atol=tolerance)


def _through_saved_config(layer):
    """The layer rebuilt from its config as a `.keras` file stores it (JSON)."""
    stored = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    return keras.saving.deserialize_keras_object(stored)


def test_a_callable_activation_comes_back_from_the_config_as_the_same_function():
    layer = _through_saved_config(
        AlbertTransformerLayer(num_heads=2, hidden_dim=16, intermediate_dim=32, activation=gelu_approximate)
    )
    assert layer.activation is gelu_approximate
    assert layer.ffn_intermediate_dense.activation is gelu_approximate
    encoder = _through_saved_config(
        SharedGroupEncoder(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, activation=gelu_approximate)
    )
    assert encoder.get_config()["activation"] is gelu_approximate

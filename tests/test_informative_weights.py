"""tests/informative_weights.py gives every tensor a value that matters."""

import keras
import numpy as np
import pytest
from informative_weights import randomize_keras_weights, randomize_torch_weights

import keras_albert


def assert_informative(named_arrays):
    """Gammas 1 +/- [0.2, 0.5]; biases/betas and kernels non-zero at ~0.2."""
    roles = {"gamma": [], "beta": [], "bias": [], "kernel": []}
    for role, value in named_arrays:
        roles[role].append(value.ravel())
    gammas = np.concatenate(roles["gamma"])
    assert (np.abs(gammas - 1) >= 0.2 - 1e-6).all() and (np.abs(gammas - 1) <= 0.5 + 1e-6).all()
    assert (gammas > 1).any() and (gammas < 1).any()
    for role in ("beta", "bias", "kernel"):
        values = np.concatenate(roles[role])
        assert (values != 0).all(), role
        assert 0.15 < values.std() < 0.25, (role, values.std())


def test_every_keras_weight_is_informative_and_seeded():
    def pretrainer(seed):
        backbone = keras_albert.AlbertBackbone(
            vocabulary_size=40, num_layers=2, num_heads=2, embedding_dim=8, hidden_dim=16,
            intermediate_dim=24, num_groups=2, max_sequence_length=16,
        )
        return randomize_keras_weights(keras_albert.AlbertPretrainer(backbone), seed=seed)

    model = pretrainer(0)
    names = {"gamma": "gamma", "beta": "beta", "bias": "bias"}
    assert_informative(
        (names.get(v.path.rsplit("/", 1)[-1], "kernel"), keras.ops.convert_to_numpy(v)) for v in model.weights
    )
    again = pretrainer(0)
    for first, second in zip(model.weights, again.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second))


def test_keras_weights_do_not_depend_on_the_models_built_before():
    def two_dense_layers():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dense(4)(inputs)))

    def weights():
        return [keras.ops.convert_to_numpy(v) for v in randomize_keras_weights(two_dense_layers()).weights]

    keras.backend.clear_session()
    first = weights()  # layers "dense" and "dense_1"
    for _ in range(7):
        keras.layers.Dense(1)
    # "dense_9" and "dense_10": in path order the second layer now comes first.
    for before, after in zip(first, weights()):
        np.testing.assert_array_equal(before, after)


def test_every_torch_parameter_is_informative_and_ties_are_kept():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.AlbertConfig(
        vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=16,
    )
    model = randomize_torch_weights(transformers.AlbertForMaskedLM(config))
    layer_norms = {
        id(parameter): "gamma" if name == "weight" else "beta"
        for module in model.modules() if isinstance(module, torch.nn.LayerNorm)
        for name, parameter in module.named_parameters(recurse=False)
    }
    # Embeddings, attention, `full_layer_layer_norm` (not named LayerNorm) and MLM head.
    assert len(layer_norms) == 2 * 4
    assert id(model.albert.encoder.albert_layer_groups[0].albert_layers[0].full_layer_layer_norm.weight) in layer_norms
    assert_informative(
        (layer_norms.get(id(p), "bias" if name.endswith("bias") else "kernel"), p.detach().numpy())
        for name, p in model.named_parameters()
    )
    # The decoder is still the word-embedding table.
    assert model.predictions.decoder.weight.data_ptr() == model.albert.embeddings.word_embeddings.weight.data_ptr()

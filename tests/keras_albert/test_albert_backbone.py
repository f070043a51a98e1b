"""AlbertBackbone: numerical parity with HuggingFace, saving, and bad input.

The HuggingFace weights are copied with the converter's own name table
(`keras_albert.convert.load_huggingface_tensors`), so this also proves the
mapping `python -m keras_albert.convert --source huggingface` uses.
"""

import os

import keras
import numpy as np
import pytest
from informative_weights import randomize_keras_weights, randomize_torch_weights

import keras_albert
from keras_albert.convert import (
    backbone_config_from_huggingface_config,
    load_huggingface_tensors,
)

TINY = {
    "vocabulary_size": 40,
    "num_layers": 4,
    "num_heads": 2,
    "embedding_dim": 8,
    "hidden_dim": 16,
    "intermediate_dim": 24,
    "num_groups": 2,
    "num_inner_repetitions": 2,
    "max_sequence_length": 16,
}

# HuggingFace AlbertConfig fields, one dict per case:
# grouped sharing with several blocks per group and E != H; E == H with
# full sharing and four heads; three groups, exact GELU, E > H.
PARITY_CONFIGS = {
    "groups2_inner2_E8_H16": dict(
        embedding_size=8, hidden_size=16, num_hidden_layers=4, num_hidden_groups=2,
        inner_group_num=2, num_attention_heads=2, intermediate_size=32, hidden_act="gelu_new",
    ),
    "groups1_inner1_E16_H16": dict(
        embedding_size=16, hidden_size=16, num_hidden_layers=3, num_hidden_groups=1,
        inner_group_num=1, num_attention_heads=4, intermediate_size=32, hidden_act="gelu_new",
    ),
    "groups3_inner1_E24_H12_exact_gelu": dict(
        embedding_size=24, hidden_size=12, num_hidden_layers=6, num_hidden_groups=3,
        inner_group_num=1, num_attention_heads=3, intermediate_size=20, hidden_act="gelu",
    ),
    "groups1_inner3_relu": dict(
        embedding_size=6, hidden_size=16, num_hidden_layers=2, num_hidden_groups=1,
        inner_group_num=3, num_attention_heads=2, intermediate_size=16, hidden_act="relu",
    ),
}


def tiny_inputs(batch_size=3, length=10, vocabulary_size=40, seed=0):
    """A batch with padding: rows of length 10, 7 and 4."""
    rng = np.random.RandomState(seed)
    lengths = np.array([length, 7, 4])[:batch_size]
    padding_mask = (np.arange(length) < lengths[:, None]).astype("int32")
    token_ids = rng.randint(5, vocabulary_size, (batch_size, length)).astype("int32") * padding_mask
    segment_ids = ((np.arange(length) >= 3) & (padding_mask == 1)).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def assert_same_outputs(first, second):
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(first[key]), keras.ops.convert_to_numpy(second[key])
        )


@pytest.mark.parametrize("case", sorted(PARITY_CONFIGS))
def test_outputs_match_huggingface_albert_model_within_1e5(case):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_config = transformers.AlbertConfig(
        vocab_size=40, max_position_embeddings=16, attn_implementation="eager",
        **PARITY_CONFIGS[case],
    )
    # Kernels N(0, 0.2), non-zero biases, gammas away from 1: at HF's
    # default init an attention-scale or GELU-variant bug moves the
    # outputs by less than the tolerance.
    hf_model = randomize_torch_weights(transformers.AlbertModel(hf_config).eval())
    backbone = keras_albert.AlbertBackbone(
        **backbone_config_from_huggingface_config(hf_config.to_dict())
    )
    state = {name: tensor.numpy() for name, tensor in hf_model.state_dict().items()}
    load_huggingface_tensors(backbone, state, "AlbertModel")

    inputs = tiny_inputs()
    outputs = backbone(inputs)
    with torch.no_grad():
        reference = hf_model(
            input_ids=torch.tensor(inputs["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(inputs["padding_mask"], dtype=torch.long),
        )
    # Every position, padded ones included.
    np.testing.assert_allclose(
        outputs["sequence_output"].numpy(), reference.last_hidden_state.numpy(), rtol=0, atol=1e-5
    )
    np.testing.assert_allclose(
        outputs["pooled_output"].numpy(), reference.pooler_output.numpy(), rtol=0, atol=1e-5
    )


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    backbone = keras_albert.AlbertBackbone(**TINY)
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, keras_albert.AlbertBackbone)
    assert restored.get_config() == backbone.get_config()
    inputs = tiny_inputs()
    assert_same_outputs(backbone(inputs), restored(inputs))


def test_preset_save_then_load_gives_identical_outputs(tmp_path):
    backbone = keras_albert.AlbertBackbone(**TINY, activation="gelu")
    backbone.save_to_preset(str(tmp_path))
    restored = keras_albert.AlbertBackbone.from_preset(str(tmp_path))
    assert restored.activation == "gelu"
    inputs = tiny_inputs()
    assert_same_outputs(backbone(inputs), restored(inputs))


def test_num_layers_not_divisible_by_num_groups_raises():
    with pytest.raises(ValueError, match="num_layers=4, num_groups=3"):
        keras_albert.AlbertBackbone(**{**TINY, "num_groups": 3})


def test_hidden_dim_not_divisible_by_num_heads_raises():
    with pytest.raises(ValueError, match="hidden_dim=16, num_heads=3"):
        keras_albert.AlbertBackbone(**{**TINY, "num_heads": 3})


def test_sequence_longer_than_max_sequence_length_raises():
    backbone = keras_albert.AlbertBackbone(**TINY)
    with pytest.raises(ValueError, match="max_sequence_length=16"):
        backbone(tiny_inputs(length=20))


def test_preset_directory_without_weights_raises_naming_the_file(tmp_path):
    keras_albert.AlbertBackbone(**TINY).save_to_preset(str(tmp_path))
    os.remove(tmp_path / "model.weights.h5")
    with pytest.raises(ValueError, match="model.weights.h5"):
        keras_albert.AlbertBackbone.from_preset(str(tmp_path))
    # The architecture alone still loads when asked for.
    assert keras_albert.AlbertBackbone.from_preset(str(tmp_path), load_weights=False).num_layers == 4


def test_preset_directory_without_config_raises_naming_the_file(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        keras_albert.AlbertBackbone.from_preset(str(tmp_path))


def test_named_preset_without_converted_weights_raises_unless_load_weights_false(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ALBERT_PRESETS", str(tmp_path))
    with pytest.raises(ValueError, match="keras_albert.convert"):
        keras_albert.AlbertBackbone.from_preset("albert_base_v2")
    backbone = keras_albert.AlbertBackbone.from_preset("albert_base_v2", load_weights=False)
    # The published size of ALBERT-base (keras-hub's preset metadata too).
    assert backbone.count_params() == 11_683_584


def v1_config(**overrides):
    """albert_base_v1's settings (dropout 0.1 on hidden states and attention
    probabilities, tanh GELU) at a tiny size."""
    from keras_albert.albert_presets import BACKBONE_PRESETS

    config = {**BACKBONE_PRESETS["albert_base_v1"], **TINY}
    assert config["attention_dropout"] > 0 and config["dropout"] > 0
    return {**config, **overrides}


def test_training_attention_path_equals_the_fused_path_on_a_v1_config(monkeypatch):
    """With attention dropout > 0 training computes the probabilities
    explicitly; at dropout rate 0 that must be the fused path's numbers."""
    backbone = randomize_keras_weights(keras_albert.AlbertBackbone(**v1_config()))
    inputs = tiny_inputs()
    fused = backbone(inputs, training=False)
    # Every dropout a no-op, while the config still selects the explicit path.
    for layer in backbone._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            monkeypatch.setattr(layer, "rate", 0.0)
    softmax_calls = []
    softmax = keras.ops.softmax
    monkeypatch.setattr(keras.ops, "softmax", lambda *a, **k: softmax_calls.append(1) or softmax(*a, **k))
    explicit = backbone(inputs, training=True)
    # One explicit softmax per block run, plus the pooler's first-token pass.
    assert len(softmax_calls) == TINY["num_layers"] * TINY["num_inner_repetitions"] + 1
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(explicit[key]),
            keras.ops.convert_to_numpy(fused[key]),
            rtol=0, atol=1e-5, err_msg=key,
        )


def reference_block(layer, x, padding_mask, probability_scale=None):
    """One post-LN ALBERT block in NumPy (float64), from the original
    `modeling.py`: the attention probabilities are multiplied by
    `probability_scale` (a dropout mask, already divided by the keep rate)."""
    weights = {
        name: keras.ops.convert_to_numpy(getattr(layer, name).kernel).astype("float64")
        for name in ("qkv_dense", "attention_output_dense", "ffn_intermediate_dense", "ffn_output_dense")
    }
    biases = {
        name: keras.ops.convert_to_numpy(getattr(layer, name).bias).astype("float64")
        for name in weights
    }

    def layer_norm(values, norm):
        mean = values.mean(-1, keepdims=True)
        variance = ((values - mean) ** 2).mean(-1, keepdims=True)
        normalized = (values - mean) / np.sqrt(variance + norm.epsilon)
        return normalized * keras.ops.convert_to_numpy(norm.gamma) + keras.ops.convert_to_numpy(norm.beta)

    def gelu_tanh(values):
        return 0.5 * values * (1 + np.tanh(np.sqrt(2 / np.pi) * (values + 0.044715 * values**3)))

    batch, length, hidden = x.shape
    heads, head_dim = layer.num_heads, layer.head_dim
    qkv = x @ weights["qkv_dense"] + biases["qkv_dense"]
    query, key, value = np.split(qkv, 3, axis=-1)
    split = lambda t: t.reshape(batch, length, heads, head_dim)  # noqa: E731
    scores = np.einsum("btnd,bsnd->bnts", split(query), split(key)) / np.sqrt(head_dim)
    scores = np.where(padding_mask[:, None, None, :] == 1, scores, -1e9)
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    if probability_scale is not None:
        probabilities = probabilities * probability_scale
    context = np.einsum("bnts,bsnd->btnd", probabilities, split(value)).reshape(batch, length, hidden)
    attention = context @ weights["attention_output_dense"] + biases["attention_output_dense"]
    x = layer_norm(x + attention, layer.attention_layer_norm)
    inner = gelu_tanh(x @ weights["ffn_intermediate_dense"] + biases["ffn_intermediate_dense"])
    ffn = inner @ weights["ffn_output_dense"] + biases["ffn_output_dense"]
    return layer_norm(x + ffn, layer.ffn_layer_norm)


def test_training_attention_dropout_matches_a_numpy_block_with_the_same_seeded_mask(monkeypatch):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the mask is recovered from TensorFlow's stateless dropout")
    from keras_albert.layers import AlbertTransformerLayer

    config = v1_config()
    layer = AlbertTransformerLayer(
        num_heads=config["num_heads"], hidden_dim=config["hidden_dim"],
        intermediate_dim=config["intermediate_dim"], activation=config["activation"],
        dropout=config["dropout"], attention_dropout=config["attention_dropout"],
    )
    inputs = tiny_inputs()
    rng = np.random.RandomState(1)
    x = rng.standard_normal((3, 10, config["hidden_dim"])).astype("float32")
    layer.build(x.shape)
    randomize_keras_weights(layer)
    # Only the attention probabilities are dropped, so the mask is all there is to match.
    monkeypatch.setattr(layer.output_dropout_layer, "rate", 0.0)
    dropout = layer.attention_dropout_layer
    seed_state = keras.ops.convert_to_numpy(dropout.seed_generator.state)
    dropped = keras.ops.convert_to_numpy(layer(x, padding_mask=inputs["padding_mask"], training=True))
    # The same seed state drawn again gives the mask the layer used.
    dropout.seed_generator.state.assign(seed_state)
    heads = config["num_heads"]
    mask = keras.ops.convert_to_numpy(
        keras.random.dropout(np.ones((3, heads, 10, 10), "float32"), dropout.rate, seed=dropout.seed_generator)
    )
    assert 0 < (mask == 0).mean() < 0.3  # some probabilities were dropped

    padding_mask = inputs["padding_mask"]
    expected = reference_block(layer, x.astype("float64"), padding_mask, mask)
    np.testing.assert_allclose(dropped, expected, rtol=0, atol=1e-5)
    # The check has power: without the mask the numbers differ.
    undropped = reference_block(layer, x.astype("float64"), padding_mask)
    assert np.abs(undropped - expected).max() > 1e-2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x, padding_mask=padding_mask, training=False)),
        undropped, rtol=0, atol=1e-5,
    )

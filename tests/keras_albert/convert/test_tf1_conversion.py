"""Original TF1 checkpoints -> keras-albert presets, checked against HuggingFace.

The checkpoints are written under the original variable names from the
weights of random HuggingFace models (`reference_models`), so the converted
models can be compared with the PyTorch reference.
"""

import json
import os

import keras
import numpy as np
import pytest
from informative_weights import randomize_keras_weights
from reference_models import (
    albert_config_json,
    assert_close,
    hf_forward,
    make_batch,
    make_hf_model,
    tf1_variables_from_hf,
    write_tf1_checkpoint,
)

import keras_albert
from keras_albert.convert import (
    backbone_config_from_albert_config,
    convert_checkpoint,
    export_checkpoint,
    load_tf1_checkpoint,
)
from keras_albert.convert.task_models import build_model


def write_release(folder, hf_model, head, prefix="", extra=None, projection=True, config=None):
    """A release-style folder: albert_config.json + model.ckpt-best.*."""
    os.makedirs(folder, exist_ok=True)
    variables = tf1_variables_from_hf(hf_model, head, projection)
    variables = {prefix + name: value for name, value in variables.items()}
    variables.update(extra or {})
    write_tf1_checkpoint(os.path.join(folder, "model.ckpt-best"), variables)
    with open(os.path.join(folder, "albert_config.json"), "w") as file:
        json.dump(config or albert_config_json(hf_model), file)
    return folder


@pytest.fixture(scope="module")
def pretraining_release(tmp_path_factory):
    """A pretraining checkpoint with LAMB slots and a step counter."""
    hf_model = make_hf_model("AlbertForPreTraining")
    slots = {
        "bert/embeddings/word_embeddings/lamb_m": np.zeros((64, 8), "float32"),
        "bert/embeddings/word_embeddings/lamb_v": np.zeros((64, 8), "float32"),
        "global_step": np.array(125000, "int64"),
    }
    folder = write_release(tmp_path_factory.mktemp("albert_base"), hf_model, "pretraining", extra=slots)
    return hf_model, folder


def test_tf1_gelu_maps_to_the_tanh_approximation():
    config = backbone_config_from_albert_config({**albert_config_json(make_hf_model("AlbertModel"))})
    assert config["activation"] == "gelu_approximate"
    assert (config["num_groups"], config["num_inner_repetitions"]) == (2, 2)


def test_pretraining_checkpoint_converts_to_a_preset_matching_huggingface(pretraining_release, tmp_path):
    hf_model, folder = pretraining_release
    model = convert_checkpoint("tf1", folder, tmp_path / "preset")
    assert isinstance(model, keras_albert.AlbertPretrainer)

    batch = make_batch()
    positions = np.array([[1, 4, 9], [0, 2, 6], [3, 1, 0]], "int32")
    reference = hf_forward(hf_model, batch)
    pretrainer = keras_albert.AlbertPretrainer.from_preset(str(tmp_path / "preset"))
    outputs = pretrainer({**batch, "mask_positions": positions})
    expected_mlm = np.take_along_axis(reference.prediction_logits.numpy(), positions[..., None], axis=1)
    assert_close(outputs["mlm_logits"], expected_mlm)
    assert_close(outputs["sop_logits"], reference.sop_logits.numpy())

    # Without its heads, the same preset is a backbone.
    backbone = keras_albert.AlbertBackbone.from_preset(str(tmp_path / "preset"))
    hidden = hf_forward(hf_model.albert, batch)
    outputs = backbone(batch)
    assert_close(outputs["sequence_output"], hidden.last_hidden_state.numpy())
    assert_close(outputs["pooled_output"], hidden.pooler_output.numpy())


def test_checkpoint_prefix_loads_into_a_given_backbone_logging_the_unused_heads(pretraining_release, caplog):
    hf_model, folder = pretraining_release
    config = backbone_config_from_albert_config(os.path.join(folder, "albert_config.json"))
    backbone = keras_albert.AlbertBackbone(**config)
    with caplog.at_level("WARNING"):
        load_tf1_checkpoint(os.path.join(folder, "model.ckpt-best"), model=backbone)
    assert "cls/seq_relationship/output_weights" in caplog.text
    batch = make_batch()
    assert_close(backbone(batch)["sequence_output"], hf_forward(hf_model.albert, batch).last_hidden_state.numpy())
    # task="backbone" builds the same thing.
    rebuilt = load_tf1_checkpoint(folder, task="backbone")
    assert type(rebuilt) is keras_albert.AlbertBackbone
    for ours, theirs in zip(backbone.weights, rebuilt.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_classifier_checkpoint_restores_its_head_from_the_preset(tmp_path):
    hf_model = make_hf_model("AlbertForSequenceClassification", num_labels=3)
    folder = write_release(tmp_path / "sst", hf_model, "classifier")
    convert_checkpoint("tf1", folder, tmp_path / "preset")
    classifier = keras_albert.AlbertTextClassifier.from_preset(str(tmp_path / "preset"))
    assert classifier.num_classes == 3
    batch = make_batch()
    assert_close(classifier(batch), hf_forward(hf_model, batch).logits.numpy())


def test_race_checkpoint_converts_to_multiple_choice_when_asked(tmp_path):
    hf_model = make_hf_model("AlbertForMultipleChoice", seed=3)
    folder = write_release(tmp_path / "race", hf_model, "classifier")
    chooser = load_tf1_checkpoint(folder, task="multiple_choice")
    assert isinstance(chooser, keras_albert.AlbertMultipleChoice)
    batch = make_batch(num_choices=3)
    assert_close(chooser(batch), hf_forward(hf_model, batch).logits.numpy())


def test_squad_checkpoint_from_a_tf_hub_module_matches_huggingface(tmp_path):
    hf_model = make_hf_model("AlbertForQuestionAnswering", seed=1)
    # HuggingFace's QA model has no pooler; the TF1 one does (unused by the head).
    pooler = {
        "module/bert/pooler/dense/kernel": np.eye(16, dtype="float32"),
        "module/bert/pooler/dense/bias": np.zeros(16, "float32"),
    }
    folder = write_release(tmp_path / "hub", hf_model, "squad", prefix="module/", extra=pooler)
    reader = load_tf1_checkpoint(folder)
    assert isinstance(reader, keras_albert.AlbertQuestionAnswerer)
    batch = make_batch()
    outputs = reader(batch)
    reference = hf_forward(hf_model, batch)
    assert_close(outputs["start_logits"], reference.start_logits.numpy())
    assert_close(outputs["end_logits"], reference.end_logits.numpy())


def test_equal_embedding_and_hidden_width_without_projection_uses_identity(tmp_path):
    import torch

    hf_model = make_hf_model("AlbertModel", embedding_size=16, seed=2)
    with torch.no_grad():  # what the original computes without a projection
        hf_model.encoder.embedding_hidden_mapping_in.weight.copy_(torch.eye(16))
        hf_model.encoder.embedding_hidden_mapping_in.bias.zero_()
    folder = write_release(tmp_path / "eq", hf_model, None, projection=False)
    backbone = load_tf1_checkpoint(folder)
    batch = make_batch()
    assert_close(backbone(batch)["sequence_output"], hf_forward(hf_model, batch).last_hidden_state.numpy())


def test_missing_and_unexpected_variables_are_listed_by_name(tmp_path):
    hf_model = make_hf_model("AlbertModel")
    variables = tf1_variables_from_hf(hf_model)
    del variables["bert/encoder/transformer/group_1/inner_group_0/LayerNorm_1/gamma"]
    variables["bert/encoder/extra_layer/kernel"] = np.zeros((2, 2), "float32")
    os.makedirs(tmp_path / "bad")
    write_tf1_checkpoint(str(tmp_path / "bad" / "model.ckpt-1"), variables)
    with open(tmp_path / "bad" / "albert_config.json", "w") as file:
        json.dump(albert_config_json(hf_model), file)
    with pytest.raises(ValueError) as error:
        convert_checkpoint("tf1", tmp_path / "bad", tmp_path / "preset")
    message = str(error.value)
    assert "model.ckpt-1" in message
    assert "group_1/inner_group_0/LayerNorm_1/gamma" in message
    assert "bert/encoder/extra_layer/kernel" in message
    # Nothing half-written next to the output either.
    assert not os.path.exists(tmp_path / "preset")
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_config_disagreeing_with_checkpoint_reports_both_shapes(tmp_path):
    hf_model = make_hf_model("AlbertModel")
    config = {**albert_config_json(hf_model), "intermediate_size": 32}
    folder = write_release(tmp_path / "ckpt", hf_model, None, config=config)
    with pytest.raises(ValueError) as error:
        load_tf1_checkpoint(folder)
    message = str(error.value)
    assert "albert_config.json" in message
    assert "ffn_1/intermediate/dense/kernel: checkpoint has shape (16, 24)" in message
    assert "(16, 32)" in message


def test_truncated_checkpoint_raises_naming_the_file(tmp_path):
    folder = write_release(tmp_path / "ckpt", make_hf_model("AlbertModel"), None)
    data = os.path.join(folder, "model.ckpt-best.data-00000-of-00001")
    with open(data, "r+b") as file:
        file.truncate(os.path.getsize(data) // 2)
    with pytest.raises(ValueError, match="model.ckpt-best"):
        load_tf1_checkpoint(folder)


def test_folder_without_config_or_checkpoint_raises(tmp_path):
    with pytest.raises(ValueError, match="No TF1 checkpoint"):
        load_tf1_checkpoint(tmp_path)
    write_tf1_checkpoint(str(tmp_path / "model.ckpt-1"), {"global_step": np.array(1)})
    with pytest.raises(ValueError, match="albert_config.json"):
        load_tf1_checkpoint(tmp_path)


def test_unsupported_albert_config_field_raises_naming_it(tmp_path):
    config = {**albert_config_json(make_hf_model("AlbertModel")), "hidden_act": "swish"}
    path = tmp_path / "albert_config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"albert_config.json: hidden_act='swish'"):
        backbone_config_from_albert_config(str(path))


@pytest.mark.parametrize(
    "task, head",
    [
        ("pretraining", {}),
        ("text_classification", {"num_classes": 3}),
        ("question_answering", {}),
        ("multiple_choice", {}),
    ],
)
def test_ours_to_tf1_to_ours_is_bit_exact(task, head, tmp_path):
    config = backbone_config_from_albert_config(albert_config_json(make_hf_model("AlbertModel")))
    # Non-zero biases and gammas away from 1: a swapped or mis-split
    # bias or LayerNorm parameter cannot round-trip unnoticed.
    original = randomize_keras_weights(build_model(config, task, head))
    export_checkpoint(original, "tf1", tmp_path / "release")
    restored = load_tf1_checkpoint(tmp_path / "release", task=task)
    assert type(restored) is type(original)
    for before, after in zip(original.weights, restored.weights):
        assert before.path == after.path
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(after), keras.ops.convert_to_numpy(before), err_msg=before.path
        )


def test_tf1_export_refuses_what_the_original_code_cannot_express(tmp_path):
    config = backbone_config_from_albert_config(albert_config_json(make_hf_model("AlbertModel")))
    with pytest.raises(ValueError, match="activation='gelu'"):
        export_checkpoint(keras_albert.AlbertBackbone(**{**config, "activation": "gelu"}), "tf1", tmp_path / "a")
    tagger = build_model(config, "token_classification", {"num_classes": 3})
    with pytest.raises(ValueError, match="no token classification head"):
        export_checkpoint(tagger, "tf1", tmp_path / "b")
    # At embedding_dim == hidden_dim the original has no projection to hold ours.
    square = keras_albert.AlbertBackbone(**{**config, "embedding_dim": config["hidden_dim"]})
    with pytest.raises(ValueError, match="not the identity"):
        export_checkpoint(square, "tf1", tmp_path / "c")
    assert not any(os.path.exists(tmp_path / name) for name in "abc")


def test_a_callable_activation_exports_by_its_original_name():
    from keras_albert.convert import tf1
    from keras_albert.layers.activations import get_activation

    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, embedding_dim=4, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16, activation=get_activation("gelu_approximate"),
    )
    assert tf1.albert_config_from_backbone_config(backbone.get_config())["hidden_act"] == "gelu"  # The tanh GELU.


def test_an_activation_the_original_code_lacks_is_refused_naming_it():
    from keras_albert.convert import tf1

    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, embedding_dim=4, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16, activation=keras.activations.elu,
    )
    with pytest.raises(ValueError, match=r"activation=keras\.[\w.]*\.elu has no equivalent in the original code"):
        tf1.albert_config_from_backbone_config(backbone.get_config())

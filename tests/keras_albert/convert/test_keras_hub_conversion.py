"""keras-hub ALBERT presets <-> keras-albert presets."""

import keras
import keras_hub
import numpy as np
import pytest
from informative_weights import randomize_keras_weights
from reference_models import assert_close, make_batch

import keras_albert
from keras_albert.convert import (
    convert_checkpoint,
    export_checkpoint,
    keras_hub_model_from_model,
    load_keras_hub_preset,
)
from keras_albert.convert.task_models import build_model

KERAS_HUB_CONFIG = {
    "vocabulary_size": 64,
    "num_layers": 4,
    "num_heads": 2,
    "embedding_dim": 8,
    "hidden_dim": 16,
    "intermediate_dim": 24,
    "num_groups": 2,
    "num_inner_repetitions": 2,
    "max_sequence_length": 24,
}


def _weights(model):
    return {variable.path: keras.ops.convert_to_numpy(variable) for variable in model.weights}


def test_keras_hub_backbone_preset_converts_and_matches_keras_hub(tmp_path):
    reference = randomize_keras_weights(keras_hub.models.AlbertBackbone(**KERAS_HUB_CONFIG))
    reference.save_to_preset(str(tmp_path / "hub"))
    convert_checkpoint("keras_hub", tmp_path / "hub", tmp_path / "preset")
    backbone = keras_albert.AlbertBackbone.from_preset(str(tmp_path / "preset"))
    assert backbone.activation == "gelu_approximate"
    batch = make_batch()
    expected = reference(batch)
    outputs = backbone(batch)
    assert_close(outputs["sequence_output"], expected["sequence_output"])
    assert_close(outputs["pooled_output"], expected["pooled_output"])


def test_keras_hub_text_classifier_preset_keeps_its_head(tmp_path):
    backbone = keras_hub.models.AlbertBackbone(**KERAS_HUB_CONFIG)
    reference = randomize_keras_weights(keras_hub.models.AlbertTextClassifier(backbone, num_classes=3, preprocessor=None))
    reference.save_to_preset(str(tmp_path / "hub"))
    convert_checkpoint("keras_hub", tmp_path / "hub", tmp_path / "preset")
    classifier = keras_albert.AlbertTextClassifier.from_preset(str(tmp_path / "preset"))
    batch = make_batch()
    assert_close(classifier(batch), reference(batch))


def test_keras_hub_masked_lm_becomes_a_pretrainer_with_the_same_mlm_logits(tmp_path):
    backbone = keras_hub.models.AlbertBackbone(**KERAS_HUB_CONFIG)
    reference = randomize_keras_weights(keras_hub.models.AlbertMaskedLM(backbone, preprocessor=None))
    reference.save_to_preset(str(tmp_path / "hub"))
    pretrainer = load_keras_hub_preset(tmp_path / "hub")
    assert isinstance(pretrainer, keras_albert.AlbertPretrainer)
    # keras-hub's MLM LayerNorm uses epsilon 1e-5; ALBERT's (and ours) 1e-12.
    reference.masked_lm_head._intermediate_layer_norm.epsilon = 1e-12
    batch = make_batch()
    positions = np.array([[1, 4], [0, 6], [3, 0]], "int32")
    inputs = {**batch, "mask_positions": positions}
    assert_close(pretrainer(inputs)["mlm_logits"], reference(inputs))


@pytest.mark.parametrize(
    "task, head", [("backbone", {}), ("text_classification", {"num_classes": 2}), ("pretraining", {})]
)
def test_ours_to_keras_hub_to_ours_is_bit_exact(task, head, tmp_path):
    config = {**KERAS_HUB_CONFIG, "dropout": 0.1, "attention_dropout": 0.1}
    original = randomize_keras_weights(build_model(config, task, head), seed=1)
    export_checkpoint(original, "keras_hub", tmp_path / "hub")
    restored = load_keras_hub_preset(tmp_path / "hub")
    assert type(restored) is type(original)
    before, after = _weights(original), _weights(restored)
    for path, value in before.items():
        # keras-hub's masked LM has no sentence-order head.
        if not path.startswith("sop_dense/"):
            np.testing.assert_array_equal(after[path], value, err_msg=path)


@pytest.mark.parametrize("task, head", [("backbone", {}), ("text_classification", {"num_classes": 3})])
def test_exported_keras_hub_model_gives_our_outputs(task, head):
    original = randomize_keras_weights(build_model(KERAS_HUB_CONFIG, task, head), seed=2)
    exported = keras_hub_model_from_model(original)
    batch = make_batch()
    ours, theirs = original(batch), exported(batch)
    if task == "backbone":
        for key in ("sequence_output", "pooled_output"):
            assert_close(theirs[key], ours[key])
    else:
        assert_close(theirs, ours)


def test_export_refuses_what_keras_hub_cannot_express():
    backbone = keras_albert.AlbertBackbone(**KERAS_HUB_CONFIG, activation="gelu")
    with pytest.raises(ValueError, match="activation='gelu'"):
        keras_hub_model_from_model(backbone)


def test_heads_keras_hub_lacks_are_exported_as_backbone_with_a_warning(caplog):
    tagger = build_model(KERAS_HUB_CONFIG, "token_classification", {"num_classes": 3})
    with caplog.at_level("WARNING"):
        exported = keras_hub_model_from_model(tagger)
    assert isinstance(exported, keras_hub.models.AlbertBackbone)
    assert "logits/ is not written" in caplog.text


def test_a_callable_activation_exports_as_keras_hubs_own():
    from keras_albert.convert import keras_hub_preset
    from keras_albert.layers.activations import get_activation

    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, embedding_dim=4, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16, activation=get_activation("gelu_approximate"),
    )
    assert keras_hub_preset.keras_hub_config_from_backbone_config(backbone.get_config())["num_layers"] == 1

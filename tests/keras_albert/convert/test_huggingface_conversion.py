"""HuggingFace directories <-> keras-albert presets, for every ALBERT head."""

import json
import os
import sys

import keras
import numpy as np
import pytest
from informative_weights import randomize_keras_weights
from reference_models import assert_close, hf_forward, make_batch, make_hf_model

import keras_albert
from keras_albert.convert import (
    backbone_config_from_huggingface_config,
    convert_checkpoint,
    export_checkpoint,
    huggingface_config_from_model,
    load_huggingface_checkpoint,
)
from keras_albert.convert.huggingface import EXPORT_ARCHITECTURES
from keras_albert.convert.task_models import build_model
from keras_albert.layers.activations import gelu_approximate

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def save_hf(model, folder, pickled=False):
    """`save_pretrained`; with `pickled`, the legacy `pytorch_model.bin` instead
    (transformers 5 only writes safetensors, so it is written with torch.save)."""
    model.save_pretrained(str(folder))
    if pickled:
        os.remove(os.path.join(folder, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(folder, "pytorch_model.bin"))
    return str(folder)


def compare_backbone(keras_model, hf_model, batch):
    outputs = keras_model(batch)
    reference = hf_forward(hf_model, batch)
    assert_close(outputs["sequence_output"], reference.last_hidden_state.numpy())
    assert_close(outputs["pooled_output"], reference.pooler_output.numpy())


def compare_pretraining(keras_model, hf_model, batch):
    positions = np.array([[1, 4, 9], [0, 2, 6], [3, 1, 0]], "int32")
    outputs = keras_model({**batch, "mask_positions": positions})
    reference = hf_forward(hf_model, batch)
    expected = np.take_along_axis(reference.prediction_logits.numpy(), positions[..., None], axis=1)
    assert_close(outputs["mlm_logits"], expected)
    assert_close(outputs["sop_logits"], reference.sop_logits.numpy())


def compare_masked_lm(keras_model, hf_model, batch):
    positions = np.array([[1, 4], [0, 6], [3, 0]], "int32")
    outputs = keras_model({**batch, "mask_positions": positions})
    expected = np.take_along_axis(hf_forward(hf_model, batch).logits.numpy(), positions[..., None], axis=1)
    assert_close(outputs["mlm_logits"], expected)


def compare_logits(keras_model, hf_model, batch):
    assert_close(keras_model(batch), hf_forward(hf_model, batch).logits.numpy())


def compare_spans(keras_model, hf_model, batch):
    outputs = keras_model(batch)
    reference = hf_forward(hf_model, batch)
    assert_close(outputs["start_logits"], reference.start_logits.numpy())
    assert_close(outputs["end_logits"], reference.end_logits.numpy())


# HuggingFace class -> (extra config, keras-albert class, comparison, batch).
HEADS = {
    "AlbertModel": ({}, keras_albert.AlbertBackbone, compare_backbone, {}),
    "AlbertForPreTraining": ({}, keras_albert.AlbertPretrainer, compare_pretraining, {}),
    "AlbertForMaskedLM": ({}, keras_albert.AlbertPretrainer, compare_masked_lm, {}),
    "AlbertForSequenceClassification": ({"num_labels": 3}, keras_albert.AlbertTextClassifier, compare_logits, {}),
    "AlbertForTokenClassification": ({"num_labels": 5}, keras_albert.AlbertTokenClassifier, compare_logits, {}),
    "AlbertForQuestionAnswering": ({}, keras_albert.AlbertQuestionAnswerer, compare_spans, {}),
    "AlbertForMultipleChoice": ({}, keras_albert.AlbertMultipleChoice, compare_logits, {"num_choices": 3}),
}


@pytest.mark.parametrize("architecture", sorted(HEADS))
def test_every_head_converts_to_a_preset_matching_huggingface(architecture, tmp_path):
    overrides, keras_class, compare, batch_args = HEADS[architecture]
    hf_model = make_hf_model(architecture, **overrides)
    model = convert_checkpoint("huggingface", save_hf(hf_model, tmp_path / "hf"), tmp_path / "preset")
    assert type(model) is keras_class
    restored = keras_class.from_preset(str(tmp_path / "preset"))
    compare(restored, hf_model, make_batch(**batch_args))


def _weights(model):
    return {variable.path: keras.ops.convert_to_numpy(variable) for variable in model.weights}


@pytest.mark.parametrize(
    "task, head",
    [
        ("backbone", {}),
        ("pretraining", {}),
        ("text_classification", {"num_classes": 1}),
        ("token_classification", {"num_classes": 4}),
        ("question_answering", {}),
        ("multiple_choice", {}),
    ],
)
def test_ours_to_huggingface_to_ours_is_bit_exact(task, head, tmp_path):
    config = {
        "vocabulary_size": 64, "num_layers": 4, "num_heads": 2, "embedding_dim": 8, "hidden_dim": 16,
        "intermediate_dim": 24, "num_groups": 2, "num_inner_repetitions": 2, "max_sequence_length": 24,
    }
    # Non-zero biases and gammas away from 1: a swapped or mis-split
    # bias or LayerNorm parameter cannot round-trip unnoticed.
    original = randomize_keras_weights(build_model(config, task, head))
    export_checkpoint(original, "huggingface", tmp_path / "hf")
    # transformers finds exactly the tensors its class has.
    hf_class = getattr(transformers, EXPORT_ARCHITECTURES[task])
    _, loading_info = hf_class.from_pretrained(str(tmp_path / "hf"), output_loading_info=True)
    assert not any(loading_info.values()), loading_info
    restored = load_huggingface_checkpoint(tmp_path / "hf")
    assert type(restored) is type(original)
    before, after = _weights(original), _weights(restored)
    assert set(before) == set(after)
    # HuggingFace's token classification and QA models have no pooler.
    skipped = "pooler_dense/" if task in ("token_classification", "question_answering") else None
    for path, value in before.items():
        if skipped is None or not path.startswith(skipped):
            np.testing.assert_array_equal(after[path], value, err_msg=path)


def test_exported_classifier_runs_in_pytorch_with_the_same_logits(tmp_path):
    hf_model = make_hf_model("AlbertForSequenceClassification", num_labels=2, hidden_act="gelu")
    classifier = load_huggingface_checkpoint(save_hf(hf_model, tmp_path / "in"))
    export_checkpoint(classifier, "huggingface", tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["architectures"] == ["AlbertForSequenceClassification"]
    assert config["hidden_act"] == "gelu"  # exact GELU stays exact
    reloaded = transformers.AlbertForSequenceClassification.from_pretrained(
        str(tmp_path / "out"), attn_implementation="eager"
    ).eval()
    batch = make_batch()
    assert_close(hf_forward(reloaded, batch).logits.numpy(), classifier(batch))


SMALL_CONFIG = {
    "vocabulary_size": 64, "num_layers": 2, "num_heads": 2, "embedding_dim": 8, "hidden_dim": 16,
    "intermediate_dim": 24, "max_sequence_length": 24,
}


def _through_keras_file(model, folder):
    path = str(folder / "model.keras")
    model.save(path)
    return keras.saving.load_model(path)


def test_callable_activation_survives_a_keras_file_and_exports_by_its_huggingface_name(tmp_path):
    original = randomize_keras_weights(
        build_model({**SMALL_CONFIG, "activation": gelu_approximate}, "text_classification", {"num_classes": 2})
    )
    restored = _through_keras_file(original, tmp_path)
    assert restored.backbone.activation is gelu_approximate
    export_checkpoint(restored, "huggingface", tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["hidden_act"] == "gelu_new"
    in_pytorch = transformers.AlbertForSequenceClassification.from_pretrained(
        str(tmp_path / "hf"), attn_implementation="eager"
    ).eval()
    batch = make_batch()
    assert_close(hf_forward(in_pytorch, batch).logits.numpy(), original(batch))


def test_activation_without_a_huggingface_name_is_refused_naming_it(tmp_path):
    restored = _through_keras_file(keras_albert.AlbertBackbone(**SMALL_CONFIG, activation=keras.activations.elu), tmp_path)
    with pytest.raises(ValueError, match=r"activation=keras\.[\w.]*\.elu has no HuggingFace equivalent"):
        export_checkpoint(restored, "huggingface", tmp_path / "hf")
    with pytest.raises(ValueError, match="activation='hard_sigmoid' has no HuggingFace equivalent"):
        huggingface_config_from_model(keras_albert.AlbertBackbone(**SMALL_CONFIG, activation="hard_sigmoid"))


def test_pytorch_bin_is_read_with_weights_only_and_gives_the_same_model(tmp_path):
    hf_model = make_hf_model("AlbertModel")
    from_bin = load_huggingface_checkpoint(save_hf(hf_model, tmp_path / "bin", pickled=True))
    compare_backbone(from_bin, hf_model, make_batch())


def test_pytorch_bin_without_torch_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    folder = save_hf(make_hf_model("AlbertModel"), tmp_path / "hf", pickled=True)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(ValueError, match="pytorch_model.bin is a pickled PyTorch file.*torch is not installed"):
        load_huggingface_checkpoint(folder)


def test_config_fields_map_both_ways_including_dropouts_and_activation():
    hf_config = make_hf_model(
        "AlbertForTokenClassification", num_labels=4, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.05, classifier_dropout_prob=0.2, hidden_act="gelu",
        layer_norm_eps=1e-7,
    ).config.to_dict()
    config = backbone_config_from_huggingface_config(hf_config)
    assert (config["dropout"], config["attention_dropout"]) == (0.1, 0.05)
    assert (config["activation"], config["layer_norm_epsilon"]) == ("gelu", 1e-7)
    assert (config["num_groups"], config["num_inner_repetitions"], config["embedding_dim"]) == (2, 2, 8)
    tagger = build_model(config, "token_classification", {"num_classes": 4, "dropout": 0.2})
    exported = huggingface_config_from_model(tagger)
    for field in (
        "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups",
        "inner_group_num", "num_attention_heads", "intermediate_size", "hidden_act",
        "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
        "type_vocab_size", "layer_norm_eps", "classifier_dropout_prob",
    ):
        assert exported[field] == hf_config[field], field
    assert exported["architectures"] == ["AlbertForTokenClassification"]
    assert len(exported["id2label"]) == 4
    assert backbone_config_from_huggingface_config({**hf_config, "hidden_act": "gelu_new"})["activation"] == "gelu_approximate"


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_checkpoint",))


def test_pytorch_bin_that_needs_code_unpickling_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "evil"
    save_hf(make_hf_model("AlbertModel"), folder, pickled=True)
    torch.save({"payload": _RunsCode()}, str(folder / "pytorch_model.bin"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="Refusing to load .*pytorch_model.bin"):
        load_huggingface_checkpoint(folder)
    assert not (tmp_path / "pwned_by_checkpoint").exists()


def test_truncated_safetensors_raises_naming_the_file(tmp_path):
    folder = save_hf(make_hf_model("AlbertModel"), tmp_path / "hf")
    path = os.path.join(folder, "model.safetensors")
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) - 100)
    with pytest.raises(ValueError, match="model.safetensors"):
        load_huggingface_checkpoint(folder)


def test_directory_without_weights_lists_the_expected_files(tmp_path):
    folder = save_hf(make_hf_model("AlbertModel"), tmp_path / "hf")
    os.remove(os.path.join(folder, "model.safetensors"))
    with pytest.raises(ValueError, match="model.safetensors, model.safetensors.index.json or pytorch_model.bin"):
        load_huggingface_checkpoint(folder)


def test_config_disagreeing_with_the_weights_reports_file_tensor_and_shapes(tmp_path):
    folder = save_hf(make_hf_model("AlbertModel"), tmp_path / "hf")
    config_path = os.path.join(folder, "config.json")
    config = json.load(open(config_path))
    config["num_hidden_groups"] = 1
    config["intermediate_size"] = 32
    json.dump(config, open(config_path, "w"))
    with pytest.raises(ValueError) as error:
        load_huggingface_checkpoint(folder)
    message = str(error.value)
    assert "config.json" in message
    # The second group is unexpected under a one-group config.
    assert "Unexpected tensors" in message and "albert_layer_groups.1.albert_layers.0.ffn.weight" in message
    assert "albert_layer_groups.0.albert_layers.0.ffn.weight: checkpoint has shape (24, 16)" in message
    assert "(32, 16)" in message


def test_hub_style_masked_lm_with_pooler_and_tied_decoder_converts_in_full(tmp_path):
    from safetensors.numpy import load_file, save_file

    # Like the hub's albert-base-v2: declared AlbertForMaskedLM, converted
    # from the original with its pooler and the (tied) decoder, no SOP head.
    hf_model = make_hf_model("AlbertForPreTraining")
    folder = save_hf(hf_model, tmp_path / "hf")
    config_path = os.path.join(folder, "config.json")
    config = json.load(open(config_path))
    json.dump({**config, "architectures": ["AlbertForMaskedLM"]}, open(config_path, "w"))
    path = os.path.join(folder, "model.safetensors")
    tensors = {k: v for k, v in load_file(path).items() if not k.startswith("sop_classifier.")}
    tensors["predictions.decoder.weight"] = tensors["albert.embeddings.word_embeddings.weight"]
    tensors["predictions.decoder.bias"] = tensors["predictions.bias"]
    save_file(tensors, path)

    pretrainer = load_huggingface_checkpoint(folder)
    assert isinstance(pretrainer, keras_albert.AlbertPretrainer)
    compare_backbone(pretrainer.backbone, hf_model.albert, make_batch())  # pooler included

    tensors["predictions.decoder.bias"] = tensors["predictions.bias"] + 1
    save_file(tensors, path)
    with pytest.raises(ValueError, match="predictions.decoder.bias is not equal to predictions.bias"):
        load_huggingface_checkpoint(folder)


def test_converting_to_another_head_is_refused_with_the_way_to_do_it(tmp_path):
    folder = save_hf(make_hf_model("AlbertForQuestionAnswering"), tmp_path / "hf")
    with pytest.raises(ValueError, match="AlbertTextClassifier.from_preset"):
        load_huggingface_checkpoint(folder, task="text_classification")


def test_a_model_in_memory_exports_its_own_tokenizer(tmp_path, spm_model_path):
    tokenizer = keras_albert.AlbertTokenizer(spm_model_path, lower_case=False, keep_accents=True)
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, embedding_dim=8, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16,
    )
    classifier = keras_albert.AlbertTextClassifier(
        backbone, num_classes=2, preprocessor=keras_albert.AlbertPreprocessor(tokenizer, sequence_length=16)
    )
    export_checkpoint(classifier, "huggingface", str(tmp_path / "hf"))
    options = json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())
    assert (options["do_lower_case"], options["keep_accents"]) == (False, True)
    assert (tmp_path / "hf" / "spiece.model").read_bytes() == open(spm_model_path, "rb").read()

"""What keras-hub users call on a task model: LoRA, int8 quantization and the
default `compile()` (its optimizer's weight-decay exclusions)."""

import keras
import numpy as np
import pytest
from keras_hub.layers import MaskedLMHead

from keras_albert import (
    AlbertBackbone,
    AlbertMultipleChoice,
    AlbertPretrainer,
    AlbertQuestionAnswerer,
    AlbertTextClassifier,
    AlbertTokenClassifier,
)

TINY = dict(
    vocabulary_size=50, num_layers=4, num_heads=2, embedding_dim=8, hidden_dim=16,
    intermediate_dim=32, num_groups=2, max_sequence_length=16,
)  # fmt: skip
TASKS = ("text_classifier", "token_classifier", "question_answerer", "multiple_choice", "pretrainer")


def informative(model, seed=0):
    """Kernels and tables ~N(0, 0.2), biases likewise (not 0), LayerNorm
    gammas 1 + N(0, 0.2) (not 1): a swapped or skipped weight shows."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = 0.2 * rng.standard_normal(variable.shape)
        if variable.path.endswith("gamma"):
            values += 1.0
        variable.assign(values.astype(variable.dtype))
    return model


def features(batch=3, length=7):
    rng = np.random.default_rng(1)
    padding_mask = np.ones((batch, length), "int32")
    padding_mask[0, length - 2 :] = 0
    return {
        "token_ids": rng.integers(5, TINY["vocabulary_size"], (batch, length)).astype("int32"),
        "segment_ids": (np.arange(length) >= 4).astype("int32")[None].repeat(batch, 0),
        "padding_mask": padding_mask,
    }


def build(task):
    keras.utils.set_random_seed(0)
    backbone = AlbertBackbone(**TINY)
    x = features()
    if task == "text_classifier":
        return AlbertTextClassifier(backbone, num_classes=3), x
    if task == "token_classifier":
        return AlbertTokenClassifier(backbone, num_classes=4), x
    if task == "question_answerer":
        return AlbertQuestionAnswerer(backbone), x
    if task == "multiple_choice":
        return AlbertMultipleChoice(backbone), {k: np.stack([v] * 2, axis=1) for k, v in x.items()}
    return AlbertPretrainer(backbone), dict(x, mask_positions=np.array([[1, 2], [3, 0], [1, 4]], "int32"))


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def outputs(model, x):
    return [numpy(a) for a in keras.tree.flatten(model(x))]


# === LoRA ===


def lora_paths(backbone):
    blocks = [f"encoder/group_{g}_inner_0" for g in range(TINY["num_groups"])]
    return sorted(
        f"{block}/{layer}/lora_kernel_{factor}"
        for block in blocks
        for layer in ("qkv_dense", "attention_output_dense")
        for factor in "ab"
    )


def test_lora_trains_only_its_factors_on_the_attention_projections(tmp_path):
    model, x = build("text_classifier")
    informative(model)
    backbone = model.backbone
    backbone.enable_lora(2)
    assert sorted(w.path for w in backbone.trainable_weights) == lora_paths(backbone)
    head = {w.path for w in model.output_dense.weights}
    assert {w.path for w in model.trainable_weights} == set(lora_paths(backbone)) | head

    before_outputs = outputs(model, x)
    before = {w.path: numpy(w) for w in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    # Two steps: LoRA's B starts at zero, so A's first gradient is zero.
    model.fit(x, np.array([0, 1, 2]), epochs=2, verbose=0)
    changed = {w.path for w in model.weights if not np.array_equal(before[w.path], numpy(w))}
    assert changed == set(lora_paths(backbone)) | head
    trained_outputs = outputs(model, x)
    assert max(np.abs(a - b).max() for a, b in zip(before_outputs, trained_outputs)) > 1e-4

    # Saving merges the factors into the kernels: a plain model reproduces them.
    model.save(str(tmp_path / "model.keras"))
    restored = keras.models.load_model(str(tmp_path / "model.keras"))
    for a, b in zip(trained_outputs, outputs(restored, x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    backbone.save_to_preset(str(tmp_path / "preset"))
    from_preset = AlbertBackbone.from_preset(str(tmp_path / "preset"))
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(
            numpy(backbone(x)[name]), numpy(from_preset(x)[name]), rtol=1e-5, atol=1e-5
        )


def test_lora_on_layers_that_do_not_exist_is_an_error():
    backbone = AlbertBackbone(**TINY)
    with pytest.raises(ValueError, match=r"found no layer to adapt: none named \['query'\]"):
        backbone.enable_lora(2, target_layer_names=["query"])


# === int8 ===


@pytest.mark.parametrize("task", TASKS)
def test_int8_quantization_keeps_every_task_models_outputs_close(task):
    model, x = build(task)
    informative(model)
    expected = outputs(model, x)
    model.quantize("int8")
    qkv_dense = model.backbone.encoder.groups[0][0].qkv_dense
    assert qkv_dense.quantization_mode == "int8" and qkv_dense._kernel.dtype == "int8"
    actual = outputs(model, x)
    for a, b in zip(expected, actual):
        relative_error = np.abs(a - b).max() / np.abs(a).max()
        assert 0 < relative_error < 0.05, relative_error


# === Default compile ===


def never_decayed(model):
    """LayerNorm gammas and betas and every bias, found by layer type (not
    by the path patterns the optimizer matches)."""
    paths = set()
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.LayerNormalization):
            paths |= {w.path for w in layer.weights}
        if isinstance(layer, keras.layers.Dense) and layer.bias is not None:
            paths.add(layer.bias.path)
        if isinstance(layer, MaskedLMHead):
            paths.add(layer._bias.path)  # The output bias (keras-hub names no public attribute).
    return paths


@pytest.mark.parametrize("task", TASKS)
def test_default_compile_decays_all_but_layer_norms_and_biases(task):
    model, _ = build(task)
    informative(model)
    optimizer = model.optimizer
    expected_class = "Lamb" if task == "pretrainer" else "AdamW"
    assert type(optimizer).__module__ == f"keras_albert.training.{expected_class.lower()}"
    assert optimizer.weight_decay == pytest.approx(0.01)
    variables = model.trainable_variables
    before = {v.path: numpy(v) for v in variables}
    # With zero gradients the only change is weight decay.
    optimizer.apply_gradients([(keras.ops.zeros(v.shape, v.dtype), v) for v in variables])
    unchanged = {v.path for v in variables if np.array_equal(before[v.path], numpy(v))}
    assert unchanged == never_decayed(model) & set(before)
    assert len(unchanged) < len(variables)

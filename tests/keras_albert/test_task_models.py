"""The task heads: shapes, exact save/load round trips, preset loading, bad input."""

import warnings

import keras
import numpy as np
import pytest

from keras_albert import (
    AlbertBackbone,
    AlbertMultipleChoice,
    AlbertPreprocessor,
    AlbertPretrainer,
    AlbertQuestionAnswerer,
    AlbertTextClassifier,
    AlbertTokenClassifier,
)
from keras_albert.training import create_optimizer

TINY = dict(
    vocabulary_size=50,
    num_layers=4,
    num_heads=2,
    embedding_dim=8,
    hidden_dim=16,
    intermediate_dim=32,
    num_groups=2,
    num_inner_repetitions=2,
    max_sequence_length=16,
)


def tiny_backbone():
    keras.utils.set_random_seed(0)
    return AlbertBackbone(**TINY)


def features(batch=3, length=7):
    rng = np.random.default_rng(0)
    padding_mask = np.ones((batch, length), "int32")
    padding_mask[0, length - 2 :] = 0
    return {
        "token_ids": rng.integers(5, TINY["vocabulary_size"], (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": padding_mask,
    }


def build(task_name):
    backbone = tiny_backbone()
    x = features()
    if task_name == "classifier":
        return AlbertTextClassifier(backbone, num_classes=3), x
    if task_name == "regressor":
        return AlbertTextClassifier(backbone, num_classes=1), x
    if task_name == "tagger":
        return AlbertTokenClassifier(backbone, num_classes=5), x
    if task_name == "reader":
        return AlbertQuestionAnswerer(backbone), x
    if task_name == "multiple_choice":
        return AlbertMultipleChoice(backbone), {k: np.stack([v] * 4, axis=1) for k, v in x.items()}
    if task_name == "pretrainer":
        return AlbertPretrainer(backbone), dict(x, mask_positions=np.array([[1, 2], [3, 0], [1, 4]], "int32"))
    raise AssertionError(task_name)


TASKS = ["classifier", "regressor", "tagger", "reader", "multiple_choice", "pretrainer"]
EXPECTED_SHAPES = {
    "classifier": (3, 3),
    "regressor": (3, 1),
    "tagger": (3, 7, 5),
    "reader": {"start_logits": (3, 7), "end_logits": (3, 7)},
    "multiple_choice": (3, 4),
    "pretrainer": {"mlm_logits": (3, 2, 50), "sop_logits": (3, 2)},
}


def numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def shapes(outputs):
    return keras.tree.map_structure(lambda a: tuple(a.shape), outputs)


@pytest.mark.parametrize("task_name", TASKS)
def test_task_outputs_have_documented_shapes_and_are_float32(task_name):
    model, x = build(task_name)
    outputs = model.predict(x, verbose=0)
    assert shapes(outputs) == EXPECTED_SHAPES[task_name]
    for array in keras.tree.flatten(outputs):
        assert array.dtype == np.float32
        assert np.isfinite(array).all()


@pytest.mark.parametrize("task_name", TASKS)
def test_keras_file_round_trip_is_exact_in_safe_mode(task_name, tmp_path):
    model, x = build(task_name)
    path = str(tmp_path / f"{task_name}.keras")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Compiled but never trained: no optimizer state to skip.
        restored = keras.models.load_model(path, safe_mode=True)
    assert type(restored) is type(model)
    assert not restored.optimizer.built  # No slots allocated for inference.
    before, after = model.predict(x, verbose=0), restored.predict(x, verbose=0)
    for a, b in zip(keras.tree.flatten(before), keras.tree.flatten(after)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("task_name", ["classifier", "tagger", "reader"])
def test_task_preset_restores_backbone_and_head_exactly(task_name, tmp_path):
    model, x = build(task_name)
    model.save_to_preset(str(tmp_path))
    restored = type(model).from_preset(str(tmp_path))
    for a, b in zip(
        keras.tree.flatten(model.predict(x, verbose=0)),
        keras.tree.flatten(restored.predict(x, verbose=0)),
    ):
        np.testing.assert_array_equal(a, b)


def test_pretrainer_weights_load_into_a_classifier_backbone(tmp_path):
    pretrainer, x = build("pretrainer")
    pretrainer.backbone.save_to_preset(str(tmp_path))
    classifier = AlbertTextClassifier.from_preset(str(tmp_path), num_classes=2)
    x.pop("mask_positions")
    expected = pretrainer.backbone.predict(x, verbose=0)["pooled_output"]
    actual = classifier.backbone.predict(x, verbose=0)["pooled_output"]
    np.testing.assert_array_equal(expected, actual)


def test_mlm_output_projection_is_tied_to_the_word_embeddings():
    pretrainer, _ = build("pretrainer")
    table = pretrainer.backbone.token_embedding.embeddings
    assert pretrainer.mlm_head.token_embedding.embeddings is table
    own = [w.path for w in pretrainer.mlm_head.weights if w is not table]
    assert sorted(own) == sorted(
        [
            "mlm_head/intermediate_dense/kernel",
            "mlm_head/intermediate_dense/bias",
            "mlm_head/intermediate_layer_norm/gamma",
            "mlm_head/intermediate_layer_norm/beta",
            "mlm_head/output_bias",
        ]
    )


def test_classifier_fits_and_its_loss_falls():
    model, x = build("classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    labels = np.array([0, 1, 2])
    history = model.fit(x, labels, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


TARGETS = {
    "tagger": np.array([[0, 1, 2, 3, 4, 0, 1]] * 3),
    "reader": {"start_logits": np.array([1, 2, 0]), "end_logits": np.array([2, 3, 0])},
    "pretrainer": {"mlm_logits": np.array([[7, 8], [9, 0], [10, 11]]), "sop_logits": np.array([0, 1, 1])},
}


# Two tasks, each fit twice, to keep the suite fast: `compile_from_config`
# lives in their shared base. The tagger compiles with its defaults (our
# AdamW, a custom metric); the pretrainer with the recipe's LAMB and schedule.
@pytest.mark.parametrize("task_name", ["tagger", "pretrainer"])
def test_a_trained_model_saved_as_keras_file_resumes_with_its_optimizer_state(task_name, tmp_path):
    model, x = build(task_name)
    if task_name == "pretrainer":
        model.compile(create_optimizer("lamb", 1e-3, num_train_steps=10, num_warmup_steps=2), jit_compile=False)
    else:
        model.compile(jit_compile=False)
    model.fit(x, TARGETS[task_name], epochs=1, verbose=0)
    model.save(str(tmp_path / "model.keras"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Neither "compile() was not called" nor "Skipping variable loading".
        restored = keras.models.load_model(str(tmp_path / "model.keras"))
    assert type(restored.optimizer) is type(model.optimizer)
    assert [v.path for v in restored.optimizer.variables] == [v.path for v in model.optimizer.variables]
    for saved, loaded in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(numpy(saved), numpy(loaded))
    assert int(restored.optimizer.iterations) == 1
    history = restored.fit(x, TARGETS[task_name], epochs=1, verbose=0)
    assert int(restored.optimizer.iterations) == 2 and np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("task_name", ["tagger", "reader"])
def test_heads_on_the_sequence_output_train_all_but_the_pooler_without_warning(task_name, tmp_path):
    model, x = build(task_name)
    pooler = [w.path for w in model.backbone.pooler_dense.weights]
    assert model.backbone.pooler_dense.trainable  # The caller's backbone is not changed.
    assert not set(pooler) & {w.path for w in model.trainable_weights}
    assert set(pooler) <= {w.path for w in model.non_trainable_variables}
    before = {w.path: numpy(w) for w in model.trainable_weights + model.backbone.pooler_dense.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Gradients do not exist")
        model.fit(x, TARGETS[task_name], epochs=1, verbose=0)
    after = {w.path: numpy(w) for w in model.weights if w.path in before}
    assert [path for path in pooler if not np.array_equal(before[path], after[path])] == []
    assert [path for path in before if path not in pooler and np.array_equal(before[path], after[path])] == []
    # Saved and restored with the pooler, still left out of training.
    model.save(str(tmp_path / "model.keras"))
    restored = keras.models.load_model(str(tmp_path / "model.keras"))
    assert not set(pooler) & {w.path for w in restored.trainable_weights}
    restored_weights = {w.path: numpy(w) for w in restored.weights}
    for path in pooler:
        np.testing.assert_array_equal(after[path], restored_weights[path])


@pytest.mark.parametrize("task_name", ["classifier", "multiple_choice", "pretrainer"])
def test_heads_on_the_pooled_output_train_the_pooler(task_name):
    model, _ = build(task_name)
    pooler = {w.path for w in model.backbone.pooler_dense.weights}
    assert pooler <= {w.path for w in model.trainable_weights}


@pytest.mark.parametrize("sequence_task", [AlbertTokenClassifier, AlbertQuestionAnswerer])
def test_a_backbone_reused_after_a_sequence_head_trains_its_pooler_in_a_classifier(sequence_task):
    backbone = tiny_backbone()
    configs = [w.trainable for w in backbone.weights], backbone.get_config()
    sequence_task(backbone, **({"num_classes": 2} if sequence_task is AlbertTokenClassifier else {}))
    assert ([w.trainable for w in backbone.weights], backbone.get_config()) == configs
    classifier = AlbertTextClassifier(backbone, num_classes=3)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    pooler_kernel = numpy(backbone.pooler_dense.kernel)
    classifier.fit(features(), np.array([0, 1, 2]), epochs=1, verbose=0)
    assert not np.array_equal(pooler_kernel, numpy(backbone.pooler_dense.kernel))


def test_regression_head_defaults_to_mean_squared_error():
    model, _ = build("regressor")
    assert isinstance(model.loss, keras.losses.MeanSquaredError)


def test_reader_averages_start_and_end_losses():
    model, x = build("reader")
    logs = model.evaluate(x, TARGETS["reader"], verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"])


@pytest.mark.parametrize("num_classes", [0, -1, 2.5, None])
def test_invalid_num_classes_is_rejected_by_name(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        AlbertTextClassifier(tiny_backbone(), num_classes=num_classes)
    with pytest.raises(ValueError, match="num_classes"):
        AlbertTokenClassifier(tiny_backbone(), num_classes=num_classes)


@pytest.mark.parametrize("task_name", TASKS)
def test_task_preprocessor_refuses_more_segments_than_the_backbone_has(task_name, albert_tokenizer):
    model, _ = build(task_name)
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=16)
    model.preprocessor = preprocessor
    assert model.preprocessor is preprocessor and preprocessor.num_segments == model.backbone.num_segments == 2
    with pytest.raises(ValueError, match="has 2 segment types .* received 3"):
        model.preprocessor((["a man eats"], ["he eats"], ["so do i"]))
    # Pairs (a multiple-choice context and one choice, too) still pack.
    pair = model.preprocessor((["a man eats"], ["he eats"]))
    assert sorted(set(np.asarray(pair["segment_ids"][0]).tolist())) == [0, 1]


def test_classifier_keeps_its_preprocessors_segment_limit_through_keras_files_and_presets(albert_tokenizer, tmp_path):
    keras.utils.set_random_seed(0)
    backbone = AlbertBackbone(**dict(TINY, vocabulary_size=albert_tokenizer.vocabulary_size()))
    model = AlbertTextClassifier(backbone, num_classes=2, preprocessor=AlbertPreprocessor(albert_tokenizer, 16))
    pairs, triple = (["a man eats"], ["he eats"]), (["a man eats"], ["he eats"], ["so do i"])
    expected = model.predict(pairs, verbose=0)
    model.save(str(tmp_path / "model.keras"))
    model.save_to_preset(str(tmp_path / "preset"))
    for restored in (
        keras.models.load_model(str(tmp_path / "model.keras")),
        AlbertTextClassifier.from_preset(str(tmp_path / "preset")),
    ):
        assert restored.preprocessor.num_segments == 2
        np.testing.assert_array_equal(restored.predict(pairs, verbose=0), expected)
        with pytest.raises(ValueError, match="has 2 segment types .* received 3"):
            restored.predict(triple, verbose=0)


def test_a_preprocessor_allowing_more_segments_than_the_backbone_is_rejected(albert_tokenizer):
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=16, num_segments=3)
    with pytest.raises(ValueError, match="up to 3 segments .* backbone has 2 segment types"):
        AlbertTextClassifier(tiny_backbone(), num_classes=2, preprocessor=preprocessor)
    # A stricter limit (single sentences only) is the caller's to keep.
    single = AlbertPreprocessor(albert_tokenizer, sequence_length=16, num_segments=1)
    assert AlbertTextClassifier(tiny_backbone(), num_classes=2, preprocessor=single).preprocessor.num_segments == 1


def test_named_preset_builds_a_task_architecture_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ALBERT_PRESETS", str(tmp_path))
    with pytest.raises(ValueError, match="no weights on this machine"):
        AlbertTextClassifier.from_preset("albert_base_v2", num_classes=2)
    model = AlbertTextClassifier.from_preset("albert_base_v2", num_classes=2, load_weights=False)
    assert model.backbone.hidden_dim == 768
    assert model.backbone.num_layers == 12
    bf16 = AlbertTextClassifier.from_preset("albert_base_v2", num_classes=2, load_weights=False, dtype="mixed_bfloat16")
    assert bf16.backbone.dtype_policy.name == "mixed_bfloat16"

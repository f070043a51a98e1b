"""What a user without TensorFlow does with keras_albert, run by
`tests/keras_albert/test_without_tensorflow.py` behind the blocker in this
folder; prints one JSON line of findings for the test to check."""

import json
import os
import sys
import tempfile

import keras
import numpy as np

import keras_albert

TINY = dict(
    vocabulary_size=50, num_layers=2, num_heads=2, embedding_dim=8, hidden_dim=16,
    intermediate_dim=32, max_sequence_length=16,
)


def features(batch=2, length=6):
    rng = np.random.default_rng(0)
    return {
        "token_ids": rng.integers(5, TINY["vocabulary_size"], (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), "int32"),
    }


def task_and_data(name, backbone):
    x, batch = features(), 2
    if name == "text_classifier":
        return keras_albert.AlbertTextClassifier(backbone, num_classes=3), x, np.array([0, 2])
    if name == "token_classifier":
        return keras_albert.AlbertTokenClassifier(backbone, num_classes=4), x, np.ones((batch, 6), "int32")
    if name == "question_answerer":
        y = {"start_logits": np.array([1, 2]), "end_logits": np.array([2, 3])}
        return keras_albert.AlbertQuestionAnswerer(backbone), x, y
    if name == "multiple_choice":
        x = {k: np.stack([v] * 3, axis=1) for k, v in x.items()}
        return keras_albert.AlbertMultipleChoice(backbone), x, np.array([0, 2])
    x = dict(x, mask_positions=np.array([[1, 2], [3, 4]], "int32"))
    y = {"mlm_logits": np.array([[7, 8], [9, 10]]), "sop_logits": np.array([0, 1])}
    return keras_albert.AlbertPretrainer(backbone), x, y


def max_difference(a, b):
    return max(
        float(np.max(np.abs(keras.ops.convert_to_numpy(u) - keras.ops.convert_to_numpy(v))))
        for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b))
    )


def main():
    findings = {"backend": keras.backend.backend()}
    directory = tempfile.mkdtemp()
    for name in ("text_classifier", "token_classifier", "question_answerer", "multiple_choice", "pretrainer"):
        keras.utils.set_random_seed(0)
        model, x, y = task_and_data(name, keras_albert.AlbertBackbone(**TINY))
        # Direct calls where `predict` would only add a jit compilation.
        before = model(x)
        history = model.fit(x, y, epochs=1, verbose=0)  # The default compile.
        predicted = model.predict(x, verbose=0)
        trained = model(x)
        path = os.path.join(directory, f"{name}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        preset = os.path.join(directory, f"{name}_preset")
        model.save_to_preset(preset)
        from_preset = type(model).from_preset(preset)
        findings[name] = {
            "optimizer": type(model.optimizer).__module__ + "." + type(model.optimizer).__name__,
            "loss_finite": bool(np.isfinite(history.history["loss"][0])),
            "fit_changed_outputs": max_difference(before, trained) > 0,
            "predict_difference": max_difference(predicted, trained),
            "keras_file_difference": max_difference(trained, loaded(x)),
            "preset_difference": max_difference(trained, from_preset(x)),
        }
    try:
        keras_albert.AlbertTokenizer(proto=b"")
        findings["tokenizer_error"] = None
    except ImportError as error:
        findings["tokenizer_error"] = str(error)
    findings["tensorflow_imported"] = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_text"))
    print(json.dumps(findings))


if __name__ == "__main__":
    main()

"""Fixtures of the export tests: tiny task models, their exports, serving doubles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LABEL_NAMES = ["negative", "positive"]
SEQUENCE_LENGTH = 64


def tiny_backbone(tokenizer, seed=0):
    import keras

    import keras_albert

    keras.utils.set_random_seed(seed)
    return keras_albert.AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=2,
        num_heads=2,
        embedding_dim=16,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=128,
    )


def informative_weights(model, seed=0):
    """Kernels and embeddings ~N(0, 0.2), biases ~N(0, 0.1), LayerNorm gammas
    1 + N(0, 0.2): every weight matters, so a wrong one shows in the outputs."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if weight.path.endswith("gamma"):
            value = 1.0 + rng.normal(0.0, 0.2, shape)
        elif weight.path.endswith(("bias", "beta")):
            value = rng.normal(0.0, 0.1, shape)
        else:
            value = rng.normal(0.0, 0.2, shape)
        weight.assign(value.astype(np.float32))
    return model


def sharpen_head(model, layer_name, scale=300.0):
    """Scales a fresh head so a random model's predictions vary between inputs."""
    layer = model.get_layer(layer_name)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * scale, bias])


@pytest.fixture(scope="session")
def text_classifier(albert_tokenizer, sst2_dev_sentences):
    """A tiny random classifier whose predicted class varies between sentences."""
    import tensorflow as tf

    import keras_albert
    from keras_albert.albert_preprocessor import AlbertPreprocessor

    model = keras_albert.AlbertTextClassifier(tiny_backbone(albert_tokenizer), num_classes=2)
    sharpen_head(model, "logits")
    # Centre the logits on held-out sentences (the tests use the first 200).
    features = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)(tf.constant(sst2_dev_sentences[-100:]))
    median = np.median(model.predict(features, verbose=0), axis=0)
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel, bias - median])
    return model


@pytest.fixture
def classifier_preset(text_classifier, albert_tokenizer, tmp_path):
    """The tiny classifier saved as a task preset with its preprocessor and task spec."""
    from keras_albert.albert_preprocessor import AlbertPreprocessor
    from keras_albert.task_spec import TextClassificationSpec, save_task_spec

    preset = tmp_path / "preset"
    text_classifier.preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)
    try:
        text_classifier.save_to_preset(str(preset))
    finally:
        text_classifier.preprocessor = None  # The session fixture stays preprocessor-free.
    save_task_spec(preset, TextClassificationSpec(labels=tuple(LABEL_NAMES), sequence_length=SEQUENCE_LENGTH))
    return preset


@pytest.fixture(scope="session")
def classifier_model_base(text_classifier, albert_tokenizer, tmp_path_factory):
    """`<model_base>` holding version 1 of the exported tiny classifier."""
    from export.saved_model import export_saved_model
    from export.serving_signatures import ServingLimits

    model_base = tmp_path_factory.mktemp("models") / "albert_classifier"
    # Room for the tests' 200-row batches and 38,000-character text (truncation);
    # the limits themselves are test_serving_limits.py's.
    export_saved_model(
        text_classifier, albert_tokenizer, str(model_base), sequence_length=SEQUENCE_LENGTH, labels=LABEL_NAMES,
        limits=ServingLimits(max_batch_size=256, max_text_chars=50000),
    )
    return model_base


@pytest.fixture(scope="session")
def classifier_signature(classifier_model_base):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(str(classifier_model_base / "1")).signatures["serving_default"]


@pytest.fixture(scope="session")
def keras_classifier_logits(text_classifier, albert_tokenizer):
    """Keras' logits for given sentences, packed as the task programs pack them."""
    import tensorflow as tf

    from keras_albert.albert_preprocessor import AlbertPreprocessor

    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)

    def logits(sentences):
        features = preprocessor(tf.constant(sentences))
        return np.asarray(text_classifier.predict(features, batch_size=64, verbose=0))

    return logits


@pytest.fixture(scope="session")
def word_splitter_model_base(tmp_path_factory):
    """A small non-ALBERT SavedModel for the client's mechanics.

    Signature `serving_default`: `text` `[batch]` -> `words` `[batch,
    max_words]` (padded with ""), `num_words` `[batch]`, `lengths`
    `[batch]` (bytes); outputs whose width depends on the batch, like the
    NER signature's.
    """
    import tensorflow as tf

    class WordSplitter(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def split(self, text):
            words = tf.strings.split(text)
            return {
                "words": words.to_tensor(default_value=""),
                "num_words": tf.cast(words.row_lengths(), tf.int32),
                "lengths": tf.strings.length(text),
            }

    model_base = tmp_path_factory.mktemp("models") / "word_splitter"
    module = WordSplitter()
    tf.saved_model.save(module, str(model_base / "7"), signatures={"serving_default": module.split})
    return model_base


def assert_outputs_match(outputs, expected, atol):
    """Finite `outputs` equal to Keras' (`predict`'s dict or bare logits)."""
    expected = expected if isinstance(expected, dict) else {"logits": expected}
    assert set(outputs) == set(expected)
    for name, value in expected.items():
        assert np.all(np.isfinite(outputs[name])), name
        np.testing.assert_allclose(outputs[name], value, atol=atol, err_msg=name)


def run_python(code, *args, cwd=None, stdin=None, timeout=600):
    """Runs Python in a fresh process (the repository importable); returns stdout.

    `stdin`: str, or bytes sent as they are (e.g. not UTF-8).
    """
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, *(["-c", code] if code else []), *args],
        cwd=cwd or REPO_ROOT, env=env, input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True, timeout=timeout,
    )
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}")
    return result.stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def replay_warmup_requests(saved_model_dir):
    """Runs the export's warmup requests through its loaded signatures, as TF Serving
    does before it serves a version; returns the requests."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from export.warmup import read_warmup_requests

    loaded = tf.saved_model.load(str(saved_model_dir))
    requests = read_warmup_requests(str(saved_model_dir))
    for signature_name, inputs in requests:
        loaded.signatures[signature_name](**{name: tf.constant(value) for name, value in inputs.items()})
    return requests

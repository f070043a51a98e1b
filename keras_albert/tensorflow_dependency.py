"""TensorFlow is optional: models run on JAX and PyTorch without it.

Only the in-graph text pipeline (tokenizer, preprocessor, `tf.data`) and
export need TensorFlow and tensorflow-text. Their modules import them with
`try`/`except ImportError` (as keras-hub does) and call `require_tensorflow`
where they are used, so `import keras_albert` works without them and a use
says what is missing.
"""

INSTALL_HINT = "pip install tensorflow tensorflow-text"


def require_tensorflow(feature):
    """Raises a clear `ImportError` naming `feature` when TensorFlow or
    tensorflow-text cannot be imported."""
    try:
        import tensorflow  # noqa: F401
        import tensorflow_text  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{feature} needs TensorFlow: {INSTALL_HINT} ({error})") from error

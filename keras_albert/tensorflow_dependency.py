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


# TensorFlow 2.21.0's oneDNN CPU kernels corrupt the heap while ALBERT
# trains: a SIGSEGV, or a SIGABRT from glibc ("corrupted double-linked
# list"), at a random step. Measured with `python -m bench.heap_corruption`
# (300 steps of a tiny classifier over varying shapes, glibc's heap checks
# on): 9 of 15 runs died with the kernels on, none of 15 with them off
# (AMD EPYC, AVX-512; the same family as tensorflow/tensorflow#117700).
# Off costs about 10 % of float32 speed there; TF_ENABLE_ONEDNN_OPTS=1
# turns them back on (CPU bfloat16 needs them to be fast).
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def use_stable_tensorflow_kernels(environ=None):
    """Turns TensorFlow's oneDNN kernels off unless the environment chose.

    It acts only before TensorFlow is imported (TensorFlow reads the
    variable then): `import keras_albert` and the programs' start-up call it
    first.
    """
    import os
    import sys

    environ = os.environ if environ is None else environ
    if "tensorflow" not in sys.modules and not environ.get(ONEDNN_ENV, "").strip():
        environ[ONEDNN_ENV] = "0"


def onednn_enabled(environ=None):
    """Whether TensorFlow runs its oneDNN kernels (its default on x86 is on)."""
    import os

    environ = os.environ if environ is None else environ
    return environ.get(ONEDNN_ENV, "1").strip().lower() not in ("0", "false")

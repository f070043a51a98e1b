"""TensorFlow's oneDNN kernels are off unless the user turns them on (TF 2.21 heap corruption)."""

import os
import subprocess
import sys

import pytest

from keras_albert import tensorflow_dependency

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What TensorFlow itself decided, read after `import keras_albert` imported it.
REPORT = (
    "import os, keras_albert\n"
    "from tensorflow.python.util import _pywrap_util_port\n"
    "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), _pywrap_util_port.IsMklEnabled())\n"
)


def tensorflow_kernels_after_import(value, code=REPORT):
    env = {k: v for k, v in os.environ.items() if k != tensorflow_dependency.ONEDNN_ENV}
    if value is not None:
        env[tensorflow_dependency.ONEDNN_ENV] = value
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPOSITORY_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


@pytest.mark.parametrize(
    "value, expected",
    [(None, ["0", "False"]), ("", ["0", "False"]), ("1", ["1", "True"]), ("0", ["0", "False"])],
)
def test_import_keras_albert_turns_onednn_off_unless_the_environment_chose(value, expected):
    assert tensorflow_kernels_after_import(value) == expected


def test_a_tensorflow_imported_before_keras_albert_keeps_its_kernels():
    code = "import tensorflow\n" + REPORT
    assert tensorflow_kernels_after_import(None, code) == ["None", "True"]


def test_onednn_enabled_reads_tensorflows_default_as_on():
    assert tensorflow_dependency.onednn_enabled({}) is True
    assert tensorflow_dependency.onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": "1"}) is True
    assert tensorflow_dependency.onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": "0"}) is False

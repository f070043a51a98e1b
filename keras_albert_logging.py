"""Quiet start-up for the keras-albert programs.

TensorFlow prints pages of C++ log lines (oneDNN, CUDA, CPU features,
tf.data) that say nothing about the user's run. The `tasks` and `export`
packages call `quiet_third_party_logs()` in their `__init__`, before any of
their modules imports TensorFlow, so every program starts quiet:

- `TF_CPP_MIN_LOG_LEVEL=3` unless the environment sets it already;
- TensorFlow is imported with file descriptor 2 pointed at a temporary
  file: lines written before absl's C++ logging is initialized ignore
  `TF_CPP_MIN_LOG_LEVEL`. If the import fails, the captured text is
  written back to stderr, so no import error is hidden;
- TensorFlow's Python logger shows errors only.

The programs' own messages (absl logging, Keras progress bars) are kept.
`--verbosity=1` (absl's flag, also `-v 1`) or `KERAS_ALBERT_VERBOSE=1`
keeps all of TensorFlow's output.

This module is top-level and imports nothing of the project: importing
`keras_albert` would import Keras, and with it TensorFlow, too early.
"""

import os
import sys
import tempfile

VERBOSE_ENV = "KERAS_ALBERT_VERBOSE"
# absl's verbosity at which TensorFlow's logs are kept: 1 is absl's DEBUG.
VERBOSE_LEVEL = 1


def _verbosity_from_argv(argv):
    """The value of absl's `--verbosity` / `-v` in `argv`, else None."""
    for index, arg in enumerate(argv):
        for name in ("--verbosity", "-v"):
            if arg.startswith(name + "="):
                value = arg[len(name) + 1 :]
            elif arg == name and index + 1 < len(argv):
                value = argv[index + 1]
            else:
                continue
            try:
                return int(value)
            except ValueError:
                return None  # absl rejects it with its own message.
    return None


def wants_verbose(argv=None, environ=None):
    """Whether the user asked for TensorFlow's logs (flag or environment)."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    verbosity = _verbosity_from_argv(argv)
    return verbosity is not None and verbosity >= VERBOSE_LEVEL


def quiet_third_party_logs(argv=None):
    """Silences TensorFlow's start-up and C++ logs unless verbose (see the module doc)."""
    if wants_verbose(argv):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        _import_tensorflow_muted()
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")


def _import_tensorflow_muted():
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved_stderr, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)

"""The programs start without TensorFlow's C++ log lines; a flag or env brings them back."""

import os
import re
import subprocess
import sys

import keras_albert_logging

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# absl C++ log lines ("I0000 00:00:... port.cc:153] oneDNN ...") and the
# notice absl prints before its logging is initialized.
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog")


def _start_program_package(environ):
    """Imports `tasks` (what every program does first) and runs one op; returns (stderr, env level)."""
    code = (
        "import os, tasks, tensorflow as tf; tf.reduce_sum(tf.constant([1.0])).numpy(); "
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_ALBERT_VERBOSE")}
    env.update(environ, KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stderr, result.stdout.strip()


def test_programs_start_quiet():
    stderr, level = _start_program_package({})
    assert [line for line in stderr.splitlines() if TF_LOG_LINE.search(line)] == []
    assert level == "3"


def test_verbose_switch_keeps_tensorflow_logs():
    _, level = _start_program_package({"KERAS_ALBERT_VERBOSE": "1"})
    assert level != "3"  # Left to TensorFlow (its import sets "1" when unset).


def test_wants_verbose_reads_absl_verbosity_flag_and_env():
    assert not keras_albert_logging.wants_verbose([], environ={})
    assert not keras_albert_logging.wants_verbose(["--verbosity=0"], environ={})
    assert keras_albert_logging.wants_verbose(["--task_name=x", "--verbosity=1"], environ={})
    assert keras_albert_logging.wants_verbose(["-v", "2"], environ={})
    assert keras_albert_logging.wants_verbose([], environ={"KERAS_ALBERT_VERBOSE": "true"})
    assert not keras_albert_logging.wants_verbose(["--verbosity=x"], environ={})


def test_failed_import_is_not_hidden(tmp_path):
    """A TensorFlow that fails to import shows its error: muting never swallows it."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import sys\nsys.stderr.write('fake tensorflow: broken install\\n')\nraise ImportError('boom')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_ALBERT_VERBOSE"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), REPO])
    result = subprocess.run(
        [sys.executable, "-c", "import keras_albert_logging as m; m.quiet_third_party_logs([])"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "fake tensorflow: broken install" in result.stderr
    assert "ImportError: boom" in result.stderr

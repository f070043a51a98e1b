"""The programs start without TensorFlow's C++ log lines; a flag or env brings them back."""

import importlib
import os
import re
import subprocess
import sys

import pytest

import keras_albert_cli

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
    assert not keras_albert_cli.wants_verbose([], environ={})
    assert not keras_albert_cli.wants_verbose(["--verbosity=0"], environ={})
    assert keras_albert_cli.wants_verbose(["--task_name=x", "--verbosity=1"], environ={})
    assert keras_albert_cli.wants_verbose(["-v", "2"], environ={})
    assert keras_albert_cli.wants_verbose([], environ={"KERAS_ALBERT_VERBOSE": "true"})
    assert not keras_albert_cli.wants_verbose(["--verbosity=x"], environ={})


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
        [sys.executable, "-c", "import keras_albert_cli as m; m.start_tensorflow([])"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "fake tensorflow: broken install" in result.stderr
    assert "ImportError: boom" in result.stderr


def test_tensorflow_info_lines_through_absl_are_dropped_and_the_programs_own_kept():
    import logging

    import tensorflow as tf
    from absl import logging as absl_logging

    keras_albert_cli.start_tensorflow([])
    handler = absl_logging.get_absl_handler()
    tensorflow_file = os.path.join(os.path.dirname(tf.__file__), "python", "saved_model", "fingerprinting_utils.py")

    def shown(path, level):
        return bool(handler.filter(logging.LogRecord("absl", level, path, 1, "a line", None, None)))

    assert not shown(tensorflow_file, logging.INFO)
    assert shown(tensorflow_file, logging.WARNING)
    assert shown(os.path.join(REPO, "export", "tflite.py"), logging.INFO)


def test_native_lines_inside_quiet_native_logs_are_muted_unless_verbose():
    code = (
        "import os, keras_albert_cli as m\n"
        "with m.quiet_native_logs([]):\n    os.write(2, b'native line\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_ALBERT_VERBOSE"}
    env["PYTHONPATH"] = REPO
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert quiet.stderr == "after\n"
    env["KERAS_ALBERT_VERBOSE"] = "1"
    verbose = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert verbose.stderr == "native line\nafter\n"


# === --help ===

TASK_PROGRAMS = (
    "tasks.run_classifier", "tasks.run_ner", "tasks.run_squad", "tasks.run_multiple_choice",
    "tasks.create_pretraining_data", "tasks.run_pretraining",
)
# Flags absl and TensorFlow define that have nothing to do with these programs.
UNRELATED_FLAGS = ("--logtostderr", "--test_tmpdir", "--only_check_args", "--pdb_post_mortem", "--alsologtostderr")


def _check_help(text, module_name, own_flags, shared_flags=()):
    for name in (*own_flags, *shared_flags, "verbosity"):
        assert f"--{name}:" in text, name
    for unrelated in UNRELATED_FLAGS:
        assert unrelated not in text
    example = text.rsplit("Example:\n", 1)[1]
    assert example.lstrip().startswith(f"python -m {module_name} ")


@pytest.mark.parametrize("module_name", TASK_PROGRAMS)
def test_task_program_help_lists_its_flags_and_an_example(module_name):
    from absl import flags

    module = importlib.import_module(module_name)
    own = [flag.name for flag in flags.FLAGS.flags_by_module_dict().get(module_name, [])]
    text = keras_albert_cli.program_help(module)
    _check_help(text, module_name, own, shared_flags=("output_dir", "max_seq_length", "learning_rate", "recipe"))
    assert text.index("Flags of this program") < text.index("Flags shared with other programs") if own else True
    # Another program's own flags (imported in this process) stay out.
    other = "task_name" if module_name != "tasks.run_classifier" else "tag_scheme"
    assert f"--{other}:" not in text


@pytest.mark.parametrize(
    "module_name, own_flags",
    [
        ("tasks.run_classifier", ("task_name", "data_dir", "output_dir")),
        ("export.saved_model", ("preset", "model_base", "version")),
        ("export.tflite", ("preset", "output_dir", "quantization")),
        ("export.predict", ("model", "input")),
        ("export.serving_client", ("server", "protocol", "model_name", "export_dir", "spec", "text")),
    ],
)
def test_help_exits_zero_from_the_command_line(module_name, own_flags):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-m", module_name, "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    _check_help(result.stdout, module_name, own_flags)


def test_console_script_help_shows_the_command_as_typed(monkeypatch):
    module = importlib.import_module("tasks.run_classifier")
    monkeypatch.setattr(sys, "argv", ["/venv/bin/albert-run-classifier", "--help"])
    text = keras_albert_cli.program_help(module)
    assert "Usage: albert-run-classifier [flags]" in text
    assert text.rsplit("Example:\n", 1)[1].lstrip().startswith("albert-run-classifier --task_name=")


@pytest.mark.parametrize("command", ["albert-convert", "albert-train-sentencepiece"])
def test_argparse_console_script_help_shows_the_command_as_typed(command, monkeypatch, capsys):
    module = importlib.import_module(keras_albert_cli.COMMANDS[command])
    monkeypatch.setattr(sys, "argv", [f"/venv/bin/{command}", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: {command} ")
    assert f"\n    {command} --" in text  # The example lines.
    assert "python -m" not in text


def test_example_command_keeps_continuation_lines():
    doc = "Title.\n\n    python -m tasks.y --c\n\nExample:\n\n    python -m tasks.x --a=1 \\\n      --b=2\n\nMore.\n"
    assert keras_albert_cli.example_command(doc, "tasks.x") == "    python -m tasks.x --a=1 \\\n      --b=2"


def test_every_command_names_a_program_with_an_entry_point():
    for command, module_name in keras_albert_cli.COMMANDS.items():
        assert command.startswith("albert-")
        path = os.path.join(REPO, *module_name.split(".")) + ".py"
        with open(path, encoding="utf-8") as f:
            source = f.read()
        assert "\ndef run_command():" in source or "\ndef main(argv=None):" in source, module_name
    assert keras_albert_cli.installed_module_name("tasks.run_ner") == "keras_albert_tasks.run_ner"
    assert keras_albert_cli.installed_module_name("export.tflite") == "keras_albert_export.tflite"


def test_log_lines_read_time_and_message_and_mark_warnings():
    import logging

    formatter = keras_albert_cli.ReadableLogFormatter()

    def line(level, message):
        return formatter.format(logging.LogRecord("absl", level, "/x/common.py", 885, message, None, None))

    assert re.fullmatch(r"\d\d:\d\d:\d\d Read 64 examples", line(logging.INFO, "Read 64 examples"))
    assert re.fullmatch(r"\d\d:\d\d:\d\d warning: 30 of 64 sequences", line(logging.WARNING, "30 of 64 sequences"))


def _run_classifier_without_data(*extra_args):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_ALBERT_VERBOSE")}
    return subprocess.run(
        [sys.executable, "-m", "tasks.run_classifier", "--task_name=sst-2", "--data_dir=/nonexistent",
         f"--albert_config_file={REPO}/nonexistent.json", "--output_dir=/nonexistent/out", "--do_train",
         *extra_args],
        cwd=REPO, env=dict(env, KERAS_BACKEND="tensorflow"), capture_output=True, text=True, timeout=300,
    )


def test_bad_input_ends_a_program_with_its_message_not_a_traceback():
    result = _run_classifier_without_data()
    assert result.returncode == 1
    assert result.stderr == (
        "error: /nonexistent/train.tsv does not exist (--data_dir=/nonexistent, --task_name=sst-2).\n"
        "(--verbosity=1 shows where it was raised)\n"
    )
    assert "Traceback" not in result.stderr
    verbose = _run_classifier_without_data("--verbosity=1")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_sigterm_unwinds_a_program_so_its_cleanup_runs(tmp_path):
    import signal
    import time

    staging = tmp_path / ".1.staging"
    code = (
        "import os, sys, time, keras_albert_cli\n"
        "def main(argv):\n"
        f"    os.mkdir({str(staging)!r})\n"
        "    try:\n"
        "        print('ready', flush=True)\n"
        "        time.sleep(60)\n"
        "    finally:\n"
        f"        os.rmdir({str(staging)!r})\n"
        "keras_albert_cli.run(main, ['program'])\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 10
    finally:
        process.kill()
    assert not staging.exists()


@pytest.mark.parametrize("module", ["keras_albert.convert", "keras_albert.sentencepiece_trainer"])
def test_library_programs_run_with_python_dash_m_start_quiet(module):
    # Python imports the `keras_albert` package (and TensorFlow with it) before the program's own code runs.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", keras_albert_cli.VERBOSE_ENV)}
    process = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO,
        env=dict(env, KERAS_BACKEND="tensorflow"), capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.startswith(f"usage: python -m {module} ")
    assert process.stderr == ""  # No TensorFlow start-up lines, no runpy warning.

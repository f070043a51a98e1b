"""Start-up of the keras-albert command-line programs: quiet logs, readable help, console scripts.

## Starting TensorFlow

The `tasks` and `export` packages call `start_tensorflow()` in their
`__init__`, before any of their modules imports TensorFlow. It imports
`keras_albert` first, whose import sets TensorFlow's kernel defaults
(`keras_albert.tensorflow_dependency.use_stable_tensorflow_kernels`), and
with it Keras and TensorFlow, quietly: TensorFlow prints pages of C++ log
lines (oneDNN, CUDA, CPU features, tf.data) that say nothing about the
user's run, so every program starts quiet:

- `TF_CPP_MIN_LOG_LEVEL=3` unless the environment sets it already;
- TensorFlow is imported with file descriptor 2 pointed at a temporary
  file: lines written before absl's C++ logging is initialized ignore
  `TF_CPP_MIN_LOG_LEVEL`. If the import fails, the captured text is
  written back to stderr, so no import error is hidden;
- TensorFlow's Python logger shows errors only, and absl's handler drops
  the INFO lines of TensorFlow's modules that log through absl;
- `quiet_native_logs()` mutes the C++ lines of a step that prints them
  (the TFLite quantizer's settings line).

The programs' own messages are kept, written for people: a log line is
`HH:MM:SS message` (warnings and errors say so) instead of absl's prefix
of date, thread id and source line, and a bad input (a `ValueError`, which
names the file, line or flag) ends the program with `error: <message>`
and exit status 1 instead of a traceback. `--verbosity=1` (absl's flag,
also `-v 1`) or `KERAS_ALBERT_VERBOSE=1` keeps absl's format, the
tracebacks and all of TensorFlow's output.

## Help

`run(main)` replaces `absl.app.run(main)` in the programs: `--help` (and
`-h`, `--helpshort`) prints the program's own flags, grouped by the module
that defines them (the program, the shared `common` flags), absl's
`--verbosity`, and the example command of the program's docstring, then
exits 0. absl's own `--help` exits 1 and shows only the main module's flags;
`--helpfull` still lists everything, the ~30 absl and TensorFlow flags
included.

## Console scripts

`COMMANDS` maps each installed command to its program module; setup.py
points every command at `main` here, which silences TensorFlow's start-up
logs, then runs the module named by the command (installed as `keras_albert_tasks` / `keras_albert_export`, the
repository's `tasks/` and `export/`). Every program's help names it as the
user ran it, by `invoked_command`: the command, else `python -m` the module;
the argparse programs (`albert-convert`, `albert-train-sentencepiece`)
take their usage and examples from it too.

This module is top-level and imports nothing of the project at its own
import: `keras_albert` imports Keras, and with it TensorFlow, which must
happen inside `start_tensorflow`.
"""

import contextlib
import functools
import importlib
import logging
import os
import re
import signal
import sys
import tempfile
import textwrap
import threading
import types

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


def start_tensorflow(argv=None):
    """Imports `keras_albert` and TensorFlow, their start-up logs silenced
    unless verbose (see the module doc)."""
    if wants_verbose(argv):
        import keras_albert  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with captured_stderr():
            import keras_albert  # noqa: F401
            import tensorflow  # noqa: F401
    from absl import logging as absl_logging

    handler = absl_logging.get_absl_handler()
    handler.setFormatter(ReadableLogFormatter())
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")
        if _is_not_tensorflow_info not in handler.filters:
            handler.addFilter(_is_not_tensorflow_info)


class ReadableLogFormatter(logging.Formatter):
    """`HH:MM:SS message`, with `warning:` / `error:` before the message where it is one."""

    def __init__(self):
        super().__init__("%(asctime)s %(level_marker)s%(message)s", datefmt="%H:%M:%S")

    def format(self, record):
        record.level_marker = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return super().format(record)


def _is_not_tensorflow_info(record):
    """False for INFO lines of TensorFlow's own modules that log through absl
    (writing a SavedModel logs five: signatures, sharding, fingerprint)."""
    tensorflow_dir = os.path.dirname(sys.modules["tensorflow"].__file__) + os.sep
    return record.levelno >= logging.WARNING or not record.pathname.startswith(tensorflow_dir)


@contextlib.contextmanager
def captured_stderr():
    """File descriptor 2 into a temporary file for the block: TensorFlow's C++
    code writes there past Python's `sys.stderr`. If the block raises, the
    captured text is written back, so no error is hidden."""
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved_stderr, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)


def quiet_native_logs(argv=None):
    """`captured_stderr()` unless the user asked for TensorFlow's logs."""
    return contextlib.nullcontext() if wants_verbose(argv) else captured_stderr()


# === Help ===

HELP_ARGS = ("--help", "-help", "-h", "--helpshort", "-?")
# Flags absl defines for every program that matter to a user of these programs.
ABSL_FLAGS_SHOWN = ("verbosity",)
PROJECT_PACKAGES = ("tasks", "export", "keras_albert", "keras_albert_tasks", "keras_albert_export")


def _flag_modules(module, flag_values):
    """`(title, flags)` of the program's own flags, then of the project modules it imports.

    Modules the program does not import (another program loaded in the
    same process, absl, TensorFlow) are left out.
    """
    own_names = {"__main__", module.__name__, getattr(module, "__file__", None)}
    imported = {
        value.__name__
        for value in vars(module).values()
        if isinstance(value, types.ModuleType) and value.__name__.split(".")[0] in PROJECT_PACKAGES
    }
    own, shared = [], []
    for module_name, module_flags in flag_values.flags_by_module_dict().items():
        if module_name in own_names:
            own.append(("Flags of this program", module_flags))
        elif module_name in imported:
            shared.append((f"Flags shared with other programs ({module_name})", module_flags))
    return own + shared


def _describe(flag):
    default = "" if flag.default is None else f" (default: {flag.default_as_str or repr(flag.default)})"
    if flag.flag_type() == "bool" and flag.default is not None:
        default = f" (default: {'true' if flag.default else 'false'})"
    text = f"--{flag.name}: {flag.help}{default}"
    return textwrap.fill(text, width=100, initial_indent="  ", subsequent_indent="      ")


def example_command(docstring, program_name):
    """The docstring's first `python -m <program_name>` command, continuation lines included."""
    lines = (docstring or "").splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"\s*python -m {re.escape(program_name)}\b", line):
            command = [line.strip()]
            while command[-1].endswith("\\") and index + 1 < len(lines):
                index += 1
                command.append("  " + lines[index].strip())
            return "\n".join("    " + part for part in command)
    return None


def invoked_command(module_name):
    """The program's command as the user typed it, for its usage and example
    lines: a console script by its command, else `python -m <module_name>`."""
    command = os.path.basename(sys.argv[0]) if sys.argv else ""
    return command if command in COMMANDS else f"python -m {module_name}"


def program_help(module, flag_values=None):
    """The `--help` text of the absl program `module` (see the module doc)."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    program_name = module.__spec__.name if getattr(module, "__spec__", None) else module.__name__
    doc = (module.__doc__ or "").strip()
    invoked = invoked_command(program_name)
    sections = [doc.splitlines()[0] if doc else program_name, f"Usage: {invoked} [flags]"]
    shown = set()
    for title, module_flags in _flag_modules(module, flag_values):
        lines = [_describe(flag) for flag in sorted(module_flags, key=lambda f: f.name) if flag.name not in shown]
        shown.update(flag.name for flag in module_flags)
        if lines:
            sections.append(f"{title}:\n" + "\n".join(lines))
    absl_lines = [_describe(flag_values[name]) for name in ABSL_FLAGS_SHOWN if name in flag_values]
    absl_lines.append(f"  {VERBOSE_ENV}=1 in the environment also keeps TensorFlow's logs.")
    sections.append("Logging:\n" + "\n".join(absl_lines))
    # Docstrings show `python -m tasks.x`; installed, the module is keras_albert_tasks.x.
    repository_name = _repository_module_name(program_name)
    example = example_command(module.__doc__, repository_name)
    if example:
        sections.append(f"Example:\n{example.replace(f'python -m {repository_name}', invoked, 1)}")
    return "\n\n".join(sections) + "\n"


def run(main, argv=None):
    """`absl.app.run(main)`, with this module's `--help` (exit 0)."""
    from absl import app

    argv = sys.argv if argv is None else argv
    if any(arg in HELP_ARGS for arg in argv[1:]):
        app.define_help_flags()  # absl's --verbosity etc., as a normal start defines them.
        sys.stdout.write(program_help(sys.modules[main.__module__]))
        sys.exit(0)
    # Python's default SIGTERM ends the process on the spot; raised as an
    # exit instead, `finally` blocks remove what a program half wrote (an
    # export's staging directory). The training programs' `stops_cleanly`
    # replaces it while they run.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_for_sigterm)
    app.run(main if wants_verbose(argv) else _bad_input_without_traceback(main), argv=argv)


def _exit_for_sigterm(signum, frame):
    sys.exit(128 + signum)


def _bad_input_without_traceback(main):
    """`main`, ending on a `ValueError` (the programs' bad-input error, which
    names the file, line or flag at fault) with its message alone."""

    @functools.wraps(main)
    def main_reporting_bad_input(argv):
        try:
            return main(argv)
        except ValueError as error:
            sys.stderr.write(f"error: {error}\n(--verbosity=1 shows where it was raised)\n")
            sys.exit(1)

    return main_reporting_bad_input


# === Console scripts ===

# command -> program module (in the repository: tasks.*, export.*, keras_albert.*).
COMMANDS = {
    "albert-run-classifier": "tasks.run_classifier",
    "albert-run-ner": "tasks.run_ner",
    "albert-run-squad": "tasks.run_squad",
    "albert-run-multiple-choice": "tasks.run_multiple_choice",
    "albert-create-pretraining-data": "tasks.create_pretraining_data",
    "albert-run-pretraining": "tasks.run_pretraining",
    "albert-export-saved-model": "export.saved_model",
    "albert-export-tflite": "export.tflite",
    "albert-predict": "export.predict",
    "albert-serving-client": "export.serving_client",
    "albert-convert": "keras_albert.convert.__main__",
    "albert-train-sentencepiece": "keras_albert.sentencepiece_trainer",
}
# What the wings are installed as: `tasks` and `export` are too generic for site-packages.
INSTALLED_PACKAGES = {"tasks": "keras_albert_tasks", "export": "keras_albert_export"}


def _repository_module_name(module_name):
    package, _, rest = module_name.partition(".")
    by_installed = {installed: package for package, installed in INSTALLED_PACKAGES.items()}
    return f"{by_installed.get(package, package)}.{rest}" if rest else module_name


def installed_module_name(module_name):
    package, _, rest = module_name.partition(".")
    return f"{INSTALLED_PACKAGES.get(package, package)}.{rest}"


def main():
    """Console-script entry point: runs the program the command's name maps to."""
    command = os.path.basename(sys.argv[0])
    if command not in COMMANDS:
        raise SystemExit(f"{command}: not a keras-albert command; known: {', '.join(COMMANDS)}")
    start_tensorflow()
    module = importlib.import_module(installed_module_name(COMMANDS[command]))
    if hasattr(module, "run_command"):  # The absl programs.
        module.run_command()
    else:  # The argparse ones in keras_albert: `main(argv=None)` returns the exit status.
        sys.exit(module.main())

"""The export commands refuse out-of-range numeric flags by name, before any model is loaded."""

import json

import pytest
from conftest import run_python

# Each command's flags are parsed and its main run, in one fresh process per command.
RUN_ROWS = """
import json, sys
from absl import flags
module = __import__(sys.argv[1], fromlist=["main"])
module.define_flags()
for args in json.loads(sys.argv[2]):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["command", *args])
    try:
        module.main([])
        print(json.dumps("no error"))
    except ValueError as error:
        print(json.dumps(str(error)))
"""

# (command, flags, message); --preset need not exist: the ranges are checked first.
CASES = [
    ("export.saved_model", ["--max_text_chars=0"], "--max_text_chars must be at least 1. Got 0."),
    ("export.saved_model", ["--max_batch_size=-4"], "--max_batch_size must be at least 1. Got -4."),
    ("export.saved_model", ["--max_windows_per_request=0"], "--max_windows_per_request must be at least 1. Got 0."),
    ("export.saved_model", ["--doc_stride=0"], "--doc_stride must be at least 1. Got 0."),
    ("export.saved_model", ["--max_seq_length=2"], "--max_seq_length must be at least 3. Got 2."),
    ("export.saved_model", ["--version=-1"], "--version must be at least 0. Got -1."),
    ("export.saved_model", ["--top_k=0"], "--top_k must be at least 1. Got 0."),
    ("export.tflite", ["--num_calibration_examples=0"], "--num_calibration_examples must be at least 1. Got 0."),
    ("export.tflite", ["--latency_runs=0"], "--latency_runs must be at least 1. Got 0."),
    ("export.tflite", ["--n_best_size=0"], "--n_best_size must be at least 1. Got 0."),
    ("export.predict", ["--batch_size=0"], "--batch_size must be at least 1. Got 0."),
    ("export.serving_client", ["--batch_size=0"], "--batch_size must be at least 1. Got 0."),
    ("export.serving_client", ["--timeout_seconds=0"], "--timeout_seconds must be above 0. Got 0.0."),
    ("export.serving_client", ["--timeout_seconds=nan"], "--timeout_seconds must be above 0. Got nan."),
    ("export.serving_client", ["--max_concurrent_requests=0"], "--max_concurrent_requests must be at least 1. Got 0."),
    ("export.serving_client", ["--model_version=-1"], "--model_version must be at least 0. Got -1."),
]
REQUIRED = {
    "export.saved_model": ["--preset=/nonexistent/preset", "--model_base=/nonexistent/base"],
    "export.tflite": ["--preset=/nonexistent/preset", "--output_dir=/nonexistent/out"],
    "export.predict": ["--model=/nonexistent/model"],
    # --text: nothing waits on stdin.
    "export.serving_client": ["--model_name=m", "--spec=/nonexistent/task_spec.json", "--text=a"],
}


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_out_of_range_flags_are_refused_naming_the_flag_and_value(command):
    cases = [(args, message) for name, args, message in CASES if name == command]
    stdout = run_python(RUN_ROWS, command, json.dumps([REQUIRED[command] + args for args, _ in cases]), timeout=300)
    messages = [json.loads(line) for line in stdout.splitlines() if line.startswith('"')]
    assert messages == [message for _, message in cases]

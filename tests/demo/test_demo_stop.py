"""A stop request ends the demo and the step's program it runs, with one line, not a traceback."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _processes_mentioning(text):
    found = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True)
    return [pid for pid in found.stdout.split() if int(pid) != os.getpid()]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_demo_stops_its_step_and_says_so(tmp_path, stop_signal):
    output_dir = tmp_path / f"demo_{stop_signal.name}"
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--output_dir", str(output_dir)], cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(output_dir.glob("logs/4_7_*.log")):  # The pretraining program has started,
            assert time.monotonic() < deadline and process.poll() is None, "pretraining did not start"
            time.sleep(0.2)
        time.sleep(5)  # and is inside TensorFlow.
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + stop_signal, output
    assert f"Interrupted ({stop_signal.name}): the demo stopped" in output and "Traceback" not in output, output
    assert _processes_mentioning(str(output_dir)) == []  # The step's program did not outlive the demo.

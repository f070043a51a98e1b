"""The heap-corruption reproducer runs both settings and tabulates how runs ended; no rate is asserted."""

import os
import re
import subprocess
import sys

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_each_setting_gets_its_runs_and_a_row_in_the_table():
    process = subprocess.run(
        [sys.executable, "-m", "bench.heap_corruption", "--runs=1", "--steps=3"],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert "cudart_stub" not in process.stderr and "absl::InitializeLog" not in process.stderr, process.stderr[-3000:]
    lines = process.stdout.splitlines()
    settings = [re.search(r"oneDNN (on|off)", line).group(1) for line in lines if line.startswith("run ")]
    assert settings == ["on", "off"]
    rows = [line for line in lines if re.match(r"\| [01] \| 1 \| [01] \|", line)]
    assert [row[2] for row in rows] == ["1", "0"]
    # A run that ends by a signal is reported as died, named by the signal.
    assert all(re.search(r"finished|SIG[A-Z]+|exit status", line) for line in lines if line.startswith("run "))


def test_bad_arguments_are_refused_naming_the_flag():
    process = subprocess.run(
        [sys.executable, "-m", "bench.heap_corruption", "--runs=0"],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 2
    assert "--runs and --steps must be at least 1" in process.stderr

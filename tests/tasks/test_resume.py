"""A pretraining run killed with SIGKILL and restarted ends where an uninterrupted run ends."""

import os
import signal
import time

import pytest
from pretraining_test_data import (
    max_weight_difference,
    pretraining_args,
    start_program,
    write_tiny_config,
    write_tiny_data,
)

from tasks import common, run_pretraining

NUM_STEPS = 24
INTERVAL = 4


def checkpoint(output_dir, step):
    return output_dir / "checkpoints" / "worker_0" / f"ckpt-{step:09d}.weights.h5"


@pytest.mark.heavy
def test_killed_and_restarted_run_matches_an_uninterrupted_run(tmp_path, spm_model_path, shared_data_dir):
    data_dir = write_tiny_data(tmp_path, spm_model_path, shared_data_dir / "wikitext2" / "valid.txt")
    config_file = write_tiny_config(tmp_path / "config.json", spm_model_path)
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    # --steps_per_execution=2: the kill lands between saves, mid-epoch.
    args = lambda output_dir: pretraining_args(  # noqa: E731
        data_dir, config_file, output_dir, NUM_STEPS, INTERVAL, "--steps_per_execution=2"
    )
    process = start_program(args(killed_dir), tmp_path / "killed.log")
    try:
        # The reference runs in this process meanwhile.
        common.run_program(run_pretraining.main, ["run_pretraining", *args(reference_dir)])
        deadline = time.monotonic() + 240
        while not checkpoint(killed_dir, INTERVAL).exists():
            assert process.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no first checkpoint in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    saved = sorted(p.name for p in (killed_dir / "checkpoints" / "worker_0").iterdir() if not p.name.startswith("."))
    assert checkpoint(killed_dir, NUM_STEPS).name not in saved, "the run ended before it was killed"

    restarted = start_program(args(killed_dir), tmp_path / "restarted.log")
    try:
        assert restarted.wait(timeout=300) == 0, (tmp_path / "restarted.log").read_text()[-3000:]
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.wait()
    log = (tmp_path / "restarted.log").read_text()
    assert "Resuming at step" in log
    # Model and optimizer state (incl. the step counter): float32 rounding only.
    assert max_weight_difference(checkpoint(killed_dir, NUM_STEPS), checkpoint(reference_dir, NUM_STEPS)) < 1e-5
    assert not list((killed_dir / "checkpoints" / "worker_0").glob(".ckpt-*"))

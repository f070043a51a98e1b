"""Two workers on 127.0.0.1 under MultiWorkerMirroredStrategy train like one
worker, and nothing hangs: a missing or lost peer and SIGTERM end a worker
in bounded time, and the restarted job resumes."""

import signal
import time

import pytest
from pretraining_test_data import (
    free_ports,
    max_weight_difference,
    pretraining_args,
    start_program,
    write_tiny_config,
    write_tiny_data,
)

from keras_albert import training
from keras_albert.training import StepCheckpoint
from tasks import common, run_pretraining

NUM_STEPS = 6
INTERVAL = 3


def start_workers(args, log_dir, name, return_ports=False):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = [
        start_program(
            [*args, "--distribution_strategy=multi_worker_mirrored"],
            log_dir / f"{name}_worker_{index}.log",
            tf_config={"cluster": cluster, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]
    return (workers, ports) if return_ports else workers


def wait_for(workers, log_dir, name, timeout=300):
    try:
        for index, worker in enumerate(workers):
            log = log_dir / f"{name}_worker_{index}.log"
            assert worker.wait(timeout=timeout) == 0, log.read_text()[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def final_checkpoint(output_dir, worker):
    return output_dir / "checkpoints" / f"worker_{worker}" / f"ckpt-{NUM_STEPS:09d}.weights.h5"


@pytest.mark.heavy
def test_two_workers_train_resume_and_end_with_the_weights_of_one_worker(tmp_path, spm_model_path, shared_data_dir):
    data_dir = write_tiny_data(tmp_path, spm_model_path, shared_data_dir / "wikitext2" / "valid.txt")
    config_file = write_tiny_config(tmp_path / "config.json", spm_model_path)
    multi_dir, single_dir = tmp_path / "multi", tmp_path / "single"
    multi_args = pretraining_args(data_dir, config_file, multi_dir, NUM_STEPS, INTERVAL)
    workers = start_workers(multi_args, tmp_path, "first")
    try:
        # The single-worker reference (global batch 8, as the two workers' 4 + 4).
        common.run_program(
            run_pretraining.main,
            ["run_pretraining", *pretraining_args(data_dir, config_file, single_dir, NUM_STEPS, INTERVAL)],
        )
    finally:
        wait_for(workers, tmp_path, "first")
    reference = final_checkpoint(single_dir, 0)
    # Each worker holds its own checkpoints; both equal the single-worker
    # run's model and optimizer state up to float32 summation order.
    for index in range(2):
        assert max_weight_difference(final_checkpoint(multi_dir, index), reference) < 1e-5
    assert (multi_dir / "model.weights.h5").is_file()  # The chief wrote the preset.

    # Worker 1 "died" while writing its last checkpoint: the restarted
    # workers agree on the newest step both have (3) and redo the rest.
    final_checkpoint(multi_dir, 1).rename(final_checkpoint(multi_dir, 1).with_name(".ckpt-000000006.tmp-1.weights.h5"))
    wait_for(start_workers(multi_args, tmp_path, "restarted"), tmp_path, "restarted")
    assert "resuming all workers at step 3" in (tmp_path / "restarted_worker_0.log").read_text()
    for index in range(2):
        assert max_weight_difference(final_checkpoint(multi_dir, index), reference) < 1e-5


def wait_for_text(log_path, text, process, timeout):
    """Waits until `text` is in the log (failing if the process ends first)."""
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text():
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {log_path.read_text()[-3000:]}"
        time.sleep(0.1)


def wait_for_file(path, processes, log_paths, timeout):
    deadline = time.monotonic() + timeout
    while not path.exists():
        for process, log_path in zip(processes, log_paths):
            assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {path} in {timeout} s"
        time.sleep(0.02)


def seconds_to_exit(process, timeout):
    start = time.monotonic()
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return time.monotonic() - start


@pytest.mark.heavy
def test_a_worker_whose_peer_never_starts_fails_naming_it_and_sigterm_ends_its_wait(tmp_path):
    # Nothing is read before the workers meet, so no data is needed.
    args = pretraining_args(tmp_path / "no_data", tmp_path / "config.json", tmp_path / "out", 6, 3)
    args += ["--distribution_strategy=multi_worker_mirrored"]
    lonely_cluster, stopped_cluster = free_ports(2), free_ports(2)
    # Worker 0 leads the cluster, worker 1 joins it: each waits alone.
    lonely_log, stopped_log = tmp_path / "lonely.log", tmp_path / "stopped.log"
    lonely = start_program(
        [*args, "--cluster_timeout_seconds=8"], lonely_log,
        tf_config={"cluster": {"worker": [f"127.0.0.1:{p}" for p in lonely_cluster]}, "task": {"type": "worker", "index": 0}},
    )
    stopped = start_program(
        args, stopped_log,  # The default --cluster_timeout_seconds (10 minutes).
        tf_config={"cluster": {"worker": [f"127.0.0.1:{p}" for p in stopped_cluster]}, "task": {"type": "worker", "index": 1}},
    )
    try:
        wait_for_text(lonely_log, "Waiting up to 8 s", lonely, timeout=90)
        # The configured 8 s, plus slack for a busy machine.
        assert seconds_to_exit(lonely, timeout=8 + 20) < 8 + 20

        wait_for_text(stopped_log, "Waiting up to 600 s", stopped, timeout=90)
        time.sleep(1)  # Well inside the wait.
        stopped.send_signal(signal.SIGTERM)
        assert seconds_to_exit(stopped, timeout=30) < 30
        assert stopped.returncode == 128 + signal.SIGTERM, stopped_log.read_text()[-3000:]
        assert "Received SIGTERM: stopping now" in stopped_log.read_text()
    finally:
        kill_all([lonely, stopped])
    assert lonely.returncode != 0
    log = lonely_log.read_text()
    assert f"Could not reach worker 1 at 127.0.0.1:{lonely_cluster[1]} within 8 s (--cluster_timeout_seconds)" in log


LOST_NUM_STEPS = 18
LOST_INTERVAL = 3
PEER_TIMEOUT = 5


def start_lost_peer_job(tmp_path, spm_model_path, shared_data_dir):
    """Tiny data, the flags, and where worker i's checkpoints and logs go."""
    data_dir = write_tiny_data(tmp_path, spm_model_path, shared_data_dir / "wikitext2" / "valid.txt")
    config_file = write_tiny_config(tmp_path / "config.json", spm_model_path)
    args = [
        *pretraining_args(data_dir, config_file, tmp_path / "multi", LOST_NUM_STEPS, LOST_INTERVAL),
        f"--peer_timeout_seconds={PEER_TIMEOUT}", "--keep_checkpoint_max=100",
    ]
    checkpoints = lambda index: tmp_path / "multi" / "checkpoints" / f"worker_{index}"  # noqa: E731
    logs = lambda name: [tmp_path / f"{name}_worker_{index}.log" for index in range(2)]  # noqa: E731
    return data_dir, config_file, args, checkpoints, logs


def kill_all(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.heavy
def test_a_worker_killed_mid_training_ends_its_peer_and_the_restarted_job_ends_like_one_worker(
    tmp_path, spm_model_path, shared_data_dir
):
    data_dir, config_file, args, checkpoints, logs = start_lost_peer_job(tmp_path, spm_model_path, shared_data_dir)
    single_dir = tmp_path / "single"
    workers, ports = start_workers(args, tmp_path, "killed", return_ports=True)
    try:
        common.run_program(  # The uninterrupted single-worker reference, meanwhile.
            run_pretraining.main,
            ["run_pretraining", *pretraining_args(data_dir, config_file, single_dir, LOST_NUM_STEPS, LOST_INTERVAL)],
        )
        wait_for_file(checkpoints(1) / f"ckpt-{LOST_INTERVAL:09d}.weights.h5", workers, logs("killed"), timeout=180)
        workers[1].send_signal(signal.SIGKILL)
        # --peer_timeout_seconds, plus slack for a busy machine.
        assert seconds_to_exit(workers[0], timeout=PEER_TIMEOUT + 25) < PEER_TIMEOUT + 25
    finally:
        kill_all(workers)
    log = logs("killed")[0].read_text()
    assert workers[0].returncode == training.PEER_LOST_EXIT_CODE, log[-3000:]
    assert f"Lost worker 1 at 127.0.0.1:{ports[1]}" in log
    assert not (checkpoints(0) / f"ckpt-{LOST_NUM_STEPS:09d}.weights.h5").exists(), "the run ended before the kill"

    # Restarted, the job completes like the uninterrupted run (float32
    # summation order only: < 1e-5).
    wait_for(start_workers(args, tmp_path, "restarted"), tmp_path, "restarted")
    assert "Resuming at step" in logs("restarted")[0].read_text()
    for index in range(2):
        assert max_weight_difference(
            checkpoints(index) / f"ckpt-{LOST_NUM_STEPS:09d}.weights.h5",
            single_dir / "checkpoints" / "worker_0" / f"ckpt-{LOST_NUM_STEPS:09d}.weights.h5",
        ) < 1e-5


@pytest.mark.heavy
def test_sigterm_ends_a_training_worker_with_its_checkpoints_complete_and_its_peer_follows(
    tmp_path, spm_model_path, shared_data_dir
):
    _, _, args, checkpoints, logs = start_lost_peer_job(tmp_path, spm_model_path, shared_data_dir)
    workers, ports = start_workers(args, tmp_path, "stopped", return_ports=True)
    try:
        wait_for_file(checkpoints(0) / f"ckpt-{LOST_INTERVAL:09d}.weights.h5", workers, logs("stopped"), timeout=180)
        workers[0].send_signal(signal.SIGTERM)
        assert seconds_to_exit(workers[0], timeout=30) < 30
        assert seconds_to_exit(workers[1], timeout=PEER_TIMEOUT + 25) < PEER_TIMEOUT + 25
    finally:
        kill_all(workers)
    chief_log, worker_log = (path.read_text() for path in logs("stopped"))
    assert workers[0].returncode == 128 + signal.SIGTERM, chief_log[-3000:]
    assert "Received SIGTERM: stopping now" in chief_log
    assert workers[1].returncode == training.PEER_LOST_EXIT_CODE, worker_log[-3000:]
    assert f"Lost worker 0 at 127.0.0.1:{ports[0]}" in worker_log
    # The chief's newest checkpoint is complete: it loads, and equals
    # worker 1's of the same step.
    newest = max(StepCheckpoint(str(checkpoints(0))).saved_steps())
    assert newest < LOST_NUM_STEPS, "the run ended before the SIGTERM"
    assert max_weight_difference(
        checkpoints(0) / f"ckpt-{newest:09d}.weights.h5", checkpoints(1) / f"ckpt-{newest:09d}.weights.h5"
    ) < 1e-6

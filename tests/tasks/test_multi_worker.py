"""Two workers on 127.0.0.1 under MultiWorkerMirroredStrategy train like one worker."""

import pytest
from pretraining_test_data import (
    free_ports,
    max_weight_difference,
    pretraining_args,
    start_program,
    write_tiny_config,
    write_tiny_data,
)

from tasks import common, run_pretraining

NUM_STEPS = 6
INTERVAL = 3


def start_workers(args, log_dir, name):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    return [
        start_program(
            [*args, "--distribution_strategy=multi_worker_mirrored"],
            log_dir / f"{name}_worker_{index}.log",
            tf_config={"cluster": cluster, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]


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

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


@pytest.mark.heavy
def test_two_workers_end_with_the_weights_of_one_worker_with_the_same_global_batch(
    tmp_path, spm_model_path, shared_data_dir
):
    data_dir = write_tiny_data(tmp_path, spm_model_path, shared_data_dir / "wikitext2" / "valid.txt")
    config_file = write_tiny_config(tmp_path / "config.json", spm_model_path)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    multi_dir, single_dir = tmp_path / "multi", tmp_path / "single"
    workers = [
        start_program(
            [*pretraining_args(data_dir, config_file, multi_dir, NUM_STEPS, 3),
             "--distribution_strategy=multi_worker_mirrored"],
            tmp_path / f"worker_{index}.log",
            tf_config={"cluster": cluster, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]
    try:
        # The single-worker reference (global batch 8, as the two workers' 4 + 4).
        common.run_program(
            run_pretraining.main, ["run_pretraining", *pretraining_args(data_dir, config_file, single_dir, NUM_STEPS, 3)]
        )
        for index, worker in enumerate(workers):
            assert worker.wait(timeout=300) == 0, (tmp_path / f"worker_{index}.log").read_text()[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    reference = single_dir / "checkpoints" / "worker_0" / f"ckpt-{NUM_STEPS:09d}.weights.h5"
    for index in range(2):
        # Every worker holds its own checkpoints; all equal the single-worker
        # run's model and optimizer state up to float32 summation order.
        worker_checkpoint = multi_dir / "checkpoints" / f"worker_{index}" / f"ckpt-{NUM_STEPS:09d}.weights.h5"
        assert max_weight_difference(worker_checkpoint, reference) < 1e-5
    assert (multi_dir / "model.weights.h5").is_file()  # The chief wrote the preset.

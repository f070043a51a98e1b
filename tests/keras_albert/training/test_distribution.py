import json

import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

from keras_albert.training import distribution
from keras_albert.training import get_strategy, parse_tf_config, patch_keras_for_multi_worker

TWO_WORKERS = {"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]}, "task": {"type": "worker", "index": 1}}


def test_valid_tf_config_parses():
    assert parse_tf_config(json.dumps(TWO_WORKERS)) == TWO_WORKERS


def test_unset_tf_config_means_single_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert parse_tf_config() is None


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{not json", "not valid JSON"),
        ('["worker"]', "JSON object"),
        (json.dumps({"task": {"type": "worker", "index": 0}}), "`cluster`"),
        (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "`cluster.worker`"),
        (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
        (json.dumps({"cluster": TWO_WORKERS["cluster"]}), "`task`"),
        (json.dumps(dict(TWO_WORKERS, task={"type": "chief", "index": 0})), "`task.type`='chief'"),
        (json.dumps(dict(TWO_WORKERS, task={"type": "worker", "index": 2})), "`task.index`=2 names a missing worker"),
    ],
)
def test_malformed_tf_config_raises_naming_the_field(tf_config, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_tf_config(tf_config)


def test_multi_worker_strategy_checks_tf_config_before_starting(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(dict(TWO_WORKERS, task={"type": "worker", "index": 5})))
    with pytest.raises(ValueError, match="task.index"):
        get_strategy("multi_worker_mirrored")


def test_one_device_strategy_uses_the_cpu_without_gpus():
    strategy = get_strategy("one_device")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_unknown_strategy_and_missing_tpu_raise_clear_errors():
    with pytest.raises(ValueError, match="horovod"):
        get_strategy("horovod")
    with pytest.raises(ValueError, match="TPU"):
        get_strategy("tpu", tpu_address=None)
    with pytest.raises(ValueError, match="num_gpus=2"):
        get_strategy("mirrored", num_gpus=2)


@pytest.fixture
def restore_keras_trainer(monkeypatch):
    # monkeypatch restores whatever the test (or the patch) sets.
    monkeypatch.setattr(tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build", tf_trainer.TensorFlowTrainer._maybe_symbolic_build)
    monkeypatch.setattr(tf_trainer, "reduce_per_replica", tf_trainer.reduce_per_replica)
    return monkeypatch


def test_multi_worker_patch_replaces_both_buggy_functions_once(restore_keras_trainer):
    assert patch_keras_for_multi_worker() == ["TensorFlowTrainer._maybe_symbolic_build", "reduce_per_replica"]
    assert tf_trainer.TensorFlowTrainer._maybe_symbolic_build is distribution._patched_maybe_symbolic_build
    assert patch_keras_for_multi_worker() == []


def test_multi_worker_patch_skips_functions_upstream_has_fixed(restore_keras_trainer):
    def fixed_reduce_per_replica(values, strategy, reduction):
        return values

    restore_keras_trainer.setattr(tf_trainer, "reduce_per_replica", fixed_reduce_per_replica)
    assert patch_keras_for_multi_worker() == ["TensorFlowTrainer._maybe_symbolic_build"]
    assert tf_trainer.reduce_per_replica is fixed_reduce_per_replica

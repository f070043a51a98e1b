import os

import keras
import numpy as np
import pytest

from keras_albert.training import StepCheckpoint, create_optimizer


def tiny_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=create_optimizer("adamw", 0.1, num_train_steps=10), loss="mse", run_eagerly=True)
    return model


def fit(model, checkpoint, epochs, steps_per_epoch=2, initial_epoch=0):
    x = np.arange(24, dtype="float32").reshape(8, 3) / 10
    model.fit(x, x[:, :2], batch_size=2, epochs=epochs, initial_epoch=initial_epoch,
              steps_per_epoch=steps_per_epoch, callbacks=[checkpoint], verbose=0)


def test_checkpoints_are_named_by_step_and_only_the_newest_are_kept(tmp_path):
    checkpoint = StepCheckpoint(str(tmp_path), max_to_keep=2)
    fit(tiny_model(0), checkpoint, epochs=3)
    assert checkpoint.saved_steps() == [4, 6]
    assert sorted(os.listdir(tmp_path)) == ["ckpt-000000004.weights.h5", "ckpt-000000006.weights.h5"]


def test_restore_brings_back_weights_and_optimizer_state_of_the_newest_step(tmp_path):
    trained = tiny_model(0)
    checkpoint = StepCheckpoint(str(tmp_path))
    fit(trained, checkpoint, epochs=2)
    fresh = tiny_model(1)
    assert StepCheckpoint(str(tmp_path)).restore(fresh) == 4
    assert int(fresh.optimizer.iterations) == 4
    for a, b in zip(trained.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(trained.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resumed_fit_numbers_checkpoints_from_the_restored_step(tmp_path):
    model = tiny_model(0)
    checkpoint = StepCheckpoint(str(tmp_path))
    fit(model, checkpoint, epochs=1)
    checkpoint.first_step = checkpoint.restore(model)
    fit(model, checkpoint, epochs=3, initial_epoch=1)
    assert checkpoint.saved_steps() == [2, 4, 6]


def test_half_written_files_are_ignored_and_cleaned_up(tmp_path):
    (tmp_path / ".ckpt-000000008.tmp-123.weights.h5").write_bytes(b"killed while writing")
    checkpoint = StepCheckpoint(str(tmp_path))
    assert checkpoint.saved_steps() == []
    assert checkpoint.restore(tiny_model(0)) == 0
    assert os.listdir(tmp_path) == []


def test_restoring_a_missing_step_raises_naming_the_directory(tmp_path):
    with pytest.raises(ValueError, match="step 3"):
        StepCheckpoint(str(tmp_path)).restore(tiny_model(0), step=3)

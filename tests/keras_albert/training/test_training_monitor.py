"""NotLearningGuard warns on runs that cannot learn and stays silent on one that does."""

import keras
import numpy as np
import pytest

from keras_albert.training.training_monitor import BatchHistory, NotLearningGuard

NUM_EXAMPLES, BATCH_SIZE, EPOCHS = 256, 32, 4
TOTAL_STEPS = NUM_EXAMPLES // BATCH_SIZE * EPOCHS


def _separable_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(NUM_EXAMPLES, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def _fit(x, y, learning_rate, guard, bias=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    if bias is not None:
        kernel, _ = model.layers[-1].get_weights()
        model.layers[-1].set_weights([kernel, np.asarray(bias, "float32")])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, callbacks=[guard], verbose=0)
    return model


def _guard(sample, warnings):
    return NotLearningGuard(TOTAL_STEPS, check_fraction=0.5, sample=sample, log=warnings.append)


def test_a_learning_run_gets_no_warning():
    x, y = _separable_data()
    warnings = []
    _fit(x, y, 1e-2, _guard((x[:64], y[:64]), warnings))
    assert warnings == []


def test_learning_rate_zero_is_reported_once_with_its_causes():
    x, y = _separable_data()
    warnings = []
    guard = _guard((x[:64], y[:64]), warnings)
    _fit(x, y, 0.0, guard)
    assert len(warnings) == 1
    assert warnings[0] == guard.warning
    assert f"after {TOTAL_STEPS // 2} of {TOTAL_STEPS} steps (50%)" in warnings[0]
    assert "training loss went from" in warnings[0]
    for cause in ("learning rate", "warmup", "dropout", "labels"):
        assert cause in warnings[0]


def test_shuffled_labels_are_reported():
    x, y = _separable_data()
    shuffled = np.random.default_rng(5).permutation(y)
    warnings = []
    _fit(x, shuffled, 1e-2, _guard(None, warnings))
    assert len(warnings) == 1 and "training loss went from" in warnings[0]


def test_predictions_collapsed_to_one_class_are_reported():
    """A head stuck on class 1 (a huge bias): the loss falls, but every prediction is one class."""
    x, y = _separable_data()
    warnings = []
    _fit(x, y, 1e-4, _guard((x[:64], y[:64]), warnings), bias=[0.0, 60.0])
    assert len(warnings) == 1
    assert "every prediction on a sample of training data is class 1" in warnings[0]


def test_per_token_labels_ignore_negative_positions():
    """All-`O` tags (class 0) on the real tokens count as a collapse; padding (-1) is left out."""
    guard = NotLearningGuard(10, sample=(None, np.array([[0, 2, -1], [1, 0, -1]])))
    guard.set_model(type("Stub", (), {"predict_on_batch": lambda self, x: np.eye(3)[[[0, 0, 1], [0, 0, 2]]]})())
    assert guard._collapsed_class() == 0
    guard.sample = (None, np.array([[0, 0, -1], [0, 0, -1]]))  # The labels are one class too.
    assert guard._collapsed_class() is None


def test_batch_history_recovers_per_batch_values_from_running_means():
    history = BatchHistory()
    for epoch, batch_losses in enumerate([[4.0, 2.0, 3.0], [1.0, 0.5]]):
        history.on_epoch_begin(epoch)
        for batch in range(len(batch_losses)):
            history.on_train_batch_end(batch, {"loss": np.mean(batch_losses[: batch + 1])})
    assert history.steps == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(history.values["loss"], [4.0, 2.0, 3.0, 1.0, 0.5])


def test_check_fraction_outside_range_is_refused():
    with pytest.raises(ValueError, match="check_fraction"):
        NotLearningGuard(10, check_fraction=0)

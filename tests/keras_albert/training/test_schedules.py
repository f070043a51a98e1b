import keras
import numpy as np
import pytest

from keras_albert.training import WarmupPolynomialDecay


def test_learning_rate_rises_linearly_during_warmup():
    schedule = WarmupPolynomialDecay(1e-3, decay_steps=100, warmup_steps=10)
    rates = [float(schedule(step)) for step in range(10)]
    np.testing.assert_allclose(rates, np.arange(10) * 1e-4, rtol=1e-6, atol=1e-9)


def test_decay_counts_from_step_zero_as_the_original_code():
    schedule = WarmupPolynomialDecay(1e-3, decay_steps=100, warmup_steps=10, end_learning_rate=1e-4, power=2.0)
    # After warmup: (lr - end) * (1 - step / decay_steps) ** power + end.
    for step in (10, 50, 99):
        expected = (1e-3 - 1e-4) * (1 - step / 100) ** 2 + 1e-4
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)


def test_rate_stays_at_end_value_after_decay_steps():
    schedule = WarmupPolynomialDecay(1e-3, decay_steps=20, end_learning_rate=1e-5)
    assert float(schedule(20)) == pytest.approx(1e-5)
    assert float(schedule(1000)) == pytest.approx(1e-5)


def test_without_warmup_the_first_step_uses_the_peak_rate():
    assert float(WarmupPolynomialDecay(2e-3, decay_steps=10)(0)) == pytest.approx(2e-3)


def test_schedule_survives_keras_serialization():
    schedule = WarmupPolynomialDecay(1e-3, decay_steps=100, warmup_steps=10, end_learning_rate=1e-5, power=0.5)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, WarmupPolynomialDecay)
    assert restored.get_config() == schedule.get_config()
    for step in (0, 5, 10, 60):
        assert float(restored(step)) == pytest.approx(float(schedule(step)))


@pytest.mark.parametrize(
    "kwargs, field",
    [(dict(decay_steps=0), "decay_steps"), (dict(decay_steps=10, warmup_steps=11), "warmup_steps")],
)
def test_invalid_step_counts_raise_naming_the_argument(kwargs, field):
    with pytest.raises(ValueError, match=field):
        WarmupPolynomialDecay(1e-3, **kwargs)

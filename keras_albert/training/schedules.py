"""Learning-rate schedule of the original BERT/ALBERT recipe."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_albert")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then polynomial decay (the original `optimization.py`).

    For `step < warmup_steps` the rate is
    `initial_learning_rate * step / warmup_steps`; afterwards it is the
    polynomial decay from `initial_learning_rate` to `end_learning_rate`
    over `decay_steps` counted *from step 0*, as in the original code (so the
    rate steps down slightly when warmup ends rather than restarting the
    decay). `step` is the optimizer's `iterations`, i.e. the number of
    weight updates (with gradient accumulation: accumulated updates).

    Args:
        initial_learning_rate: float. Peak rate.
        decay_steps: int. Total number of training steps (updates).
        warmup_steps: int. Linear warmup steps; 0 disables warmup.
        end_learning_rate: float. Rate reached at `decay_steps`.
        power: float. Polynomial power; 1.0 is linear decay.

    Example:
    ```python
    schedule = WarmupPolynomialDecay(1e-3, decay_steps=1000, warmup_steps=100)
    float(schedule(50))  # 5e-4
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    ```
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        warmup_steps=0,
        end_learning_rate=0.0,
        power=1.0,
    ):
        if decay_steps <= 0:
            raise ValueError(
                f"`decay_steps` must be positive. Received: decay_steps={decay_steps}"
            )
        if not 0 <= warmup_steps <= decay_steps:
            raise ValueError(
                "`warmup_steps` must be in [0, decay_steps]. Received: "
                f"warmup_steps={warmup_steps}, decay_steps={decay_steps}"
            )
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.warmup_steps = warmup_steps
        self.end_learning_rate = end_learning_rate
        self.power = power

    def __call__(self, step):
        step = ops.cast(step, "float32")
        progress = ops.minimum(step, self.decay_steps) / self.decay_steps
        decayed = (self.initial_learning_rate - self.end_learning_rate) * ops.power(
            1.0 - progress, self.power
        ) + self.end_learning_rate
        if not self.warmup_steps:
            return decayed
        warmup = self.initial_learning_rate * step / self.warmup_steps
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
        }

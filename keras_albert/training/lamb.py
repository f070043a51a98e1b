"""LAMB as in the original ALBERT code."""

import keras
from keras import ops

from keras_albert.training.optimizer_mixin import AlbertOptimizerMixin


@keras.saving.register_keras_serializable(package="keras_albert")
class Lamb(AlbertOptimizerMixin, keras.optimizers.Lamb):
    """LAMB (You et al. 2019) with weight decay inside the trust ratio.

    Keras' `Lamb` applies weight decay decoupled, outside the layer-wise
    trust ratio, and adapts every variable. The paper and the original
    ALBERT `lamb_optimizer.py` add `weight_decay * w` to the Adam update
    *before* computing `ratio = ||w|| / ||update||`, and skip the ratio
    (ratio 1) for the variables excluded from decay (LayerNorm, biases).
    This class does that; like Keras' `Lamb` (and the paper) it keeps
    Adam's bias correction, which the original code omits.

    Args:
        weight_decay: float or None. Decay rate (original
            `weight_decay_rate`).
        weight_decay_exclusions: list of regular expressions; matching
            variable paths get neither decay nor layer adaptation.
        **kwargs: `keras.optimizers.Lamb` arguments.

    Example:
    ```python
    optimizer = Lamb(learning_rate=1.76e-3, weight_decay=0.01, epsilon=1e-6)
    ```
    """

    def _apply_weight_decay(self, variables):
        """Decay is part of `update_step` (inside the trust ratio)."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(
            v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2)
        )
        update = ops.divide(
            ops.divide(m, 1.0 - beta_1_power),
            ops.add(ops.sqrt(ops.divide(v, 1.0 - beta_2_power)), self.epsilon),
        )
        if self._is_excluded_from_weight_decay(variable):
            self.assign_sub(variable, lr * update)
            return
        if self.weight_decay:
            update = update + ops.cast(self.weight_decay, dtype) * variable
        w_norm = ops.sqrt(ops.sum(ops.square(variable)))
        u_norm = ops.sqrt(ops.sum(ops.square(update)))
        ratio = ops.where(
            ops.greater(w_norm, 0),
            ops.where(ops.greater(u_norm, 0), w_norm / u_norm, 1.0),
            1.0,
        )
        self.assign_sub(variable, ratio * lr * update)

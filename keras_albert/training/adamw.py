"""AdamW with ALBERT's decay exclusions and replica-independent clipping."""

import keras

from keras_albert.training.optimizer_mixin import AlbertOptimizerMixin


@keras.saving.register_keras_serializable(package="keras_albert")
class AdamW(AlbertOptimizerMixin, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` (decoupled weight decay, as BERT's
    `AdamWeightDecayOptimizer`) with `weight_decay_exclusions` matched
    against variable paths and `global_clipnorm` applied to the gradient
    summed over replicas (see `AlbertOptimizerMixin`).

    Unlike the original BERT optimizer, Keras' Adam uses bias correction;
    with warmup the difference is negligible.

    Args:
        weight_decay_exclusions: list of regular expressions; variables
            whose path matches one are not decayed.
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:
    ```python
    optimizer = AdamW(learning_rate=1e-4, weight_decay=0.01, global_clipnorm=1.0)
    ```
    """

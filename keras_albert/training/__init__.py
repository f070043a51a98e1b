"""Training at scale: optimizers, schedules, strategies (TensorFlow edge).

The optimizers, schedules and checkpoint callback run on every backend;
the `tf.distribute` helpers of `distribution` need TensorFlow and are
imported when first used, so `import keras_albert.training` works without
it.
"""

import importlib

from keras_albert.training.adamw import AdamW
from keras_albert.training.lamb import Lamb
from keras_albert.training.optimizer_mixin import DEFAULT_WEIGHT_DECAY_EXCLUSIONS
from keras_albert.training.optimizers import OPTIMIZER_CLASSES, create_optimizer
from keras_albert.training.schedules import WarmupPolynomialDecay
from keras_albert.training.step_checkpoint import StepCheckpoint
from keras_albert.training.worker_lifecycle import PEER_LOST_EXIT_CODE, stop_on_signals

# Names of `distribution`, which imports TensorFlow at module level.
_DISTRIBUTION_NAMES = (
    "STRATEGY_NAMES",
    "get_strategy",
    "newest_common_step",
    "parse_tf_config",
    "patch_keras_for_multi_worker",
    "watch_workers",
    "DEFAULT_CLUSTER_TIMEOUT_SECONDS",
    "DEFAULT_PEER_TIMEOUT_SECONDS",
)


def __getattr__(name):
    if name not in _DISTRIBUTION_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from keras_albert.tensorflow_dependency import require_tensorflow

    require_tensorflow(f"keras_albert.training.{name}")
    return getattr(importlib.import_module("keras_albert.training.distribution"), name)

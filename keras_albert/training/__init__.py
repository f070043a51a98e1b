"""Training at scale: optimizers, schedules, strategies (TensorFlow edge)."""

from keras_albert.training.adamw import AdamW
from keras_albert.training.distribution import (
    DEFAULT_CLUSTER_TIMEOUT_SECONDS,
    DEFAULT_PEER_TIMEOUT_SECONDS,
    STRATEGY_NAMES,
    get_strategy,
    newest_common_step,
    parse_tf_config,
    patch_keras_for_multi_worker,
    watch_workers,
)
from keras_albert.training.lamb import Lamb
from keras_albert.training.optimizer_mixin import DEFAULT_WEIGHT_DECAY_EXCLUSIONS
from keras_albert.training.optimizers import OPTIMIZER_CLASSES, create_optimizer
from keras_albert.training.schedules import WarmupPolynomialDecay
from keras_albert.training.step_checkpoint import StepCheckpoint
from keras_albert.training.worker_lifecycle import PEER_LOST_EXIT_CODE, stop_on_signals

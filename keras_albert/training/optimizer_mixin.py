"""What ALBERT's optimizers add to Keras': path-based decay exclusion and
global-norm clipping of the *aggregated* gradient."""

import re

import keras

# Matched (as regular expressions, `re.search`) against variable paths such
# as `embeddings/layer_norm/gamma` or `encoder/group_0_inner_0/qkv_dense/bias`;
# "LayerNorm" covers checkpoints that keep the original TF1 names.
DEFAULT_WEIGHT_DECAY_EXCLUSIONS = ("layer_norm", "LayerNorm", "bias")


def _tensorflow_backend():
    """`tensorflow` when it is Keras' backend, else None. Imported here, not
    at module level: the optimizers also run on JAX and PyTorch without it."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow

    return tensorflow


def _in_multi_replica_context():
    """True inside `strategy.run` of a strategy with more than one replica."""
    tf = _tensorflow_backend()
    if tf is None or tf.distribute.in_cross_replica_context():
        return False
    return tf.distribute.get_replica_context().num_replicas_in_sync > 1


class AlbertOptimizerMixin:
    """Mixin for Keras optimizers (put it first in the bases).

    1. Weight-decay exclusion from a constructor argument, so it survives
       `get_config`/`from_config`, matched against the variable *path*:
       Keras matches `variable.name`, which on the TensorFlow backend is the
       path for some code paths and the bare name (`gamma`, `bias`) for
       others.
    2. `global_clipnorm` applies to the gradient summed over replicas. Keras
       clips each replica's local gradient *before* the all-reduce, so the
       result would depend on the number of replicas; here a multi-replica
       run clips the same global gradient a single-device run sees.
    """

    def __init__(self, *args, weight_decay_exclusions=DEFAULT_WEIGHT_DECAY_EXCLUSIONS, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_decay_exclusions = list(weight_decay_exclusions or ())
        self._weight_decay_exclusion_pattern = (
            re.compile("|".join(self.weight_decay_exclusions))
            if self.weight_decay_exclusions
            else None
        )

    def _get_current_learning_rate(self):
        # Keras evaluates schedules at the micro-batch counter `_iterations`;
        # with gradient accumulation the schedule must count weight updates
        # (`iterations`), as Adam's bias correction does, or accumulating N
        # micro-batches would decay N times too fast.
        if isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()

    def _is_excluded_from_weight_decay(self, variable):
        # Keras variables have `path`; the TF backend hands `tf.Variable`s,
        # whose `name` is the path plus ":0".
        path = getattr(variable, "path", None) or variable.name
        pattern = self._weight_decay_exclusion_pattern
        return pattern is not None and pattern.search(path) is not None

    def _use_weight_decay(self, variable):
        return self.weight_decay is not None and not self._is_excluded_from_weight_decay(
            variable
        )

    def _backend_apply_gradients(self, grads, trainable_variables):
        # Embedding gradients arrive as `tf.IndexedSlices` with one slice per
        # token, repeated ids included. Adam/LAMB square the gradient
        # elementwise, which on IndexedSlices squares each slice before the
        # duplicates are summed: the second moment would get sum(g_i^2)
        # instead of (sum g_i)^2 and depend on how the batch is split.
        # Summing duplicates first (dense) makes the update that of the
        # mathematical gradient, as in the original (dense) optimizers.
        tf = _tensorflow_backend()
        if tf is not None:
            grads = [
                tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads
            ]
        return super()._backend_apply_gradients(grads, trainable_variables)

    def _clip_gradients(self, grads):
        if self.global_clipnorm and _in_multi_replica_context():
            return grads  # Clipped after the all-reduce, in _backend_update_step.
        return super()._clip_gradients(grads)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not (self.global_clipnorm and _in_multi_replica_context()):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        # The TF backend's update step, with the clip between the all-reduce
        # and the per-variable update.
        tf = _tensorflow_backend()
        trainable_variables = [
            v.value if isinstance(v, keras.Variable) else v for v in trainable_variables
        ]
        grads_and_vars = self._all_reduce_sum_gradients(list(zip(grads, trainable_variables)))
        present = [(g, v) for g, v in grads_and_vars if g is not None]
        clipped, _ = tf.clip_by_global_norm([g for g, _ in present], self.global_clipnorm)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_tf_update_step,
            self._distribution_strategy,
            list(zip(clipped, [v for _, v in present])),
            learning_rate,
        )

    def get_config(self):
        config = super().get_config()
        config["weight_decay_exclusions"] = self.weight_decay_exclusions
        return config

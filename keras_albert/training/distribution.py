"""Picking a `tf.distribute` strategy by name, and the multi-worker fix.

`get_strategy(name)` is what the `--distribution_strategy` flag of every
program calls. For "multi_worker_mirrored" it validates `TF_CONFIG` (clear
errors naming the field), waits a bounded time for the other workers
(failing with the names of those it could not reach) and applies
`patch_keras_for_multi_worker()`. `watch_workers(strategy, ...)` then
ends a worker whose peer is lost during training (see `worker_lifecycle`).

The patch (keras-team/keras#20585, #20329, open for Keras 3.15): Keras' TF
trainer fails at the start of `fit` under `MultiWorkerMirroredStrategy`
("Attempt to convert a value (PerReplica...)"), because

1. `_maybe_symbolic_build` builds the model from the first batch *reduced*
   with `strategy.reduce("MEAN", batch)`: a cross-worker collective on the
   (integer) features. Building needs shapes and dtypes only, so the patch
   builds from the first local replica's batch.
2. `reduce_per_replica` reduces the step's logs with
   `strategy.reduce("MEAN", v, axis=0)` under multi-worker, which fails for
   scalar logs (loss, metrics). The patch reduces scalars with `axis=None`.

It is applied only when the installed Keras still contains those exact
lines (checked in its source), so it switches itself off once upstream
changes them; `tests/tasks/test_multi_worker.py` then tells whether the
fix is still needed. To remove it: delete the two `_patched_*` functions
and the call in `get_strategy`.
"""

import functools
import inspect
import json
import os
import signal
import threading

import tensorflow as tf
from absl import logging

from keras_albert.training import worker_lifecycle

STRATEGY_NAMES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")

_BUGGY_BUILD_LINE = "data_batch = self.distribute_strategy.reduce("
_BUGGY_REDUCE_LINE = 'strategy.reduce("MEAN", v, axis=0)'


def parse_tf_config(tf_config=None):
    """Parses and validates `TF_CONFIG` for multi-worker training.

    Args:
        tf_config: JSON string; defaults to the `TF_CONFIG` environment
            variable.

    Returns:
        The parsed dict, or None when `TF_CONFIG` is unset or empty (a
        single-worker run).

    Raises:
        ValueError: naming the field that is malformed.

    Example:
    ```python
    parse_tf_config('{"cluster": {"worker": ["127.0.0.1:12345"]},'
                    ' "task": {"type": "worker", "index": 0}}')
    ```
    """
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if not tf_config.strip():
        return None
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {tf_config!r}") from e
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. Received: {tf_config!r}")
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(
            "TF_CONFIG field `cluster` must be a non-empty object of job name -> "
            f"list of 'host:port'. Received: {cluster!r}"
        )
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise ValueError(
                f"TF_CONFIG field `cluster.{job}` must be a non-empty list of "
                f"'host:port'. Received: {addresses!r}"
            )
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"TF_CONFIG field `cluster.{job}` has an address without "
                    f"'host:port': {address!r}"
                )
    task = config.get("task")
    if not isinstance(task, dict):
        raise ValueError(
            "TF_CONFIG field `task` must be an object like "
            f'{{"type": "worker", "index": 0}}. Received: {task!r}'
        )
    task_type, task_index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise ValueError(
            f"TF_CONFIG field `task.type`={task_type!r} names no job of "
            f"`cluster` (jobs: {sorted(cluster)})."
        )
    if not isinstance(task_index, int) or not 0 <= task_index < len(cluster[task_type]):
        raise ValueError(
            f"TF_CONFIG field `task.index`={task_index!r} names a missing "
            f"{task_type}: `cluster.{task_type}` has {len(cluster[task_type])} "
            "entries."
        )
    return config


DEFAULT_CLUSTER_TIMEOUT_SECONDS = 600
DEFAULT_PEER_TIMEOUT_SECONDS = 60


def get_strategy(
    name="one_device", num_gpus=None, tpu_address=None, cluster_timeout_seconds=DEFAULT_CLUSTER_TIMEOUT_SECONDS
):
    """Creates the `tf.distribute.Strategy` named by `name`.

    Create it at the start of the program, before other TensorFlow work
    (multi-worker collectives must be configured before TF initializes).

    Args:
        name: one of "one_device" (the first GPU, else the CPU),
            "mirrored" (all local GPUs, or the first `num_gpus`; without
            GPUs, all logical CPU devices), "multi_worker_mirrored" (the
            cluster in `TF_CONFIG`; applies the Keras compatibility patch),
            "tpu" (the TPU at `tpu_address`).
        num_gpus: int or None. GPUs to use for "one_device"/"mirrored".
        tpu_address: string. TPU name or `grpc://` address for "tpu".
        cluster_timeout_seconds: for "multi_worker_mirrored", how long to
            wait for every worker of `TF_CONFIG` to start.

    Returns:
        A `tf.distribute.Strategy`.

    Example:
    ```python
    strategy = get_strategy("mirrored")
    with strategy.scope():
        model = keras_albert.AlbertPretrainer(backbone)
        model.compile(optimizer=create_optimizer("lamb", 1e-3, 1000))
    ```
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(
            f"Unknown distribution strategy {name!r}; expected one of {STRATEGY_NAMES}."
        )
    if name == "tpu":
        return _tpu_strategy(tpu_address)
    if name == "multi_worker_mirrored":
        tf_config = parse_tf_config()
        if tf_config is None:
            logging.warning("TF_CONFIG is not set: multi_worker_mirrored runs as one worker.")
        patch_keras_for_multi_worker()
        return _multi_worker_strategy(tf_config, cluster_timeout_seconds)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if num_gpus is not None:
        if num_gpus > len(gpus):
            raise ValueError(f"num_gpus={num_gpus} but only {len(gpus)} GPUs are visible.")
        gpus = gpus[:num_gpus]
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def _multi_worker_strategy(tf_config, cluster_timeout_seconds):
    def build():
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
            )
        )

    if tf_config is None:
        return build()
    worker_lifecycle.wait_for_cluster(tf_config, cluster_timeout_seconds)
    # All peers answered, but one may still die before joining: the
    # constructor would then wait for it for ever, holding the GIL.
    in_main_thread = threading.current_thread() is threading.main_thread()
    sigterm_handler = signal.getsignal(signal.SIGTERM)
    with worker_lifecycle.exit_if_blocked(cluster_timeout_seconds, "Joining the cluster"):
        strategy = build()
    if in_main_thread and sigterm_handler is not None:
        # The constructor installs a C++ SIGTERM handler of TensorFlow's
        # (TF 2.21) that swallows the signal: put back Python's.
        signal.signal(signal.SIGTERM, sigterm_handler)
    return strategy


def watch_workers(strategy, peer_timeout_seconds=DEFAULT_PEER_TIMEOUT_SECONDS):
    """A context manager that ends this worker when a peer is lost.

    Under multi-worker `MultiWorkerMirroredStrategy`, a peer unreachable
    for `peer_timeout_seconds` inside the block makes this worker exit
    with `worker_lifecycle.PEER_LOST_EXIT_CODE`, naming it; leaving the
    block is a barrier (every worker must leave it). Other strategies:
    nothing happens.

    Example:
    ```python
    with watch_workers(strategy, 60):
        model.fit(...)
    ```
    """
    tf_config = parse_tf_config() if _in_multi_worker_mode(strategy) else None
    return worker_lifecycle.watch_peers(
        tf_config,
        peer_timeout_seconds,
        barrier=lambda: _all_gather(strategy, [0]),
        collective_errors=(tf.errors.OpError,),
    )


def _in_multi_worker_mode(strategy):
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def _all_gather(strategy, values):
    """Every worker's `values` (equal-length int lists), one row per replica."""
    local = tf.constant(values, tf.int64)
    per_replica = strategy.experimental_distribute_values_from_function(lambda _: local)
    return strategy.gather(per_replica, axis=0).numpy().reshape(-1, len(values))


def newest_common_step(strategy, steps):
    """The newest checkpoint step that every worker has (0 if none).

    Each worker keeps its own checkpoints; one that died while saving has
    an older newest one than the others. Resuming from different steps
    would train on silently inconsistent states, so under
    `MultiWorkerMirroredStrategy` the workers exchange their lists
    (`strategy.gather`, a collective: call it on every worker) and all
    take the newest step they share. Other strategies have one worker.

    Args:
        strategy: the `tf.distribute.Strategy`.
        steps: this worker's saved steps.
    """
    if not _in_multi_worker_mode(strategy):
        return max(steps, default=0)
    # Fixed length for the gather: the longest list any worker may hold is
    # not known here, so pad to a bound every caller respects.
    if len(steps) > _MAX_EXCHANGED_STEPS:
        steps = sorted(steps)[-_MAX_EXCHANGED_STEPS:]
    padded = sorted(steps) + [-1] * (_MAX_EXCHANGED_STEPS - len(steps))
    gathered = _all_gather(strategy, padded)
    common = set.intersection(*(set(row.tolist()) for row in gathered)) - {-1}
    step = max(common, default=0)
    if step != max(steps, default=0):
        logging.warning(
            "This worker's newest checkpoint is step %d, but not every worker has it: "
            "resuming all workers at step %d.", max(steps, default=0), step,
        )
    return step


_MAX_EXCHANGED_STEPS = 64


def _tpu_strategy(tpu_address):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError, RuntimeError) as e:
        raise ValueError(
            f"Cannot connect to a TPU (tpu_address={tpu_address!r}): {e}"
        ) from e
    return tf.distribute.TPUStrategy(resolver)


def patch_keras_for_multi_worker():
    """Applies the two multi-worker fixes to Keras' TF trainer if needed.

    Idempotent. Returns the names of the functions patched (empty once the
    installed Keras no longer has the lines they replace).
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    patched = []
    build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    if not getattr(build, "_keras_albert_patch", False) and _BUGGY_BUILD_LINE in (
        inspect.getsource(build)
    ):
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _patched_maybe_symbolic_build
        patched.append("TensorFlowTrainer._maybe_symbolic_build")
    reduce = tf_trainer.reduce_per_replica
    if not getattr(reduce, "_keras_albert_patch", False) and _BUGGY_REDUCE_LINE in (
        inspect.getsource(reduce)
    ):
        tf_trainer.reduce_per_replica = _patched_reduce_per_replica(reduce)
        patched.append("reduce_per_replica")
    if patched:
        logging.info("Patched Keras for MultiWorkerMirroredStrategy: %s", patched)
    return patched


def _patched_maybe_symbolic_build(self, iterator=None, data_batch=None):
    """`TensorFlowTrainer._maybe_symbolic_build`, building from the first
    local replica's batch instead of a cross-replica mean of the batch."""
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, it in iterator:
            data_batch = tf.nest.map_structure(
                lambda x: (
                    self.distribute_strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues)
                    else x
                ),
                next(it),
            )
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


_patched_maybe_symbolic_build._keras_albert_patch = True


def _patched_reduce_per_replica(reduce_per_replica):
    """Wraps `reduce_per_replica`: under multi-worker, scalar per-replica
    values are mean-reduced with `axis=None` (Keras uses `axis=0`)."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    @functools.wraps(reduce_per_replica)
    def patched(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not (
            tf_trainer._collective_all_reduce_multi_worker(strategy)
        ):
            return reduce_per_replica(values, strategy, reduction)

        def reduce_one(v):
            local = strategy.experimental_local_results(v)[0]
            if local.shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return reduce_per_replica(v, strategy, reduction)

        return tf.nest.map_structure(reduce_one, values)

    patched._keras_albert_patch = True
    return patched

"""Training checkpoints written atomically and durably: step-numbered ones for
resuming (`StepCheckpoint`), and one file rewritten every epoch (`WeightsCheckpoint`)."""

import glob
import os
import re

import keras
from absl import logging

from keras_albert.albert_presets import check_weights_file
from keras_albert.durable_files import replace_durably

_CHECKPOINT_NAME = re.compile(r"^ckpt-(\d+)\.weights\.h5$")
_WEIGHTS_SUFFIX = ".weights.h5"


def save_weights_durably(model, path):
    """`model.save_weights(path)` through a temporary file that is flushed, then
    renamed: a kill or a machine crash leaves the previous file at `path`
    (or none), never a partial or empty one.

    The temporary file is `.<name>.tmp-<pid>.weights.h5` beside `path` (Keras
    wants the suffix; the dot hides it from globs for `*.weights.h5`).
    """
    if not path.endswith(_WEIGHTS_SUFFIX):
        raise ValueError(f"A weights file name must end in {_WEIGHTS_SUFFIX}: {path}")
    directory, name = os.path.split(path)
    os.makedirs(directory or ".", exist_ok=True)
    temporary = os.path.join(directory, f".{name[: -len(_WEIGHTS_SUFFIX)]}.tmp-{os.getpid()}{_WEIGHTS_SUFFIX}")
    model.save_weights(temporary, overwrite=True)
    replace_durably(temporary, path)


class WeightsCheckpoint(keras.callbacks.Callback):
    """Saves the model's weights (and optimizer state) to `path` after every epoch.

    As `keras.callbacks.ModelCheckpoint(path, save_weights_only=True)`, but
    written with `save_weights_durably`: Keras' callback overwrites the file
    in place, so a run killed while saving leaves it corrupt.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_weights_durably(self.model, self.path)


class StepCheckpoint(keras.callbacks.Callback):
    """Saves the training state every epoch as `ckpt-<step>.weights.h5`.

    Why not `keras.callbacks.BackupAndRestore`: in Keras 3 it overwrites
    `latest.weights.h5` in place (a process killed mid-write leaves a
    corrupt file) and writes the epoch to a second file (a kill between
    the two leaves them out of step), it restores whole epochs only, it
    cannot tell the caller where the data should resume, and it has no
    chief/worker logic, so workers sharing a directory collide. Here:

    - each file holds model *and* optimizer variables and is written
      under a temporary name, flushed to disk, then renamed: a kill or a
      machine crash leaves the previous checkpoint intact;
    - the completed step is the file name, so the state and the data
      position cannot disagree; `restore()` returns it and the caller
      skips that much data;
    - give each worker its own `directory` (`worker_<index>`).

    Run `fit` with `steps_per_epoch` equal to the checkpoint interval so
    that checkpoints fall on epoch ends and a resumed run starts with
    `initial_epoch = step // steps_per_epoch`.

    Args:
        directory: where this worker's checkpoints go.
        first_step: int. Completed steps when this `fit` starts.
        max_to_keep: int. Newest checkpoints kept (older are deleted).

    Example:
    ```python
    checkpoint = StepCheckpoint(os.path.join(output_dir, "checkpoints", "worker_0"))
    step = checkpoint.restore(model)          # 0 for a fresh run
    checkpoint.first_step = step
    model.fit(dataset_from(step), steps_per_epoch=1000,
              initial_epoch=step // 1000, epochs=total // 1000,
              callbacks=[checkpoint])
    ```
    """

    def __init__(self, directory, first_step=0, max_to_keep=5):
        super().__init__()
        self.directory = directory
        self.first_step = first_step
        self.max_to_keep = max_to_keep
        self._initial_epoch = None

    def saved_steps(self):
        """Steps with a complete checkpoint, ascending."""
        steps = []
        for path in glob.glob(os.path.join(glob.escape(self.directory), "ckpt-*.weights.h5")):
            match = _CHECKPOINT_NAME.match(os.path.basename(path))
            if match:
                steps.append(int(match.group(1)))
        return sorted(steps)

    def path(self, step):
        return os.path.join(self.directory, f"ckpt-{step:09d}.weights.h5")

    def restore(self, model, step=None):
        """Loads checkpoint `step` into a compiled model (call it inside the
        strategy scope: it builds the optimizer's variables).

        Args:
            model: the compiled model.
            step: int; None for the newest checkpoint, 0 for none (a fresh
                start: only half-written files are cleaned up).

        Returns:
            The restored step, or 0 when nothing was restored.
        """
        self._remove_temporary_files()
        steps = self.saved_steps()
        if step is None:
            step = steps[-1] if steps else 0
        if not step:
            return 0
        if step not in steps:
            raise ValueError(f"No checkpoint for step {step} in {self.directory} (have {steps}).")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        check_weights_file(self.path(step))
        model.load_weights(self.path(step))
        logging.info("Restored %s (step %d).", self.path(step), step)
        return step

    def on_epoch_begin(self, epoch, logs=None):
        if self._initial_epoch is None:
            self._initial_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        step = self.first_step + (epoch + 1 - self._initial_epoch) * self.params["steps"]
        self.save(step)

    def on_train_end(self, logs=None):
        self._initial_epoch = None

    def save(self, step):
        # Its temporary file (`.ckpt-<step>.tmp-<pid>.weights.h5`) stays out
        # of `saved_steps()` until the rename.
        save_weights_durably(self.model, self.path(step))
        for old in self.saved_steps()[: -self.max_to_keep]:
            os.remove(self.path(old))

    def _remove_temporary_files(self):
        for path in glob.glob(os.path.join(glob.escape(self.directory), ".ckpt-*.tmp-*.weights.h5")):
            logging.warning("Removing %s, left by a run that stopped while saving.", path)
            os.remove(path)

"""Watching a `fit`: per-batch training values and a guard against training that does not learn.

ALBERT's most reported failure is fine-tuning that sits at chance or at the
majority class (google-research/albert #18, #56, #120, #132, #207, #269;
keras-hub #831; transformers #2104), usually from a learning rate or warmup
that does not suit the model size, or v1/v2 dropout settings. The run
finishes without an error and the user finds a dead model at the end.
`NotLearningGuard` checks once, after a stated fraction of the training
steps, and logs ONE warning naming the likely causes.
"""

import math

import keras
import numpy as np
from absl import logging


class BatchHistory(keras.callbacks.Callback):
    """Per-batch training values (loss and metrics) across `fit` calls.

    Keras logs running means over the epoch so far; the value of each batch
    (each group of `steps_per_execution` batches) is recovered from two
    consecutive means. Several `fit` calls with the same callback continue
    one history (the pretraining program trains in phases).

    Attributes:
        steps: list of int, the number of batches trained after each entry.
        values: dict of metric name to list of float, aligned with `steps`.
    """

    def __init__(self):
        super().__init__()
        self.steps = []
        self.values = {}
        self._step = 0
        self._sums = {}
        self._batches_in_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._sums = {}
        self._batches_in_epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        batches_in_epoch = batch + 1
        new_batches = batches_in_epoch - self._batches_in_epoch
        if new_batches <= 0 or not logs:
            return
        self._step += new_batches
        self.steps.append(self._step)
        for name, mean in logs.items():
            mean = float(mean)
            total = mean * batches_in_epoch
            value = (total - self._sums.get(name, 0.0)) / new_batches
            self._sums[name] = total
            self.values.setdefault(name, []).append(value)
        self._batches_in_epoch = batches_in_epoch

    def history(self):
        """`{"step": [...], <name>: [...]}`, JSON-ready."""
        return {"step": list(self.steps), **{name: list(values) for name, values in self.values.items()}}


LIKELY_CAUSES = (
    "learning rate too high or too low for this model size (the original fine-tuning recipes use 1e-5 to 5e-5 "
    "for pretrained ALBERT; a small model from scratch wants about 1e-3)",
    "warmup too short for a high learning rate, or so long that training ends before the rate rises",
    "dropout: ALBERT v2 checkpoints were trained without dropout, v1 with 0.1; the wrong setting for the "
    "checkpoint can stall fine-tuning",
    "labels: shuffled or misaligned with the inputs, or one class dominating the data",
)


class NotLearningGuard(BatchHistory):
    """Warns once if training has not started to learn after `check_fraction` of its steps.

    At the check step it compares the mean training loss of the latest
    window of batches with that of the first window (each window
    `window_fraction` of the steps, at least one batch). If the loss fell
    by less than `min_relative_drop`, or the model's predictions on a
    sample of training inputs are all one class (all `O` for a tagger) while
    the sample's labels are not, it logs one warning that names the likely
    causes. Nothing is stopped: the warning is advice.

    Args:
        total_steps: int, training batches this run will take.
        check_fraction: float in (0, 1], when to check.
        min_relative_drop: float, the loss must fall at least this fraction
            of its initial value.
        window_fraction: float, the size of the windows averaged.
        sample: optional `(inputs, labels)` batch of training data for the
            collapse check; per-token labels below 0 (ignored positions)
            and outputs that are dicts or single scores (regression, QA,
            pretraining) are left out of it.
        log: function called with the warning text (`absl.logging.warning`).
        enabled: False records the history and checks nothing.

    Attributes:
        warning: the warning's text once given, else None.
    """

    def __init__(
        self,
        total_steps,
        check_fraction=0.3,
        min_relative_drop=0.1,
        window_fraction=0.05,
        sample=None,
        log=logging.warning,
        enabled=True,
    ):
        super().__init__()
        if not 0 < check_fraction <= 1:
            raise ValueError(f"`check_fraction` must be in (0, 1]. Received: check_fraction={check_fraction}")
        self.total_steps = int(total_steps)
        self.check_fraction = check_fraction
        self.check_step = max(1, int(math.ceil(check_fraction * self.total_steps)))
        self.window = max(1, int(round(window_fraction * self.total_steps)))
        self.min_relative_drop = min_relative_drop
        self.sample = sample
        self.log = log
        self.warning = None
        self._checked = not enabled

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self._checked or not self.steps or self.steps[-1] < self.check_step or "loss" not in self.values:
            return
        self._checked = True
        problems = []
        losses = np.asarray(self.values["loss"])
        window = min(self.window, max(1, len(losses) // 2))
        initial, recent = float(np.mean(losses[:window])), float(np.mean(losses[-window:]))
        if not np.isfinite(recent):
            problems.append(f"the training loss is {recent}")
        elif recent > initial * (1 - self.min_relative_drop):
            problems.append(
                f"the training loss went from {initial:.4f} to {recent:.4f} (it must fall by "
                f"{self.min_relative_drop:.0%})"
            )
        collapsed = self._collapsed_class()
        if collapsed is not None:
            problems.append(f"every prediction on a sample of training data is class {collapsed}")
        if problems:
            self.warning = (
                f"Training does not look like it is learning after {self.steps[-1]} of {self.total_steps} steps "
                f"({self.check_fraction:.0%}): {'; '.join(problems)}. Likely causes: "
                + "; ".join(f"({i}) {cause}" for i, cause in enumerate(LIKELY_CAUSES, 1))
                + "."
            )
            self.log(self.warning)

    def _collapsed_class(self):
        """The one class id the model predicts for the whole sample, if it does (labels varied)."""
        if self.sample is None:
            return None
        inputs, labels = self.sample
        outputs = self.model.predict_on_batch(inputs)
        if isinstance(outputs, dict) or isinstance(labels, dict):
            return None
        outputs, labels = np.asarray(outputs), np.asarray(labels)
        if outputs.shape[-1] < 2:  # Regression: no classes.
            return None
        predicted = np.argmax(outputs, axis=-1)
        if labels.ndim == predicted.ndim and labels.ndim > 1:
            valid = labels >= 0  # Per-token labels: ignored positions are negative.
            predicted, labels = predicted[valid], labels[valid]
        predicted_classes, label_classes = np.unique(predicted), np.unique(labels)
        if len(predicted_classes) == 1 and len(label_classes) > 1:
            return int(predicted_classes[0])
        return None

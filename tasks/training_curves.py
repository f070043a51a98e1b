"""Training curves: loss and metrics per step (train) with the final evaluation, as a PNG.

The programs write `<output_dir>/step_history.json` (per-batch training
values from `keras_albert.training.training_monitor.BatchHistory`) after
training and `eval_results.json` after evaluating; `write_training_curves`
draws both into `<output_dir>/training_curves.png` and is called after each,
so the picture holds whatever the run produced.
"""

import json
import os

import numpy as np

STEP_HISTORY_FILENAME = "step_history.json"
EVAL_RESULTS_FILENAME = "eval_results.json"
CURVES_FILENAME = "training_curves.png"


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _moving_average(values, width):
    """Trailing mean over `width` points (shorter at the start): per-batch values are noisy."""
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    starts = np.maximum(np.arange(1, len(values) + 1) - width, 0)
    return (cumulative[1:] - cumulative[starts]) / (np.arange(1, len(values) + 1) - starts)


def _is_loss(name):
    return name == "loss" or name.endswith("_loss")


def _eval_scores(results):
    """Evaluation values worth plotting: finite numbers, counts left out."""
    return {
        name: float(value)
        for name, value in (results or {}).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        and not name.startswith("num_") and "num_" not in name and np.isfinite(value)
    }


def write_training_curves(output_dir):
    """Draws `training_curves.png` in `output_dir`; returns its path, or None without a step history."""
    history = _read_json(os.path.join(output_dir, STEP_HISTORY_FILENAME))
    if not history or not history.get("step"):
        return None
    import matplotlib

    matplotlib.use("Agg")  # No display: files only.
    import matplotlib.pyplot as plt

    steps = np.asarray(history["step"])
    names = [name for name in history if name != "step"]
    evaluation = _eval_scores(_read_json(os.path.join(output_dir, EVAL_RESULTS_FILENAME)))
    width = max(1, len(steps) // 20)
    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for axes, panel_names, eval_names in (
        (loss_axes, [n for n in names if _is_loss(n)], [n for n in evaluation if _is_loss(n)]),
        (metric_axes, [n for n in names if not _is_loss(n)], [n for n in evaluation if not _is_loss(n)]),
    ):
        for name in panel_names:
            values = np.asarray(history[name], dtype=np.float64)
            (line,) = axes.plot(steps, _moving_average(values, width), label=f"train {name}")
            axes.plot(steps, values, color=line.get_color(), alpha=0.2, linewidth=0.8)
        for name in eval_names:
            axes.plot([steps[-1]], [evaluation[name]], "o", label=f"eval {name} = {evaluation[name]:.4g}")
        axes.set_xlabel("training step")
        axes.grid(alpha=0.3)
        if panel_names or eval_names:
            axes.legend(fontsize=8)
    loss_axes.set_title("loss (faint: per batch; line: moving average)")
    metric_axes.set_title("metrics")
    figure.tight_layout()
    path = os.path.join(output_dir, CURVES_FILENAME)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path

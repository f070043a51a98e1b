"""Classification and regression metrics of GLUE and multiple choice.

Thin wrappers over scikit-learn and SciPy (the reference implementations
the GLUE leaderboard's numbers come from), under the names the programs
write to `eval_results.json`.
"""

import numpy as np
import scipy.special
import scipy.stats
import sklearn.metrics


def accuracy(labels, predictions):
    """Fraction of predicted class ids equal to the labels."""
    return float(sklearn.metrics.accuracy_score(labels, predictions))


def f1(labels, predictions):
    """Binary F1 of class 1 (MRPC: paraphrase; QQP: duplicate); 0 if never predicted."""
    return float(sklearn.metrics.f1_score(labels, predictions, pos_label=1, zero_division=0.0))


def matthews_corrcoef(labels, predictions):
    """Matthews correlation (CoLA); 0 when either side is constant."""
    return float(sklearn.metrics.matthews_corrcoef(labels, predictions))


def pearson(labels, predictions):
    """Pearson correlation of scores (STS-B); NaN when either side is constant."""
    if np.ptp(labels) == 0 or np.ptp(predictions) == 0:
        return float("nan")
    return float(scipy.stats.pearsonr(labels, predictions)[0])


def spearman(labels, predictions):
    """Spearman rank correlation of scores (STS-B); NaN when either side is constant."""
    if np.ptp(labels) == 0 or np.ptp(predictions) == 0:
        return float("nan")
    return float(scipy.stats.spearmanr(labels, predictions)[0])


METRICS = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_corrcoef": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
}


def compute_metrics(names, labels, outputs, prefix=""):
    """Scores model outputs against labels.

    Args:
        names: metric names from `METRICS`.
        labels: `[N]` class ids, or float scores for regression.
        outputs: `[N, num_classes]` logits (class = argmax), or `[N]` /
            `[N, 1]` scores for regression.
        prefix: prepended to every result name (e.g. "mismatched_").

    Returns:
        A dict name -> float, plus `loss` (mean cross-entropy of the logits,
        or mean squared error of scores) and `num_examples`.
    """
    labels = np.asarray(labels)
    outputs = np.asarray(outputs, dtype=np.float64)
    regression = outputs.ndim == 1 or outputs.shape[-1] == 1
    if regression:
        predictions = outputs.reshape(-1)
        loss = float(np.mean((predictions - labels) ** 2))
    else:
        predictions = np.argmax(outputs, axis=-1)
        log_probs = scipy.special.log_softmax(outputs, axis=-1)
        loss = float(-np.mean(log_probs[np.arange(len(labels)), labels]))
    results = {name: METRICS[name](labels, predictions) for name in names}
    results.update(loss=loss, num_examples=int(len(labels)))
    return {prefix + name: value for name, value in results.items()}

"""GLUE metrics on cases worked out by hand."""

import math

import numpy as np
import pytest

from tasks import metrics

# labels/predictions with TP=2, TN=1, FP=1, FN=1.
LABELS = [1, 1, 0, 0, 1]
PREDICTIONS = [1, 0, 0, 1, 1]


def test_accuracy_is_the_fraction_correct():
    assert metrics.accuracy(LABELS, PREDICTIONS) == pytest.approx(3 / 5)


def test_f1_of_the_positive_class():
    # precision = 2/3, recall = 2/3.
    assert metrics.f1(LABELS, PREDICTIONS) == pytest.approx(2 / 3)


def test_f1_is_zero_when_the_positive_class_is_never_predicted():
    assert metrics.f1([1, 0, 1], [0, 0, 0]) == 0.0


def test_matthews_correlation():
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2 - 1) / sqrt(3*3*2*2).
    assert metrics.matthews_corrcoef(LABELS, PREDICTIONS) == pytest.approx(1 / 6)


def test_matthews_correlation_of_constant_predictions_is_zero():
    assert metrics.matthews_corrcoef([1, 0, 1, 0], [1, 1, 1, 1]) == 0.0


def test_pearson_correlation():
    # x - mean = (-1, 0, 1); y - mean = (-4/3, -1/3, 5/3): r = 3 / sqrt(2 * 42/9).
    assert metrics.pearson([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(3 / math.sqrt(2 * 42 / 9))


def test_spearman_correlation_uses_ranks():
    # Rank differences (0, 1, -1, 0): 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    assert metrics.spearman([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert metrics.spearman([1.0, 2.0, 3.0, 4.0], [1.0, 4.0, 9.0, 16.0]) == pytest.approx(1.0)


def test_correlations_of_constant_predictions_are_nan():
    assert math.isnan(metrics.pearson([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]))
    assert math.isnan(metrics.spearman([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]))


def test_compute_metrics_takes_the_argmax_of_logits_and_reports_cross_entropy():
    logits = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 3.0]])
    results = metrics.compute_metrics(("accuracy", "f1"), [0, 0, 0], logits, prefix="mismatched_")
    # argmax: 0 (tie goes to the first class), 0, 1.
    assert results["mismatched_accuracy"] == pytest.approx(2 / 3)
    assert results["mismatched_f1"] == 0.0
    expected_loss = np.mean([math.log(2), math.log(1 + math.exp(-1)), math.log(math.exp(-1) + math.exp(3)) + 1])
    assert results["mismatched_loss"] == pytest.approx(expected_loss)
    assert results["mismatched_num_examples"] == 3


def test_compute_metrics_treats_one_output_column_as_regression_scores():
    results = metrics.compute_metrics(("pearson",), [1.0, 2.0, 3.0], np.array([[1.0], [2.0], [4.0]]))
    assert results["pearson"] == pytest.approx(3 / math.sqrt(2 * 42 / 9))
    assert results["loss"] == pytest.approx(1 / 3)  # Squared errors 0, 0, 1.

"""Metrics agree with scikit-learn, and bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlflow_sanity.core.curves import (
    average_precision,
    binary_brier_score,
    binary_curve,
    roc_auc,
)
from mlflow_sanity.core.metrics import InputError, classify, expected_calibration_error


@st.composite
def labelled(draw):
    k = draw(st.integers(2, 5))
    n = draw(st.integers(2, 200))
    y = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return np.array(y), np.array(p)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelled())
def test_label_metrics_match_sklearn(data):
    y, p = data
    m = classify(y, p).metrics
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(y, p, average="macro", labels=np.unique(y), zero_division=0)
    )
    assert m["weighted_f1"] == pytest.approx(
        skm.f1_score(y, p, average="weighted", zero_division=0)
    )
    if len(np.unique(y)) > 1:
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p))
        assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p))
    recalls = skm.recall_score(y, p, labels=np.unique(y), average=None, zero_division=0)
    assert m["min_class_recall"] == pytest.approx(recalls.min())
    assert all(np.isfinite(v) for v in m.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 300), st.integers(0, 10_000))
def test_probability_metrics_match_sklearn(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    if len(np.unique(y)) < 2:
        y[0], y[1] = 0, 1
    score = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1)
    m = classify(y, proba=score).metrics
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, score))
    assert m["brier_score"] == pytest.approx(skm.brier_score_loss(y, score))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, score >= 0.5))


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 400), st.integers(0, 10_000), st.sampled_from([None, 1, 2, 10]))
def test_shared_sort_curve_metrics_equal_sklearn_exactly(n, seed, decimals):
    """One sort for ROC-AUC, AP and a hand-written Brier: the very same floats as sklearn's,
    ties included (rounded scores), and for negative scores (the argsort fallback)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < rng.uniform(0.05, 0.95)
    y[0], y[1] = False, True
    score = np.clip(y * rng.uniform(0, 0.5) + rng.random(n) * 0.7, 0, 1)
    if decimals is not None:
        score = np.round(score, decimals)
    score[rng.random(n) < 0.1] = -0.0
    curve = binary_curve(y, score)
    assert roc_auc(*curve) == skm.roc_auc_score(y, score)
    assert average_precision(*curve) == skm.average_precision_score(y, score)
    assert binary_brier_score(y, score) == skm.brier_score_loss(y, score)
    shifted = score - 0.5  # not probabilities: the argsort path
    curve = binary_curve(y, shifted)
    assert roc_auc(*curve) == skm.roc_auc_score(y, shifted)
    assert average_precision(*curve) == skm.average_precision_score(y, shifted)


def test_classify_probability_metrics_equal_sklearn_exactly():
    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b"], 5000, p=[0.8, 0.2])
    p_a = np.round(rng.random(5000), 3)
    for pos in ("a", "b"):
        proba = p_a if pos == "a" else 1 - p_a
        m = classify(y, proba=proba, pos_label=pos).metrics
        assert m["roc_auc"] == skm.roc_auc_score(y == pos, proba)
        assert m["pr_auc"] == skm.average_precision_score(y == pos, proba)
        assert m["brier_score"] == skm.brier_score_loss(y == pos, proba)
    k3 = rng.integers(0, 3, 3000)
    logits = rng.normal(size=(3000, 3)) + np.eye(3)[k3]
    proba3 = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = classify(k3, proba=proba3).metrics
    auc = [skm.roc_auc_score(k3 == c, proba3[:, c]) for c in range(3)]
    ap = [skm.average_precision_score(k3 == c, proba3[:, c]) for c in range(3)]
    assert m["roc_auc"] == float(np.mean(auc))
    assert m["pr_auc"] == float(np.mean(ap))


def test_binary_ece_equals_the_general_formula():
    rng = np.random.default_rng(5)
    p1 = np.round(rng.random(2000), 2)
    proba = np.column_stack([1 - p1, p1])
    proba[:10] = 0.5  # ties: argmax picks class 0
    y = (rng.random(2000) < p1).astype(int)
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    bins = np.minimum((confidence * 15).astype(np.intp), 14)
    gap = np.bincount(bins, weights=confidence - correct, minlength=15)
    assert expected_calibration_error(proba, y) == float(np.abs(gap).sum() / 2000)


def test_class_counts_from_the_confusion_matrix():
    c = classify([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0])
    assert c.true_counts.tolist() == [2, 1, 3]
    assert c.pred_counts.tolist() == [2, 2, 2]
    assert classify([3, 3, 5], [3, 5, 5]).labels.tolist() == [3, 5]  # not 0..k-1 codes
    assert classify(np.array([1, 2], np.uint8), [2, 2]).labels.dtype == np.uint8


def test_multiclass_ovr_auc_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[y] * 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = classify(y, proba=proba).metrics
    assert m["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert m["brier_score"] == pytest.approx(skm.brier_score_loss(y, proba, labels=[0, 1, 2]))


def test_wilson_interval_and_baseline():
    m = classify([1] * 90 + [0] * 10, [1] * 100).metrics
    assert m["accuracy"] == 0.9
    assert m["majority_baseline_accuracy"] == 0.9
    assert m["accuracy_ci_low"] == pytest.approx(0.8256, abs=1e-3)  # Wilson, not Wald
    assert m["accuracy_ci_high"] == pytest.approx(0.9448, abs=1e-3)
    assert m["accuracy_vs_baseline_p_value"] > 0.5


def test_ece_is_zero_for_perfectly_calibrated_bins():
    proba = np.array([[0.2, 0.8]] * 10)
    y = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(proba, y) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([[0.0, 1.0]] * 10), y) == pytest.approx(0.2)


def test_string_bool_and_float_labels():
    c = classify(["cat", "dog", "dog"], ["cat", "cat", "dog"])
    assert c.labels.tolist() == ["cat", "dog"]
    assert classify([True, False, True], [True, True, True]).metrics["accuracy"] == 2 / 3
    assert classify([0, 1, 1], [0.0, 1.0, 0.0]).metrics["accuracy"] == 2 / 3


def test_pos_label_selects_probability_column():
    y = np.array(["neg", "pos", "pos", "neg"])
    p_pos = np.array([0.1, 0.9, 0.8, 0.3])
    c = classify(y, proba=p_pos, pos_label="pos")
    assert c.metrics["roc_auc"] == 1.0
    assert c.labels[c.y_pred].tolist() == ["neg", "pos", "pos", "neg"]
    flipped = classify(y, proba=1 - p_pos, pos_label="neg")
    assert flipped.metrics["accuracy"] == 1.0


def test_eval_set_missing_a_class_keeps_model_width():
    c = classify(np.zeros(10, int), proba=np.tile([0.9, 0.1], (10, 1)))
    assert c.labels.tolist() == [0, 1]
    assert "roc_auc" not in c.metrics  # undefined with one class; never logged as NaN


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": [0, 1, 1], "y_pred": [0, 1]}, "length mismatch"),
        ({"y_true": [0, 1], "proba": [0.2, np.nan]}, "NaN or inf"),
        ({"y_true": [0, 1], "proba": [0.2, np.inf]}, "NaN or inf"),
        ({"y_true": [0, 1, 2], "proba": np.full((3, 2), 0.5)}, "wrong width"),
        ({"y_true": [], "y_pred": []}, "empty data"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "pos_label": 7}, "unknown pos_label"),
        ({"y_true": [0, 1], "y_pred": [0, 5], "labels": [0, 1]}, "unknown prediction"),
        ({"y_true": [0, 1], "proba": [1.5, -2.0]}, "logits"),
        ({"y_true": [0, 1], "y_pred": ["a", "b"]}, "different types"),
        ({"y_true": [0, 1]}, "nothing to evaluate"),
        ({"y_true": [0, None], "y_pred": [0, 1]}, "missing values"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        classify(**kwargs)

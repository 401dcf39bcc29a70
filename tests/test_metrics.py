"""Metrics agree with scikit-learn, and bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

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

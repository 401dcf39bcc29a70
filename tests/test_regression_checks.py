"""The regression checks on synthetic arrays and hand-written specs (no Keras, no MLflow):
each flags the case it is for and stays quiet on a healthy regressor."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import FitSpec, label_values
from mlflow_sanity.core.regression import regress
from mlflow_sanity.pipeline import build_report
from tests.keras_specs import model_spec, run_one

RNG = np.random.default_rng(3)
Y = np.exp(RNG.normal(size=600))  # skewed, like prices
GOOD = Y + RNG.normal(scale=0.3, size=600)
TRAIN = np.exp(RNG.normal(size=300))


def _report(pred, y=Y, train=TRAIN):
    return build_report(Context(regression=regress(y, pred, train_targets=train)))


def _sev(report, cid):
    return next((f.severity for f in report.findings if f.id == cid), None)


def test_a_healthy_regressor_passes_every_regression_check():
    report = _report(GOOD)
    assert report.status == "pass", report.flagged
    ran = {f.id for f in report.findings}
    assert {"regression_at_baseline", "rare_targets_missed", "prediction_collapse"} <= ran
    assert "accuracy_at_baseline" not in ran  # no classification verdict on a regression
    assert all(f.evidence for f in report.findings)


def test_a_mean_predictor_is_at_baseline_and_collapsed():
    report = _report(np.full_like(Y, TRAIN.mean()))
    assert _sev(report, "regression_at_baseline") is Severity.FAIL
    assert _sev(report, "prediction_collapse") is Severity.FAIL
    f = next(f for f in report.findings if f.id == "regression_at_baseline")
    assert "training targets' median" in f.message
    assert f.evidence["baseline_from"] == "training"


def test_without_training_targets_the_evaluation_median_is_named():
    r = regress(Y, np.full_like(Y, Y.mean()))
    report = build_report(Context(regression=r))
    f = next(f for f in report.findings if f.id == "regression_at_baseline")
    assert "no training targets were known" in f.message


def test_a_small_unproven_gain_is_a_warning():
    y = RNG.normal(size=40)
    pred = 0.15 * y + RNG.normal(scale=0.05, size=40)  # a little signal, few rows
    r = regress(y, pred, train_targets=RNG.normal(size=40))
    f = run_one("regression_at_baseline", Context(regression=r), alpha=1e-12)
    assert f.severity is Severity.WARN and "not significantly" in f.message


def test_nearly_constant_predictions_warn():
    report = _report(np.full_like(Y, 1.5) + RNG.normal(scale=0.01, size=Y.size))
    assert _sev(report, "prediction_collapse") is Severity.WARN


def test_predictions_that_never_reach_the_high_end_are_flagged():
    capped = np.minimum(GOOD, np.quantile(Y, 0.9))
    report = _report(capped)
    f = next(f for f in report.findings if f.id == "rare_targets_missed")
    assert f.severity is Severity.WARN
    assert f.evidence["high"]["predictions_reach_ratio"] == 0
    assert f.evidence["high"]["error_ratio"] >= 3
    assert f.evidence["low"]["predictions_reach_ratio"] > 0.1  # the low end is reached
    assert _sev(report, "regression_at_baseline") is Severity.PASSED  # the MAE looks fine


def test_rare_targets_needs_enough_tail_rows():
    r = regress(Y[:100], np.minimum(GOOD[:100], 1.0))  # 5 rows per tail < min_rows
    assert run_one("rare_targets_missed", Context(regression=r)) is None


def _reg_ctx(y, *, activation=None, loss="mean_squared_error", lr=0.001, default=0.001):
    spec = model_spec(1, activation, loss, metrics=())
    spec = type(spec)(**{**spec.__dict__, "learning_rate": lr, "default_learning_rate": default})
    return Context(model=spec, fit=FitSpec(label_values=label_values(np.asarray(y))))


def test_unscaled_targets_is_a_cause_graded_by_scale():
    f = run_one("unscaled_targets", _reg_ctx(RNG.uniform(100, 5000, 300)))
    assert f.severity is Severity.WARN and "Standardise the targets" in f.message
    assert f.evidence["scale"] > 1000
    f = run_one("unscaled_targets", _reg_ctx(RNG.uniform(25, 346, 300)))
    assert f.severity is Severity.INFO
    assert run_one("unscaled_targets", _reg_ctx(RNG.normal(size=300))).severity is Severity.PASSED
    # a learning rate chosen for the scale is not the default's problem
    tuned = _reg_ctx(RNG.uniform(100, 5000, 300), lr=0.1)
    assert run_one("unscaled_targets", tuned).severity is Severity.PASSED


def test_unscaled_targets_alarms_only_beside_a_symptom():
    ctx = _reg_ctx(RNG.uniform(1000, 5000, 300))
    y = RNG.uniform(1000, 5000, 300)
    ctx.regression = regress(y, np.full_like(y, 10.0), train_targets=y)  # stuck far below
    report = build_report(ctx)
    cause = next(f for f in report.findings if f.id == "unscaled_targets")
    assert cause.severity is Severity.WARN and "regression_at_baseline" in cause.explains
    symptom = next(f for f in report.findings if f.id == "regression_at_baseline")
    assert symptom.message.startswith("R² is stuck at")
    ctx.regression = regress(y, y + RNG.normal(size=300), train_targets=y)  # it learned anyway
    ctx.shared.clear()
    report = build_report(ctx)
    assert _sev(report, "unscaled_targets") is Severity.INFO


@pytest.mark.parametrize(
    ("activation", "loss", "y", "words"),
    [
        ("sigmoid", "mean_squared_error", RNG.uniform(0, 50, 200), "sigmoid only reaches"),
        ("relu", "mean_squared_error", RNG.normal(size=200), "cannot be negative"),
        (
            "softmax",
            "categorical_crossentropy",
            RNG.normal(5, 3, 200),
            "continuous targets",
        ),
    ],
)
def test_loss_output_mismatch_for_regression_targets(activation, loss, y, words):
    f = run_one("loss_output_mismatch", _reg_ctx(y, activation=activation, loss=loss))
    assert f.severity is Severity.FAIL and words in f.message


@pytest.mark.parametrize(
    ("activation", "y"),
    [(None, RNG.normal(size=200)), ("relu", RNG.uniform(0, 5, 200)), ("linear", Y)],
)
def test_a_sound_regression_head_has_no_mismatch(activation, y):
    assert run_one("loss_output_mismatch", _reg_ctx(y, activation=activation)) is None

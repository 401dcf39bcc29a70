"""The regression checks on synthetic arrays and hand-written specs (no Keras, no MLflow):
each flags the case it is for and stays quiet on a healthy regressor."""

from __future__ import annotations

import numpy as np
import pytest
from keras_specs import model_spec, run_one

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import FitSpec, label_values
from mlflow_sanity.core.regression import regress
from mlflow_sanity.pipeline import build_report

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
    f = run_one("unscaled_targets", _reg_ctx(RNG.uniform(25, 346, 300)))  # diabetes' range
    assert f.severity is Severity.WARN and "Standardise the targets" in f.message
    assert f.evidence["scale"] > 300
    f = run_one("unscaled_targets", _reg_ctx(RNG.uniform(0, 40, 300)))
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


# -- leakage on a regression ---------------------------------------------------------------


def _leak_ctx(x_test, y_test, pred, *, train=None, y_train=None):
    from mlflow_sanity.core.splits import Split

    r = regress(y_test, pred, train_targets=y_train if y_train is not None else TRAIN)
    return Context(
        regression=r,
        test=Split(x_test, y_test),
        train=Split(train, y_train) if train is not None else None,
    )


def test_a_feature_that_is_the_target_in_other_units_leaks():
    import pandas as pd

    x = pd.DataFrame({"a": RNG.normal(size=600), "price_k": np.log(Y) * 7 + 1})
    f = run_one("feature_target_leakage", _leak_ctx(x, Y, GOOD))
    assert f.severity is Severity.FAIL and "'price_k'" in f.message
    honest = pd.DataFrame({"a": RNG.normal(size=600), "b": Y + RNG.normal(scale=2, size=600)})
    f = run_one("feature_target_leakage", _leak_ctx(honest, Y, GOOD))
    assert f.severity is Severity.PASSED and f.evidence["method"] == "abs_spearman"


def test_targets_standardised_before_the_split_are_preprocessing_leakage():
    y_all = RNG.normal(50, 10, 500)
    scaled = (y_all - y_all.mean()) / y_all.std()
    x = RNG.normal(size=(500, 3))
    ctx = _leak_ctx(x[400:], scaled[400:], scaled[400:], train=x[:400], y_train=scaled[:400])
    f = run_one("preprocessing_leakage", ctx)
    assert f.severity is Severity.WARN and "target scaler was fitted before" in f.message
    y_tr = (y_all[:400] - y_all[:400].mean()) / y_all[:400].std()  # fitted on train: fine
    y_te = (y_all[400:] - y_all[:400].mean()) / y_all[:400].std()
    ctx = _leak_ctx(x[400:], y_te, y_te, train=x[:400], y_train=y_tr)
    assert run_one("preprocessing_leakage", ctx).severity is Severity.PASSED


def test_training_rows_in_a_regression_test_set_give_corrected_r2():
    x = RNG.normal(size=(600, 4))
    y = x @ [1.0, 2.0, -1.0, 0.5] + RNG.normal(scale=0.5, size=600)
    pred = x @ [1.0, 2.0, -1.0, 0.5]
    pred[:200] = y[:200]  # memorised training rows
    ctx = _leak_ctx(x[:300], y[:300], pred[:300], train=x[:400], y_train=y[:400])
    ctx.test = type(ctx.test)(np.vstack([x[:200], x[400:500]]), None)
    ctx.regression = regress(
        np.concatenate([y[:200], y[400:500]]),
        np.concatenate([pred[:200], pred[400:500]]),
        train_targets=y[:400],
    )
    report = build_report(ctx)
    assert "train_test_overlap" in report.flagged_ids
    assert "accuracy" not in report.metrics and "corrected_accuracy" not in report.metrics
    unseen = np.arange(200, 300)
    expect = 1 - np.sum(
        (ctx.regression.y_true[unseen, 0] - ctx.regression.y_pred[unseen, 0]) ** 2
    ) / np.sum((ctx.regression.y_true[unseen, 0] - ctx.regression.y_true[unseen, 0].mean()) ** 2)
    assert report.metrics["corrected_r2"] == pytest.approx(expect)
    assert report.corrected.metric == "r2" and report.corrected.value < report.metrics["r2"]

"""The regression evidence: scikit-learn's numbers, a paired test, a deterministic interval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.regression import FROM_EVALUATION, FROM_TRAINING, regress

RNG = np.random.default_rng(7)
Y = RNG.normal(10.0, 3.0, size=400)
GOOD = Y + RNG.normal(0.0, 1.0, size=400)


def test_metrics_are_scikit_learns():
    r = regress(Y, GOOD, train_targets=Y[:100])
    assert abs(r.metrics["r2"] - r2_score(Y, GOOD)) < 1e-9
    assert abs(r.metrics["mae"] - mean_absolute_error(Y, GOOD)) < 1e-9
    assert abs(r.metrics["rmse"] - root_mean_squared_error(Y, GOOD)) < 1e-9
    assert r.baseline_from == FROM_TRAINING
    assert r.baseline[0] == pytest.approx(np.median(Y[:100]))
    assert r.metrics["baseline_mae"] == pytest.approx(np.mean(np.abs(Y - np.median(Y[:100]))))


def test_a_good_model_beats_the_constant_and_a_mean_predictor_does_not():
    good = regress(Y, GOOD)
    assert good.metrics["mae_vs_baseline_p_value"] < 1e-10
    assert good.baseline_from == FROM_EVALUATION
    mean = regress(Y, np.full_like(Y, Y.mean()))
    assert mean.metrics["mae_vs_baseline_p_value"] > 0.05
    assert abs(mean.metrics["r2"]) < 1e-9


def test_the_r2_interval_is_deterministic_and_covers_a_bootstrap():
    a, b = regress(Y, GOOD), regress(Y, GOOD)
    assert a.metrics["r2_ci_low"] == b.metrics["r2_ci_low"]
    lo, hi = a.metrics["r2_ci_low"], a.metrics["r2_ci_high"]
    assert lo < a.metrics["r2"] < hi
    rng = np.random.default_rng(0)
    boot = [r2_score(Y[i], GOOD[i]) for i in (rng.integers(0, 400, 400) for _ in range(500))]
    b_lo, b_hi = np.percentile(boot, [2.5, 97.5])
    assert abs(lo - b_lo) < 0.03 and abs(hi - b_hi) < 0.03


def test_several_outputs_average_like_scikit_learn():
    y = RNG.normal(size=(200, 3)) * [1.0, 10.0, 100.0]
    p = y + RNG.normal(size=(200, 3)) * [0.5, 2.0, 90.0]
    r = regress(y, p)
    assert r.outputs == 3
    assert abs(r.metrics["r2"] - r2_score(y, p)) < 1e-9
    assert abs(r.metrics["mae"] - mean_absolute_error(y, p)) < 1e-9


@pytest.mark.parametrize(
    ("y_true", "y_pred", "words"),
    [
        ([], [], "no rows"),
        ([1.0, 2.0], [1.0], "length mismatch"),
        ([1.0, np.nan], [1.0, 2.0], "targets contain NaN"),
        ([1.0, 2.0], [1.0, np.inf], "predictions contain NaN or inf"),
        (["a", "b"], [1.0, 2.0], "numeric"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "1-D or 2-D"),
        (np.zeros((2, 2)), np.zeros((2, 3)), "width mismatch"),
    ],
)
def test_bad_input_is_named(y_true, y_pred, words):
    with pytest.raises(InputError, match=words):
        regress(y_true, y_pred)


def test_constant_targets_have_no_interval():
    r = regress([3.0] * 10, [2.0] * 10)
    assert "r2_ci_low" not in r.metrics
    assert all(np.isfinite(v) for v in r.metrics.values())

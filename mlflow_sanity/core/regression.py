"""Regression metrics on one evaluation set, computed once and shared by every check.

The regression twin of ``core.metrics.Classification``: targets and predictions are
validated here (a user sees "predictions contain NaN", not a traceback), and the
numbers come from scikit-learn and scipy.

Choices, and why:

- **Several outputs** (``(n, k)`` targets) are averaged with equal weight per output,
  as scikit-learn's ``multioutput="uniform_average"`` does: R², MAE and RMSE are the
  means of the per-output figures, so ``sanity/r2`` equals ``r2_score`` with its
  defaults. The paired test and the interval use each row's mean over the outputs.
- **The baseline** is the constant a model that learned nothing would predict: the
  median of the *training* targets (the MAE-optimal constant, known before the
  evaluation rows were seen). Without training targets it is the evaluation median,
  which flatters the baseline slightly (it has seen the rows it is scored on);
  ``baseline_from`` says which, and the checks say it in their messages.
- **The paired test** is a one-sided Wilcoxon signed-rank test on the per-row
  absolute errors of the model and of the baseline: absolute errors are skewed and
  heavy-tailed (a few large misses), where a paired t-test's normality assumption is
  weakest and a single outlier can dominate it; the signed-rank test needs only
  symmetric differences under the null ("the model is no better than the constant").
- **The R² interval** is analytic (95%, delta method on R²'s influence function per
  row): deterministic, O(n), and it draws no random numbers (a bootstrap would need
  thousands of refits of the statistic on a large evaluation set, and a seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from mlflow_sanity.core.metrics import InputError

Z95 = float(stats.norm.ppf(0.975))
FROM_TRAINING = "training"
FROM_EVALUATION = "evaluation"


@dataclass(frozen=True)
class TargetStats:
    """The training targets in a few numbers per output: what a later ``model.evaluate``
    needs from its fit (the baseline median; mean, std and range for the target-scaling
    check), without keeping the user's arrays."""

    n: int
    median: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def of(cls, targets: Any) -> TargetStats:
        y = _float_array(targets, "training targets")
        if y.shape[0] == 0:
            raise InputError("empty data: no training targets")
        return cls(
            int(y.shape[0]),
            np.median(y, axis=0),
            y.mean(axis=0),
            y.std(axis=0),
            y.min(axis=0),
            y.max(axis=0),
        )


@dataclass(frozen=True)
class Regression:
    """Targets and predictions of one evaluation set, as ``(n, k)`` float arrays.

    ``baseline`` holds the constant per output (the training median, else the evaluation
    median: ``baseline_from``); ``metrics`` the figures the report logs as ``sanity/...``.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    baseline: np.ndarray
    baseline_from: str = FROM_TRAINING
    metrics: dict[str, float] = field(default_factory=dict)
    train: TargetStats | None = None  # the training targets, when known

    @property
    def n(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.y_true.shape[1])

    @property
    def abs_errors(self) -> np.ndarray:
        """Each row's absolute error, averaged over the outputs: ``(n,)``."""
        return np.abs(self.y_true - self.y_pred).mean(axis=1)

    @property
    def baseline_words(self) -> str:
        """How a message names the baseline ("the training median 140")."""
        value = ", ".join(f"{v:.4g}" for v in self.baseline)
        if self.baseline_from == FROM_TRAINING:
            return f"the training targets' median ({value})"
        return f"the evaluation targets' median ({value}; no training targets were known)"


def regress(y_true: Any, y_pred: Any, *, train_targets: Any = None) -> Regression:
    """Validate one evaluation set of a regressor and compute every metric.

    ``train_targets`` (the fit's targets, or their ``TargetStats``) sets the baseline;
    without them the evaluation median stands in and ``baseline_from`` says so.
    """
    truth = _float_array(y_true, "targets")
    preds = _float_array(y_pred, "predictions")
    if truth.shape[0] == 0:
        raise InputError("empty data: the evaluation set has no rows")
    if preds.shape[0] != truth.shape[0]:
        raise InputError(
            f"length mismatch: {truth.shape[0]} targets but {preds.shape[0]} predictions"
        )
    if preds.shape[1] != truth.shape[1]:
        raise InputError(
            f"width mismatch: {truth.shape[1]} target column(s) but {preds.shape[1]} "
            "prediction column(s)"
        )
    train = None
    if train_targets is not None:
        train = train_targets if isinstance(train_targets, TargetStats) else None
        train = train or TargetStats.of(train_targets)
        if train.median.shape[0] != truth.shape[1]:
            raise InputError(
                f"the training targets have {train.median.shape[0]} column(s), the "
                f"evaluation {truth.shape[1]}"
            )
        base, source = train.median, FROM_TRAINING
    else:
        base, source = np.median(truth, axis=0), FROM_EVALUATION
    return Regression(truth, preds, base, source, _compute(truth, preds, base), train)


def _float_array(values: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric for a regression: {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise InputError(f"{what} must be 1-D or 2-D (rows x outputs), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{what} contain NaN or inf")
    return arr


def _compute(truth: np.ndarray, preds: np.ndarray, base: np.ndarray) -> dict[str, float]:
    n = truth.shape[0]
    model_err = np.abs(truth - preds).mean(axis=1)
    base_err = np.abs(truth - base).mean(axis=1)
    m: dict[str, float] = {
        "n_rows": float(n),
        "mae": float(mean_absolute_error(truth, preds)),
        "rmse": float(root_mean_squared_error(truth, preds)),
        "baseline_mae": float(base_err.mean()),
        "target_std": float(truth.std(axis=0).mean()),
        "prediction_std": float(preds.std(axis=0).mean()),
    }
    m["mae_vs_baseline_p_value"] = paired_p_value(model_err, base_err)
    if n >= 2:
        m["r2"] = float(r2_score(truth, preds))
        interval = r2_interval(truth, preds)
        if interval is not None:
            m["r2_ci_low"], m["r2_ci_high"] = interval
    return {k: v for k, v in m.items() if np.isfinite(v)}


def paired_p_value(model_err: np.ndarray, base_err: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value that the model's absolute errors are smaller
    than the baseline's (1.0 when the two never differ: no evidence either way)."""
    diff = model_err - base_err
    if not np.any(diff != 0):
        return 1.0
    result = stats.wilcoxon(diff, zero_method="zsplit", alternative="less")
    p = float(result.pvalue)
    return p if np.isfinite(p) else 1.0


def r2_interval(truth: np.ndarray, preds: np.ndarray) -> tuple[float, float] | None:
    """A 95% interval on the uniform-average R² from its influence function (delta method).

    Per output, R² = 1 - A/B with A the mean squared error and B the targets' variance;
    a row moves it by -(a_i - A)/B + A (b_i - B)/B². The interval is R² ± 1.96 sd of
    those moves (averaged over outputs) / sqrt(n). None where R² is undefined (constant
    targets) or the rows are too few.
    """
    n = truth.shape[0]
    a = (truth - preds) ** 2
    b = (truth - truth.mean(axis=0)) ** 2
    big_a, big_b = a.mean(axis=0), b.mean(axis=0)
    if n < 3 or np.any(big_b <= 0):
        return None
    influence = (-(a - big_a) / big_b + big_a * (b - big_b) / big_b**2).mean(axis=1)
    r2 = float(np.mean(1.0 - big_a / big_b))
    half = Z95 * float(influence.std(ddof=1)) / np.sqrt(n)
    return float(r2 - half), float(r2 + half)

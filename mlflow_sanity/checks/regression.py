"""Checks on a regressor's predictions: is the headline MAE the work of a model at all?

The regression twins of the imbalance checks: a model no better than a constant
(``regression_at_baseline``, the ``accuracy_at_baseline`` of regression), one that
never predicts the rare ends of the target range (``rare_targets_missed``, the
``minority_class_missed`` of regression), and the cause that most often makes a
regressor stall: targets in the hundreds or thousands (``unscaled_targets``).
Every number they grade is in ``core.regression.Regression``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, grade, passed
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.regression import Regression
from mlflow_sanity.core.task import Task

REGRESSION = frozenset({Task.REGRESSION})

_BASELINE = (
    "Compare against a constant (sklearn DummyRegressor(strategy='median')) and report R² "
    "beside the MAE. A model at the baseline has learned nothing: check the target "
    "scaling, the learning rate, the regularisation and whether the features carry signal."
)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@check(
    "regression_at_baseline",
    tasks=REGRESSION,
    flags=(
        "the MAE is not significantly below the constant baseline's (the training targets' "
        "median; the evaluation median when no training targets are known): a one-sided "
        "Wilcoxon signed-rank test on the per-row absolute errors gives p ≥ `alpha`; fail "
        "when the 95% R² interval also reaches 0 (no variance explained), else warn"
    ),
    requires=["regression"],
    judges_training_rows=True,
    remedy=_BASELINE,
    alpha=0.05,
)
def regression_at_baseline(ctx: Context, t: Mapping[str, float]) -> Outcome:
    """The regressor is not significantly better than predicting a constant.

    The constant is the median of the training targets (the MAE-optimal constant known
    before evaluation). The test is paired, on each row's absolute errors, so a small
    but consistent gain counts and a lucky average does not.
    """
    r: Regression = ctx.regression
    m = r.metrics
    mae, base, p = m["mae"], m["baseline_mae"], m["mae_vs_baseline_p_value"]
    r2 = m.get("r2")
    evidence = {
        "mae": _r(mae),
        "baseline_mae": _r(base),
        "baseline": [float(v) for v in r.baseline],
        "baseline_from": r.baseline_from,
        "p_value": float(p),
        "r2": _r(r2),
        "r2_ci": [_r(m.get("r2_ci_low")), _r(m.get("r2_ci_high"))],
        "n_rows": r.n,
    }
    said = f"MAE {mae:.4g} (R² {r2:.3f})" if r2 is not None else f"MAE {mae:.4g}"
    if grade(p, warn=t["alpha"], below=True).flagged:  # significantly better
        return passed(f"{said} beats the constant baseline's MAE {base:.4g} (p={p:.2g}).", evidence)
    low = m.get("r2_ci_low", r2 if r2 is not None else 0.0)
    if low <= 0:  # and no detectable share of the variance explained either
        return Outcome(
            Severity.FAIL,
            f"{said} is no better than always predicting {r.baseline_words}, which scores "
            f"MAE {base:.4g} (Wilcoxon p={p:.3g}, {r.n} rows), and the predictions explain no "
            "detectable share of the targets' variance: the number reflects the spread of the "
            "targets, not the model.",
            evidence,
        )
    return Outcome(
        Severity.WARN,
        f"{said}: the predictions follow the targets (R² interval above 0), but their MAE is "
        f"not significantly below the {base:.4g} of always predicting {r.baseline_words} "
        f"(Wilcoxon p={p:.3g}, {r.n} rows): the errors are no smaller than a constant's.",
        evidence,
    )


@check(
    "rare_targets_missed",
    tasks=REGRESSION,
    flags=(
        "warn: at an end of the target range (the evaluation rows beyond the `tail_share` "
        "quantile, ≥ `min_rows` of them) the model predicts values beyond that quantile "
        "at < `min_reach` × the targets' rate, and its MAE there is ≥ `error_ratio` × its "
        "MAE on the other rows"
    ),
    requires=["regression"],
    remedy="Look at the predicted-vs-actual plot: a model that never predicts the high "
    "(or low) values needs features that explain them, a loss that does not shrink them "
    "(MAE/Huber over MSE on skewed targets, or a log-transformed target), or sample weights "
    "for the rare range.",
    tail_share=0.05,
    min_rows=10,
    min_reach=0.1,
    error_ratio=3.0,
)
def rare_targets_missed(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The predictions never reach a rare end of the target range, and err there most.

    The regression form of a missed minority class: a price model that never predicts
    an expensive house. Each end is judged on its own; only a single output is judged.
    """
    r: Regression = ctx.regression
    share = t["tail_share"]
    if r.outputs != 1 or r.n * share < t["min_rows"]:
        return None
    y, p, err = r.y_true[:, 0], r.y_pred[:, 0], r.abs_errors
    evidence: dict[str, Any] = {}
    missed = []
    for end, sign in (("high", 1.0), ("low", -1.0)):  # the low end is the high end of -y
        q = float(np.quantile(sign * y, 1 - share))
        rows = sign * y > q
        if rows.sum() < t["min_rows"] or rows.all():
            continue
        reach = float(np.mean(sign * p > q) / rows.mean())
        there, elsewhere = float(err[rows].mean()), float(err[~rows].mean())
        ratio = there / max(elsewhere, 1e-12)
        evidence[end] = {
            "rows": int(rows.sum()),
            "threshold": _r(sign * q),
            "predictions_reach_ratio": _r(reach),
            "mae_there": _r(there),
            "mae_elsewhere": _r(elsewhere),
            "error_ratio": _r(ratio, 2),
        }
        starved = grade(reach, warn=t["min_reach"], below=True).flagged
        if starved and grade(ratio, warn=t["error_ratio"], inclusive=True).flagged:
            missed.append(end)
    if not evidence:
        return None
    if not missed:
        return passed("The predictions reach both ends of the target range.", evidence)
    parts = [
        f"the {end} end (targets beyond {evidence[end]['threshold']:.4g}: "
        f"MAE {evidence[end]['mae_there']:.4g}, {evidence[end]['error_ratio']:.1f}x the "
        f"{evidence[end]['mae_elsewhere']:.4g} elsewhere)"
        for end in missed
    ]
    return Outcome(
        Severity.WARN,
        f"The predictions almost never reach {' and '.join(parts)}: the model shrinks the "
        "rare values toward the middle, and the headline MAE, dominated by typical rows, "
        "hides it.",
        evidence,
    )


def regression_collapse(r: Regression, t: Mapping[str, float]) -> Outcome | None:
    """``prediction_collapse`` for a regressor: (nearly) constant predictions.

    Fail when every prediction is the same value; warn when their spread is below
    ``spread_ratio`` of the targets'. None when the targets themselves are constant.
    """
    y_std, p_std = r.metrics.get("target_std", 0.0), r.metrics.get("prediction_std", 0.0)
    if y_std <= 0:
        return None
    ratio = p_std / y_std
    evidence = {
        "prediction_std": _r(p_std),
        "target_std": _r(y_std),
        "spread_ratio": _r(ratio),
        "prediction_range": [_r(float(r.y_pred.min())), _r(float(r.y_pred.max()))],
    }
    if np.ptp(r.y_pred, axis=0).max() <= 1e-12 * max(1.0, float(np.abs(r.y_pred).max())):
        return Outcome(
            Severity.FAIL,
            f"The model predicts {float(r.y_pred[0, 0]):.4g} for all {r.n} rows: it has "
            "learned a constant, not the task.",
            evidence,
        )
    if grade(ratio, warn=t["spread_ratio"], below=True).flagged:
        return Outcome(
            Severity.WARN,
            f"The predictions barely vary: their spread (std {p_std:.3g}) is {ratio:.1%} of "
            f"the targets' ({y_std:.3g}); the model predicts nearly a constant.",
            evidence,
        )
    return passed(f"The predictions vary ({ratio:.0%} of the targets' spread).", evidence)


# -- unscaled_targets (a cause) ------------------------------------------------------------

_LINEAR = (None, "linear", "relu", "softplus", "exponential", "elu", "leaky_relu")


@check(
    "unscaled_targets",
    tasks=REGRESSION,
    flags=(
        "the regression targets' largest magnitude is ≥ `info_scale` (info) / `warn_scale` "
        "(warn) on a linear-family output with the optimizer's default learning rate (within "
        "`lr_factor`×); a cause: it alarms only beside a symptom it explains"
    ),
    requires=["fit", "model"],
    reads=["regression"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Standardise the targets on the training rows (y_scaled = (y - mean) / std; "
    "predict, then map back with * std + mean, e.g. sklearn's TransformedTargetRegressor "
    "or a final Rescaling-style layer), or raise the learning rate.",
    info_scale=10.0,
    warn_scale=100.0,
    lr_factor=3.0,
)
def unscaled_targets(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Regression targets far from unit scale on a linear output with a default learning rate.

    With the default step size (Adam: 0.001 per step and weight) an output that must
    reach values in the hundreds needs thousands of updates before its scale is right:
    training looks stuck at a high loss, and the model ends near a constant.
    """
    spec, lv = ctx.model, ctx.fit.label_values
    if lv is None or spec.output_activation not in _LINEAR or spec.is_classifier:
        return None
    scale = max(abs(lv.min), abs(lv.max))
    lr, default = spec.learning_rate, spec.default_learning_rate
    evidence = {
        "targets_min": lv.min,
        "targets_max": lv.max,
        "scale": _r(scale),
        "output_activation": spec.output_activation,
        "learning_rate": lr,
        "default_learning_rate": default,
    }
    if lr and default and max(lr / default, default / lr) > t["lr_factor"]:
        return passed("The learning rate was chosen for these targets, not the default.", evidence)
    severity = grade(scale, warn=t["warn_scale"], info=t["info_scale"], inclusive=True)
    if severity is Severity.PASSED:
        return passed(f"The targets are near unit scale (up to {scale:.3g}).", evidence)
    text = (
        f"The regression targets reach {scale:.4g} ({lv.min:.4g}..{lv.max:.4g}) on a "
        f"{spec.output_activation or 'linear'} output trained at the default learning rate "
        f"{lr if lr is not None else '?'}: the output layer needs many updates just to reach "
        "the targets' scale, so training stalls near a constant. Standardise the targets."
    )
    because = f"the targets are unscaled (values up to {scale:.4g})"
    return Outcome(severity, text, evidence, because)

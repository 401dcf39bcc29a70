"""The corrected number: the headline recomputed without what makes it misleading.

A check that finds the headline misleading measures the figure to read beside it, on the
arrays it already has (no second forward pass): the accuracy on the evaluation rows not
seen in training, on each distinct row once, balanced accuracy against the majority
baseline, the score at the epoch whose weights the model holds, the mean over seeds. Each
helper returns a ``Corrected`` (or None when the data cannot support one), and the check
puts it in its ``Outcome``; ``Report.corrected`` picks one when several apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import r2_score

from mlflow_sanity.checks.registry import Context
from mlflow_sanity.core.findings import Corrected
from mlflow_sanity.core.metrics import Classification
from mlflow_sanity.core.regression import Regression

R2 = "r2"  # a regressor's corrected figure: ``corrected_r2`` under the report's prefix

# An accuracy over fewer rows moves by 0.1 or more per row: no figure to put beside a
# headline. The reason text always says how many rows a corrected figure rests on.
MIN_ROWS = 10


def headline_name(ctx: Context) -> str:
    """What the user read: ``val_accuracy`` for a fit's validation rows, else ``accuracy``."""
    return "val_accuracy" if ctx.eval_on == "validation" else "accuracy"


def _rows_match(c: Classification | None, n: int) -> bool:
    """The predictions are those of the rows a measurement counted (same rows, same order)."""
    return c is not None and c.n == n and "accuracy" in c.metrics


def accuracy_on_rows(ctx: Context, keep: np.ndarray, reason: str) -> Corrected | None:
    """Accuracy on the evaluation rows ``keep`` marks (a boolean mask over ``ctx.eval``).

    ``reason`` may hold ``{n}``: the number of rows kept.
    """
    c = ctx.eval
    keep = np.asarray(keep, dtype=bool)
    if c is None and ctx.regression is not None:
        return r2_on_rows(ctx.regression, keep, reason)
    if not _rows_match(c, keep.shape[0]):
        return None
    n = int(keep.sum())
    if n < MIN_ROWS or n == c.n:
        return None
    value = float(np.mean(c.y_true[keep] == c.y_pred[keep]))
    return Corrected(headline_name(ctx), float(c.metrics["accuracy"]), value, reason.format(n=n), n)


def r2_on_rows(r: Regression, keep: np.ndarray, reason: str) -> Corrected | None:
    """A regressor's R² on the rows ``keep`` marks (``corrected_r2``), beside
    ``accuracy_on_rows``'s rule: enough rows, and not all of them."""
    n = int(keep.sum())
    if keep.shape[0] != r.n or "r2" not in r.metrics or n < MIN_ROWS or n == r.n:
        return None
    y = r.y_true[keep]
    if np.any(np.ptp(y, axis=0) == 0):  # R² undefined on constant targets
        return None
    value = float(r2_score(y, r.y_pred[keep]))
    return Corrected(R2, float(r.metrics["r2"]), value, reason.format(n=n), n)


def unseen_rows(ctx: Context, in_train: np.ndarray) -> Corrected | None:
    """``train_test_overlap``: the accuracy on the evaluation rows not in the training data."""
    return accuracy_on_rows(ctx, ~np.asarray(in_train, dtype=bool), _UNSEEN[ctx.eval_on])


_UNSEEN = {
    "evaluation": "{n} evaluation rows not in the training data",
    "validation": "{n} validation rows not in the training data",
    "training": "{n} rows not in the training data",
}


def validation_score(ctx: Context) -> Corrected | None:
    """``eval_is_train``: the fit's accuracy on its validation rows, when known."""
    c, value = ctx.eval, ctx.fit_validation_accuracy
    if c is None or value is None or "accuracy" not in c.metrics or not np.isfinite(value):
        return None
    vfp = ctx.validation_fingerprint
    n = vfp.n_rows if vfp is not None else None
    rows = f"{n} " if n else ""
    reason = f"the fit's {rows}validation rows; these rows are its training data"
    return Corrected(headline_name(ctx), float(c.metrics["accuracy"]), float(value), reason, n)


def unique_rows(ctx: Context, first: np.ndarray) -> Corrected | None:
    """``duplicate_eval_rows``: the accuracy with each distinct row counted once
    (``first``: the position of each distinct row's first occurrence)."""
    c = ctx.eval if ctx.eval is not None else ctx.regression
    if c is None:
        return None
    keep = np.zeros(c.n, dtype=bool)
    first = np.asarray(first, dtype=np.int64)
    if first.size and first.max() >= c.n:
        return None
    keep[first] = True
    if int(keep.sum()) == c.n:
        return None
    return accuracy_on_rows(ctx, keep, "{n} distinct rows, each counted once")


def balanced(ctx: Context) -> Corrected | None:
    """Imbalance or collapse: balanced accuracy, with the majority baseline in the reason."""
    c = ctx.eval
    if c is None or "balanced_accuracy" not in c.metrics or "accuracy" not in c.metrics:
        return None
    baseline = c.metrics.get("majority_baseline_accuracy")
    if baseline is None and c.n:
        baseline = float(c.true_counts.max() / c.n)
    reason = f"majority baseline {baseline:.2f}" if baseline is not None else "per-class mean"
    if ctx.eval_on == "training":  # a fit without validation data is judged on its own rows
        reason += ", on the training rows"
    return Corrected(
        headline_name(ctx),
        float(c.metrics["accuracy"]),
        float(c.metrics["balanced_accuracy"]),
        reason,
        c.n,
        measure="balanced accuracy",
    )


def restored_epoch(
    history: Mapping[str, Sequence[float]], restored: int, index: int | None
) -> Corrected | None:
    """EarlyStopping restored epoch ``restored`` (0-based; ``index``: its place in the
    ``val_*`` series, None when that epoch was not validated): the last logged validation
    accuracy describes other weights than the model's; the restored epoch's is the one."""
    key = "val_accuracy"
    values = list(history.get(key) or [])
    if index is None or not 0 <= index < len(values) - 1:
        return None
    last, kept = float(values[-1]), float(values[index])
    if not (np.isfinite(last) and np.isfinite(kept)) or last == kept:
        return None
    reason = f"the restored weights of epoch {restored + 1}, not the last epoch {len(values)}"
    return Corrected(key, last, kept, reason)


def seed_interval(
    metric: str, values: Sequence[float], mean: float, low: float, high: float
) -> Corrected | None:
    """``seed_variance``: the best single seed against the mean and interval over seeds."""
    if "accuracy" not in metric or len(values) < 2:
        return None
    best = float(max(values))
    reason = f"mean over {len(values)} seeds, 95% interval {low:.2f}–{high:.2f}"
    return Corrected(f"{metric} (best seed)", best, float(mean), reason, None)

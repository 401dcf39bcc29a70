"""A regressor's plots: predicted vs actual, and the residuals.

The two pictures that show what R² and MAE hide: a model predicting the mean is a
horizontal band in predicted-vs-actual, one that never reaches the rare targets bends
away from the diagonal at the ends. Above ``HEXBIN_ROWS`` rows the scatter becomes a
hexbin (a million points would hide each other and take seconds to draw). matplotlib is
imported on first use, as in ``report.plots``; classification never pays for it.
"""

from __future__ import annotations

import numpy as np

from mlflow_sanity.core.regression import Regression
from mlflow_sanity.report.plots import _png, _pyplot

HEXBIN_ROWS = 3000  # above this many points: hexbin density instead of a scatter


def _points(ax, x: np.ndarray, y: np.ndarray) -> None:
    if x.size > HEXBIN_ROWS:
        ax.hexbin(x, y, gridsize=50, mincnt=1, cmap="Blues", bins="log")
    else:
        ax.scatter(x, y, s=8, alpha=0.5, edgecolors="none")


def predicted_vs_actual_png(r: Regression) -> bytes:
    """Predictions against targets (first output), with the diagonal and the baseline."""
    plt = _pyplot()
    y, p = r.y_true[:, 0], r.y_pred[:, 0]
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    _points(ax, y, p)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.9, ls="--", label="perfect")
    ax.axhline(float(r.baseline[0]), color="red", lw=0.9, ls=":", label="constant baseline")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    r2 = r.metrics.get("r2")
    ax.set_title(f"Predicted vs actual (R² {r2:.3f})" if r2 is not None else "Predicted vs actual")
    ax.legend(fontsize=7)
    return _png(fig)


def residuals_png(r: Regression) -> bytes:
    """Residuals (actual - predicted) against the predictions, and their histogram."""
    plt = _pyplot()
    y, p = r.y_true[:, 0], r.y_pred[:, 0]
    res = y - p
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
    _points(left, p, res)
    left.axhline(0.0, color="grey", lw=0.9, ls="--")
    left.set_xlabel("predicted")
    left.set_ylabel("actual - predicted")
    right.hist(res, bins=40)
    right.set_xlabel("actual - predicted")
    right.set_ylabel("rows")
    fig.suptitle(f"Residuals (MAE {r.metrics['mae']:.4g})")
    return _png(fig)


def regression_files(r: Regression, prefix: str = "") -> dict[str, bytes]:
    """The standard artifacts of one evaluated regression (``prefix`` as for classification)."""
    return {
        f"{prefix}predicted_vs_actual.png": predicted_vs_actual_png(r),
        f"{prefix}residuals.png": residuals_png(r),
    }

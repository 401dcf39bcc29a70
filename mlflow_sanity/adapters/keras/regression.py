"""A Keras regressor's outputs as the core's ``Regression``, for fit and model.evaluate.

The baseline a regression report compares with is the median of the *training* targets:
``fit`` has them (``target_stats``), and remembers their statistics for the model's later
``model.evaluate`` calls (``FitMemory.targets``); an evaluate without a fit in this process
falls back to the evaluated targets' median, and the report says so.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from mlflow_sanity.core.keras_spec import Predictions
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.regression import Regression, TargetStats, regress

_log = logging.getLogger(__name__)


def _rows(values: Any) -> np.ndarray | None:
    """Numeric targets or outputs as ``(n, k)`` floats; None for anything else (a rank-3
    sequence output, strings)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim == 1:
        return arr[:, None]
    return arr if arr.ndim == 2 else None


def target_stats(y: Any) -> TargetStats | None:
    """The training targets' statistics (None when they are not numeric rows)."""
    arr = _rows(y)
    if arr is None or arr.shape[0] == 0 or not np.isfinite(arr).all():
        return None
    return TargetStats.of(arr)


def regression_of(preds: Predictions | None, train: TargetStats | None) -> Regression | None:
    """A regressor head's predictions as the core's ``Regression`` (None when they cannot be
    read as one: NaN outputs are ``non_finite_loss``'s to report, shapes that do not match
    are not a regression the checks can judge)."""
    if preds is None:
        return None
    y, out = _rows(preds.y_true), _rows(preds.outputs)
    if y is None or out is None or y.shape != out.shape:
        return None
    if train is not None and train.median.shape[0] != y.shape[1]:
        train = None
    try:
        return regress(y, out, train_targets=train)
    except InputError as exc:
        _log.info("regression not checked: %s", exc)
        return None

"""What the evaluator needs for ``model_type="regressor"``: the predictions as numbers, and
the training targets that set the baseline.

Predictions come from the static ``predictions`` column, from the raw Keras model (MLflow's
pyfunc wrapper would hand back the same numbers, but the raw model is what the leakage
checks read too), or from ``model.predict``; ``train_data`` with a target column gives the
training targets' median for the baseline. Without it, the evaluation median stands in and
the report says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.regression import Regression, TargetStats, regress
from mlflow_sanity.core.splits import Split


def regressor_predictions(model: Any, features: pd.DataFrame, dataset: Any) -> np.ndarray:
    """The model's (or the static column's) predictions, one row per evaluation row."""
    if model is None:
        if not dataset.has_predictions:
            raise InputError("no predictions: pass a model, or predictions='column' with data")
        out = dataset.predictions_data
    else:
        from mlflow_sanity.adapters.evaluator import _is_keras, _raw_model

        raw = _raw_model(model)
        if raw is not None and _is_keras(raw):
            out = raw.predict(features.to_numpy(dtype=np.float32), verbose=0)
        else:
            out = model.predict(features)
    if isinstance(out, (pd.DataFrame, pd.Series)):
        out = out.to_numpy()
    try:
        return np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("a regressor's predictions must be numbers") from None


def training_targets(train: Split | None) -> TargetStats | None:
    """The training targets' statistics from ``train_data`` (None without a target column)."""
    if train is None or train.labels is None:
        return None
    try:
        return TargetStats.of(train.labels)
    except InputError:
        return None


def regression_of(
    y_true: Any, model: Any, features: pd.DataFrame, dataset: Any, train: Split | None
) -> Regression:
    """The evaluated regression, with the training targets' baseline when known."""
    preds = regressor_predictions(model, features, dataset)
    stats = training_targets(train)
    width = 1 if np.ndim(y_true) == 1 else np.shape(y_true)[1]
    if stats is not None and stats.median.shape[0] != width:
        stats = None
    return regress(y_true, preds, train_targets=stats)

"""What Keras means by its logged numbers, in one place for the Keras-facing checks.

Which history key is "the" accuracy, which history index describes the final weights,
what a resolved accuracy variant computes, and which metrics threshold their inputs as
probabilities. ``keras_config`` and the ``training`` checks both read these; no check
lives here. Pure numpy: no Keras import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from mlflow_sanity.core.keras_spec import (
    THRESHOLD_METRICS,
    FitSpec,
    MetricSpec,
    ModelSpec,
    Predictions,
)

History = Mapping[str, Sequence[float]]

_ACC_KEY = re.compile(r"(^|_)acc(uracy)?$")


def series(history: History, key: str) -> np.ndarray | None:
    """One history curve as floats; None when absent, empty or not finite."""
    values = history.get(key)
    if values is None or len(values) == 0:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return arr if np.isfinite(arr).all() else None


def accuracy_key(history: History, spec: ModelSpec | None) -> str | None:
    """The training accuracy key to read (``accuracy`` first), with or without a model spec."""
    names = [m.name for m in spec.accuracy_metrics] if spec is not None else []
    names += sorted(k for k in history if not k.startswith("val_") and _ACC_KEY.search(k))
    names.sort(key=lambda k: (k != "accuracy", k.startswith("weighted_")))
    return next((k for k in names if k in history), None)


def judged_epoch(fit: FitSpec | None, n_epochs: int) -> int:
    """The history index whose weights the model holds (EarlyStopping may restore one)."""
    e = fit.weights_epoch if fit is not None else None
    return e if e is not None and 0 <= e < n_epochs else n_epochs - 1


def val_index(fit: FitSpec | None, epoch: int, n_epochs: int, n_val: int) -> int | None:
    """Index into a ``val_*`` series for an epoch (``validation_freq`` > 1 skips epochs)."""
    if n_val == n_epochs:
        return epoch
    freq = fit.validation_freq if fit is not None else 1
    if freq > 1 and (epoch + 1) % freq == 0 and (epoch + 1) // freq <= n_val:
        return (epoch + 1) // freq - 1
    return None


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


# -- logits and probability thresholds ---------------------------------------------------


def outputs_are_logits(spec: ModelSpec) -> bool:
    """A linear output trained with ``from_logits=True``: the outputs are logits."""
    return spec.outputs_logits and spec.from_logits


def thresholds_as_probability(metric: MetricSpec) -> bool:
    """The metric cuts its inputs at a probability (0.5 unless set), not at logit 0.

    Right for probability outputs, wrong for logits. ``AUC(from_logits=True)`` and an
    explicit threshold of 0 are the logit-aware forms.
    """
    return (
        metric.variant in THRESHOLD_METRICS
        and not (metric.variant == "auc" and metric.from_logits)
        and metric.threshold != 0.0
    )


def probability_cut(metric: MetricSpec) -> float:
    return 0.5 if metric.threshold is None else metric.threshold


# -- Keras' accuracy variants --------------------------------------------------------------


def _align(y: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Keras' squeeze_or_expand_to_same_rank for the shapes a classifier produces."""
    if y.ndim == out.ndim:
        return (y, out) if y.shape == out.shape else None
    if y.ndim == out.ndim + 1 and y.shape[-1] == 1:
        return y.reshape(out.shape), out
    if out.ndim == y.ndim + 1 and out.shape[-1] == 1:
        return y.reshape((*y.shape, 1)), out
    return None


def _hits_per_row(metric: MetricSpec, y: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """Keras' per-row score of one accuracy variant (None: the shapes do not fit it)."""
    if metric.variant == "binary_accuracy":
        pair = _align(y, out)
        if pair is None:
            return None
        y, out = pair
        hit = y == (out > probability_cut(metric))
        return hit.mean(axis=-1) if hit.ndim == 2 else hit.astype(np.float64)
    if metric.variant == "categorical_accuracy":
        if out.ndim != 2 or y.ndim != 2 or y.shape != out.shape:
            return None
        return (y.argmax(axis=1) == out.argmax(axis=1)).astype(np.float64)
    if metric.variant == "sparse_categorical_accuracy":
        if out.ndim != 2:
            return None
        return (y.reshape(-1) == out.argmax(axis=1)).astype(np.float64)
    return None


def keras_accuracy(
    metric: MetricSpec, preds: Predictions, weighted: bool | None = None
) -> float | None:
    """What Keras' resolved accuracy variant computes on these outputs (None: not emulable)."""
    y = np.asarray(preds.y_true, dtype=np.float64)
    out = np.asarray(preds.outputs, dtype=np.float64)
    per_row = _hits_per_row(metric, y, out)
    if per_row is None:
        return None
    use_weights = metric.weighted if weighted is None else weighted
    sw = preds.sample_weight if use_weights else None
    return float(np.average(per_row, weights=sw))

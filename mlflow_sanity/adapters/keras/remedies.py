"""The experiments' ingredients: which remedy tests a cause, and the rows both arms use.

A remedy is the smallest change that would cure the named cause (inputs standardised,
the learning rate back to its default, He initialisation with a leaky ReLU, more epochs,
balanced class weights); the rows are a spread sample of the fit's own training and
held-out rows, so both arms of an experiment see the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras.inputs import FitData, n_rows, take_rows
from mlflow_sanity.core.findings import Finding
from mlflow_sanity.core.keras_spec import label_indices

_log = logging.getLogger(__name__)

TRAIN_ROWS = 2000  # training rows each arm trains on
EVAL_ROWS = 1000  # held-out rows each arm is scored on
SEED = 0
# A symptom whose remedy is testable too: a fit that collapsed onto the majority class is
# retrained with class_weight="balanced". The experiment annotates the symptom (it names
# the fix that works), it never grades it: the collapse happened either way.
REBALANCED = "prediction_collapse"


# -- the remedies -------------------------------------------------------------------------


@dataclass
class Remedy:
    """What the remedied arm changes: a description, and how."""

    text: str
    learning_rate: float | None = None
    layer_config: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    standardise: bool = False
    epochs_factor: int = 1
    balanced: bool = False  # class_weight="balanced" (n / (k * count) per class)
    # The regression targets standardised on the training rows (predictions mapped back
    # with the same mean/std before scoring), for ``unscaled_targets``.
    standardise_targets: bool = False


def _lr_remedy(f: Finding, lr: float | None, default: float | None) -> Remedy | None:
    if not lr or lr <= 0:
        return None
    if default and (lr / default >= 10 or default / lr >= 10):
        return Remedy(f"the learning rate {lr:.3g} → {default:.3g} (the default)", default)
    low = f.evidence.get("direction") == "low"  # the learning_rate check's typed evidence
    new = lr * 10 if low else lr / 10
    return Remedy(f"the learning rate {lr:.3g} → {new:.3g}", new)


def _relu_fix(cfg: dict[str, Any]) -> dict[str, Any] | None:
    if cfg.get("activation") in ("relu", "relu6") and "kernel_initializer" in cfg:
        return {**cfg, "activation": "leaky_relu", "kernel_initializer": "he_normal"}
    return None


def _saturating_fix(cfg: dict[str, Any]) -> dict[str, Any] | None:
    if cfg.get("activation") in ("sigmoid", "tanh") and "kernel_initializer" in cfg:
        return {**cfg, "activation": "relu", "kernel_initializer": "he_normal"}
    return None


def remedy_for(f: Finding, model: Any, spec_lr: float | None) -> Remedy | None:
    """The fix finding ``f`` names, as something the experiment can apply (None: none)."""
    from mlflow_sanity.adapters.keras.describe import default_learning_rate

    default = default_learning_rate(getattr(model, "optimizer", None))
    if f.id == "learning_rate":
        return _lr_remedy(f, spec_lr, default)
    if f.id == "unscaled_inputs":
        return Remedy(
            "the inputs standardised on the training rows (a Normalization layer)",
            standardise=True,
        )
    if f.id == "dead_units":
        return Remedy("he_normal + leaky_relu for the ReLU layers", layer_config=_relu_fix)
    if f.id == "vanishing_gradients":
        return Remedy("relu + he_normal for the sigmoid/tanh layers", layer_config=_saturating_fix)
    if f.id == "unscaled_targets":
        return Remedy(
            "standardised targets (the training targets' mean and std)", standardise_targets=True
        )
    if f.id == "undertrained":
        return Remedy("three times the epochs", epochs_factor=3)
    if f.id == REBALANCED:
        return Remedy('class_weight="balanced"', balanced=True)
    return None


def balanced_weights(y: Any) -> dict[int, float] | None:
    """scikit-learn's ``class_weight="balanced"`` as the dict Keras' ``fit`` takes."""
    from sklearn.utils.class_weight import compute_class_weight

    idx = label_indices(y)
    if idx is None:
        return None
    classes = np.unique(idx)
    weights = compute_class_weight("balanced", classes=classes, y=idx)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}


# -- the rows -----------------------------------------------------------------------------


@dataclass
class Rows:
    x_train: Any
    y_train: np.ndarray
    x_eval: Any
    y_eval: np.ndarray
    eval_on: str


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(np.int64))


def experiment_rows(data: FitData) -> Rows | None:
    """Capped training rows (shuffled once with a private generator) and the rows to score
    on (validation, else every fifth row of a spread sample of the training rows, never
    trained on)."""
    rows = _experiment_rows(data)
    if rows is not None:
        order = np.random.default_rng(SEED).permutation(len(rows.y_train))
        rows.x_train, rows.y_train = take_rows(rows.x_train, order), rows.y_train[order]
    return rows


def _experiment_rows(data: FitData) -> Rows | None:
    if not data.train_readable or data.y_train is None or label_indices(data.y_train) is None:
        return None
    n = n_rows(data.x_train)
    if data.val_readable and data.y_val is not None and label_indices(data.y_val) is not None:
        rows = _spread(n, TRAIN_ROWS)
        vrows = _spread(n_rows(data.x_val), EVAL_ROWS)
        return Rows(
            take_rows(data.x_train, rows),
            np.asarray(data.y_train)[rows],
            take_rows(data.x_val, vrows),
            np.asarray(data.y_val)[vrows],
            "validation rows",
        )
    if n < 50:
        return None
    sample = _spread(n, TRAIN_ROWS + min(EVAL_ROWS, TRAIN_ROWS // 4))
    held = sample[np.arange(len(sample)) % 5 == 4]
    train = sample[np.arange(len(sample)) % 5 != 4]
    y = np.asarray(data.y_train)
    return Rows(
        take_rows(data.x_train, train),
        y[train],
        take_rows(data.x_train, held),
        y[held],
        "held-out training rows",
    )


def as_float_arrays(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: as_float_arrays(v) for k, v in x.items()}
    arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
    return arr.astype(np.float32) if arr.dtype.kind in "biuf" else arr


def standardiser(x_train: Any) -> Callable[[Any], Any]:
    """Standardise with the training rows' per-feature (last axis) mean and std."""
    if isinstance(x_train, Mapping):
        parts = {k: standardiser(v) for k, v in x_train.items()}
        return lambda x: {k: parts[k](v) for k, v in x.items()}
    arr = np.asarray(x_train, dtype=np.float64)
    if arr.dtype.kind not in "f":
        return lambda x: x
    axes = tuple(range(arr.ndim - 1)) if arr.ndim > 1 else (0,)
    mean, std = arr.mean(axis=axes), arr.std(axis=axes)
    std = np.where(std > 0, std, 1.0)
    return lambda x: ((np.asarray(x, dtype=np.float64) - mean) / std).astype(np.float32)

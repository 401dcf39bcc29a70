"""The experiments' ingredients: which remedy tests a cause, and the rows both arms use.

A remedy is the smallest change that would cure the named cause (inputs standardised,
the learning rate back to its default, He initialisation with a leaky ReLU, more epochs,
balanced class weights); the rows are a spread sample of the fit's own training and
held-out rows, so both arms of an experiment see the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras.inputs import FitData, n_rows, take_rows
from mlflow_sanity.core.findings import Finding, Severity
from mlflow_sanity.core.keras_spec import label_indices
from mlflow_sanity.core.proofs import MIN_EVAL_PER_CLASS

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
    loss: str | None = None  # the compiled loss replaced by this one
    # The regression targets standardised on the training rows (outputs mapped back with
    # the same mean/std before the held-out loss is measured), for ``unscaled_targets``.
    standardise_targets: bool = False


def _lr_remedy(f: Finding, lr: float | None, default: float | None) -> Remedy | None:
    if not lr or lr <= 0:
        return None
    if default and (lr / default >= 10 or default / lr >= 10):
        return Remedy(f"the learning rate {lr:.3g} → {default:.3g} (the default)", default)
    low = "too low" in f.message or "below" in str(f.evidence.get("suspect", ""))
    new = lr * 10 if low else lr / 10
    return Remedy(f"the learning rate {lr:.3g} → {new:.3g}", new)


def _matching_loss(f: Finding, lr: float | None, default: float | None) -> Remedy | None:
    """The loss that fits a softmax or a one-unit sigmoid output and its labels (a
    mismatch the rule grades ``warn``; a ``fail`` cannot train at all and is not tested)."""
    e = f.evidence
    act, units, encoding = (
        e.get("output_activation"),
        e.get("output_units"),
        e.get("label_encoding"),
    )
    if f.severity is not Severity.WARN or e.get("from_logits"):
        return None
    if act == "softmax" and units and units > 1 and encoding in ("sparse", "one_hot", "binary"):
        loss = (
            "categorical_crossentropy"
            if encoding == "one_hot"
            else "sparse_categorical_crossentropy"
        )
    elif act == "sigmoid" and units == 1 and encoding in ("binary", "sparse"):
        loss = "binary_crossentropy"
    else:
        return None
    if loss == e.get("loss"):
        return None
    return Remedy(f"{loss} instead of {e.get('loss')} (the loss that fits the output)", loss=loss)


def _relu_fix(cfg: dict[str, Any]) -> dict[str, Any] | None:
    if cfg.get("activation") in ("relu", "relu6") and "kernel_initializer" in cfg:
        return {**cfg, "activation": "leaky_relu", "kernel_initializer": "he_normal"}
    return None


def _saturating_fix(cfg: dict[str, Any]) -> dict[str, Any] | None:
    if cfg.get("activation") in ("sigmoid", "tanh") and "kernel_initializer" in cfg:
        return {**cfg, "activation": "relu", "kernel_initializer": "he_normal"}
    return None


_STANDARDISED = Remedy(
    "the inputs standardised on the training rows (a Normalization layer)", standardise=True
)
_BALANCED = Remedy('class_weight="balanced"', balanced=True)
# finding id -> (finding, learning rate, the optimizer's default) -> the remedy it names.
# One entry a cause: adding a remedy is adding a line.
RemedyFn = Callable[[Finding, "float | None", "float | None"], "Remedy | None"]
REMEDIES: dict[str, RemedyFn] = {
    "learning_rate": _lr_remedy,
    "unscaled_inputs": lambda f, lr, d: _STANDARDISED,
    "dead_units": lambda f, lr, d: Remedy(
        "he_normal + leaky_relu for the ReLU layers", layer_config=_relu_fix
    ),
    "vanishing_gradients": lambda f, lr, d: Remedy(
        "relu + he_normal for the sigmoid/tanh layers", layer_config=_saturating_fix
    ),
    "undertrained": lambda f, lr, d: Remedy("three times the epochs", epochs_factor=3),
    "loss_output_mismatch": _matching_loss,
    "unscaled_targets": lambda f, lr, d: Remedy(
        "standardised targets (the training targets' mean and std)", standardise_targets=True
    ),
    REBALANCED: lambda f, lr, d: _BALANCED,
}


def remedy_for(f: Finding, model: Any, spec_lr: float | None) -> Remedy | None:
    """The fix finding ``f`` names, as something the experiment can apply (None: none)."""
    from mlflow_sanity.adapters.keras.describe import default_learning_rate

    make = REMEDIES.get(f.id)
    if make is None:
        return None
    return make(f, spec_lr, default_learning_rate(getattr(model, "optimizer", None)))


def differential(
    lr: float | None, present: Mapping[str, Finding], weighted: bool
) -> list[tuple[str, Remedy]]:
    """The standard remedies for a symptom no cause explains, most likely first:
    ``(the cause it would name, remedy)``. A prior of the findings at hand orders them: a
    rate the rules call far above (below) its default tries ÷10 (×10) first; inputs the
    rules graded unscaled try standardising early; inputs already scaled are not tried,
    nor class weights on a fit that weighted its rows."""
    tries: list[tuple[float, str, Remedy]] = []
    rate = present.get("learning_rate")
    suspect = str(rate.evidence.get("suspect", "")) if rate is not None else ""
    if lr and lr > 0:
        tries.append(
            (
                3 if "above" in suspect else 2,
                "learning_rate",
                Remedy(f"the learning rate {lr:.3g} → {lr / 10:.3g}", lr / 10),
            )
        )
        tries.append(
            (
                3 if "below" in suspect else 1.5,
                "learning_rate",
                Remedy(f"the learning rate {lr:.3g} → {lr * 10:.3g}", lr * 10),
            )
        )
    inputs = present.get("unscaled_inputs")
    if inputs is None or inputs.severity is not Severity.PASSED:
        prior = 2.5 if inputs is not None and inputs.evidence.get("graded") else 1
        tries.append((prior, "unscaled_inputs", _STANDARDISED))
    collapse = present.get(REBALANCED)
    if collapse is not None and collapse.severity.flagged and not weighted:
        tries.append((2, REBALANCED, _BALANCED))
    tries.append((1, "undertrained", Remedy("three times the epochs", epochs_factor=3)))
    tries.sort(key=lambda t: -t[0])  # stable: equal priors keep the order above
    return [(cause, remedy) for _, cause, remedy in tries if remedy is not None]


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
    classes: bool = True  # False: a regression, judged on the held-out loss alone
    # A multi-output model: output name -> whether it is scored as a classifier, and the
    # labels (``y_train``/``y_eval``) are dicts by output name (``head_rows``).
    heads: dict[str, bool] | None = None

    def of(self, head: str | None) -> Rows:
        """The rows as one output sees them (its labels): what a proof about it counts."""
        if head is None or self.heads is None:
            return self
        return Rows(
            self.x_train,
            self.y_train[head],
            self.x_eval,
            self.y_eval[head],
            self.eval_on,
            self.heads[head],
        )


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(np.int64))


def experiment_rows(data: FitData, classes: bool = True) -> Rows | None:
    """Capped training rows (shuffled once with a private generator) and the rows to score
    on (validation, else a spread slice of the training rows sized for the number of
    classes, never trained on)."""
    rows = _experiment_rows(data, classes)
    if rows is not None:
        order = np.random.default_rng(SEED).permutation(len(rows.y_train))
        rows.x_train, rows.y_train = take_rows(rows.x_train, order), rows.y_train[order]
    return rows


def head_rows(data: FitData, classes: Mapping[str, bool]) -> Rows | None:
    """``experiment_rows`` for a multi-output model whose labels are given by output name:
    the same rows for every output (chosen once, by row index), each output's labels
    beside them; an output whose labels cannot be read is left out (``Rows.heads``)."""
    if not isinstance(data.y_train, Mapping) or not data.train_readable:
        return None
    y_val = data.y_val if isinstance(data.y_val, Mapping) and data.val_readable else None
    heads = {
        h: c
        for h, c in classes.items()
        if _labelled(data.y_train.get(h), c) and (y_val is None or _labelled(y_val.get(h), c))
    }
    if not heads:
        return None
    n_val = n_rows(data.x_val) if y_val is not None else 0
    index = replace(
        data,
        y_train=np.arange(n_rows(data.x_train)),
        y_val=np.arange(n_val) if y_val is not None else None,
    )
    rows = experiment_rows(index, classes=False)
    if rows is None:
        return None
    held = y_val if rows.eval_on == "validation rows" else data.y_train
    rows.y_train = {h: np.asarray(data.y_train[h])[rows.y_train] for h in heads}
    rows.y_eval = {h: np.asarray(held[h])[rows.y_eval] for h in heads}
    rows.heads = heads
    return rows


def _labelled(y: Any, classes: bool) -> bool:
    if y is None:
        return False
    if classes:
        return label_indices(y) is not None
    return np.asarray(y).dtype.kind in "biuf"


def _experiment_rows(data: FitData, classes: bool = True) -> Rows | None:
    if not data.train_readable or not _labelled(data.y_train, classes):
        return None
    n = n_rows(data.x_train)
    if data.val_readable and _labelled(data.y_val, classes):
        rows = _spread(n, TRAIN_ROWS)
        vrows = _spread(n_rows(data.x_val), EVAL_ROWS)
        return Rows(
            take_rows(data.x_train, rows),
            np.asarray(data.y_train)[rows],
            take_rows(data.x_val, vrows),
            np.asarray(data.y_val)[vrows],
            "validation rows",
            classes,
        )
    if n < 50:
        return None
    # held out: a fifth of the sample, raised to MIN_EVAL_PER_CLASS rows a class where
    # the data allow (at most half of it); fewer rows make the verdict say "too few rows"
    k = len(np.unique(label_indices(data.y_train))) if classes else 1
    want = min(max(min(EVAL_ROWS, TRAIN_ROWS // 4), MIN_EVAL_PER_CLASS * k), EVAL_ROWS)
    sample = _spread(n, TRAIN_ROWS + want)
    held_n = min(max(len(sample) // 5, MIN_EVAL_PER_CLASS * k), len(sample) // 2, want)
    held_at = _spread(len(sample), held_n)
    mask = np.zeros(len(sample), dtype=bool)
    mask[held_at] = True
    held, train = sample[mask], sample[~mask]
    y = np.asarray(data.y_train)
    return Rows(
        take_rows(data.x_train, train),
        y[train],
        take_rows(data.x_train, held),
        y[held],
        "held-out training rows",
        classes,
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

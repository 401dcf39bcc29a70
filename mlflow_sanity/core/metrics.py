"""Imbalance-aware classification metrics, computed once and shared by every check.

Inputs are validated here, at the edge of the core, so that a user sees
"probabilities contain NaN" instead of a traceback from deep inside numpy.
Metric formulas come from scikit-learn and scipy; this module only encodes
labels once, routes arrays and guards degenerate cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from mlflow_sanity.core.curves import probability_metrics


class InputError(ValueError):
    """Bad user input, with a message that names the problem."""


@dataclass(frozen=True)
class Classification:
    """Labels, predictions and (optional) probabilities on one evaluation set, encoded once.

    ``y_true``/``y_pred`` hold indices into ``labels``; ``proba`` has one column per
    label, in label order.
    """

    labels: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    pos_index: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    # what one evaluated row is, as the findings say it: "tokens" for a tagger's real tokens
    unit: str = "rows"
    # the rows' top-label calibration, one pass shared by the ECE metric and its check
    calibration: Calibration | None = None
    # rows and per-class counts, read by several checks and plots: counted once, here
    n: int = field(init=False, repr=False, compare=False)
    true_counts: np.ndarray = field(init=False, repr=False, compare=False)
    pred_counts: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        k = len(self.labels)
        if self.confusion.shape == (k, k):  # O(k^2), not O(n)
            true, pred = self.confusion.sum(axis=1), self.confusion.sum(axis=0)
        else:
            true = np.bincount(self.y_true, minlength=k)
            pred = np.bincount(self.y_pred, minlength=k)
        object.__setattr__(self, "n", int(self.y_true.shape[0]))
        object.__setattr__(self, "true_counts", true)
        object.__setattr__(self, "pred_counts", pred)

    @property
    def present(self) -> np.ndarray:
        """Indices of classes that occur in the true labels."""
        return np.flatnonzero(self.true_counts)

    def label_str(self, index: int) -> str:
        return str(self.labels[index])


def classify(
    y_true: Any,
    y_pred: Any = None,
    proba: Any = None,
    *,
    labels: Sequence[Any] | None = None,
    pos_label: Any = None,
    n_bins: int = 15,
) -> Classification:
    """Validate and encode one evaluation set, then compute every metric.

    ``proba`` is ``(n,)`` for the positive-class probability of a binary task or
    ``(n, k)`` with one column per class. ``y_pred`` defaults to the most probable
    class. ``labels`` fixes the class order (needed when the evaluation set lacks a
    class the model knows about).
    """
    truth = _label_array(y_true, "labels (targets)")
    if truth.size == 0:
        raise InputError("empty data: the evaluation set has no rows")
    probs = None if proba is None else _proba_array(proba, truth.shape[0])
    preds = None if y_pred is None else _label_array(y_pred, "predictions")
    if preds is None and probs is None:
        raise InputError("nothing to evaluate: give predictions, probabilities or both")
    if preds is not None:
        if preds.shape[0] != truth.shape[0]:
            raise InputError(
                f"length mismatch: {truth.shape[0]} labels but {preds.shape[0]} predictions"
            )
        preds = _align_dtype(preds, truth)

    classes = _resolve_labels(truth, preds, probs, labels)
    pos_index = _pos_index(classes, pos_label)
    if probs is not None and probs.ndim == 1:
        if len(classes) != 2:
            raise InputError(
                f"a single probability column needs a binary task, found {len(classes)} classes"
            )
        neg = 1 - pos_index
        cols = np.empty((probs.shape[0], 2))
        cols[:, pos_index], cols[:, neg] = probs, 1.0 - probs
        probs = cols
    if probs is not None and probs.shape[1] != len(classes):
        raise InputError(
            f"probabilities of the wrong width: {probs.shape[1]} columns for "
            f"{len(classes)} classes {list(map(str, classes))}"
        )

    t = _encode(truth, classes, "label")
    p = _most_probable(probs) if preds is None else _encode(preds, classes, "prediction")
    return _compute(classes, t, p, probs, pos_index, n_bins)


def _most_probable(probs: np.ndarray) -> np.ndarray:
    """``probs.argmax(axis=1)``; for two columns one comparison (ties go to column 0, as
    argmax's), several times faster than a reduction across 2 values."""
    if probs.shape[1] == 2:
        return (probs[:, 1] > probs[:, 0]).astype(np.intp)
    return probs.argmax(axis=1)


def _label_array(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InputError(f"{what} contain NaN or inf")
        if np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
    elif arr.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and v != v) for v in arr):
            raise InputError(f"{what} contain missing values (None/NaN)")
        kinds = {type(v).__name__ for v in arr}
        arr = arr.astype(str) if kinds <= {"str"} or len(kinds) > 1 else arr
    return arr


def _align_dtype(preds: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Predictions such as 0.0/1.0 or True/False must compare equal to int labels."""
    if truth.dtype.kind in "iub" and preds.dtype.kind in "iub":
        return preds.astype(np.int64) if truth.dtype.kind != "b" else preds.astype(bool)
    if (truth.dtype.kind in "US") != (preds.dtype.kind in "US"):
        raise InputError(
            f"predictions ({preds.dtype}) and labels ({truth.dtype}) have different types; "
            "predict the same label values the targets use"
        )
    return preds


def _proba_array(values: Any, n: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"probabilities must be numeric: {exc}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise InputError(f"probabilities must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InputError(f"length mismatch: {n} labels but {arr.shape[0]} probability rows")
    if not np.isfinite(arr).all():
        raise InputError("probabilities contain NaN or inf")
    low, high = arr.min(), arr.max()
    if low < -1e-6 or high > 1 + 1e-6:
        raise InputError(
            "probabilities must lie in [0, 1]; raw logits need a sigmoid/softmax first"
        )
    return arr if low >= 0 and high <= 1 else np.clip(arr, 0.0, 1.0)  # a copy only if needed


def _resolve_labels(
    truth: np.ndarray,
    preds: np.ndarray | None,
    probs: np.ndarray | None,
    labels: Sequence[Any] | None,
) -> np.ndarray:
    if labels is not None:
        classes = np.asarray(list(labels))
        if len(classes) != len(set(classes.tolist())):
            raise InputError(f"duplicate class labels: {list(map(str, classes))}")
        return classes
    classes = _small_int_classes(truth, preds)
    if classes is None:
        seen = truth if preds is None else np.concatenate([truth, preds.astype(truth.dtype)])
        classes = np.unique(seen)
    width = probs.shape[1] if probs is not None and probs.ndim == 2 else 2
    if len(classes) < width and classes.dtype.kind in "iu" and classes.min() >= 0:
        if classes.max() < width:  # integer codes: a class the eval set lacks is still a class
            classes = np.arange(width)
    elif len(classes) < width and classes.dtype.kind == "b":
        classes = np.array([False, True])
    return classes


def _small_int_classes(truth: np.ndarray, preds: np.ndarray | None) -> np.ndarray | None:
    """``np.unique`` of labels and predictions in O(n) when both are small non-negative ints."""
    arrays = [truth] if preds is None else [truth, preds]
    if not all(a.dtype.kind in "iu" for a in arrays):
        return None
    if min(int(a.min()) for a in arrays) < 0 or max(int(a.max()) for a in arrays) > 1_000_000:
        return None
    width = max(int(a.max()) for a in arrays) + 1
    seen = np.zeros(width, dtype=bool)
    for a in arrays:
        seen |= np.bincount(a, minlength=width) > 0
    return np.flatnonzero(seen).astype(truth.dtype)


def _pos_index(classes: np.ndarray, pos_label: Any) -> int | None:
    if len(classes) != 2:
        if pos_label is not None and pos_label not in classes.tolist():
            raise InputError(f"unknown pos_label {pos_label!r}; classes are {classes.tolist()}")
        return None
    if pos_label is None:
        return 1
    matches = [
        i for i, c in enumerate(classes.tolist()) if c == pos_label or str(c) == str(pos_label)
    ]
    if not matches:
        raise InputError(f"unknown pos_label {pos_label!r}; classes are {classes.tolist()}")
    return matches[0]


def _encode(values: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    k = len(classes)
    integer = values.dtype.kind in "iu" and classes.dtype.kind in "iu"
    if integer and np.array_equal(classes, np.arange(k)):  # codes 0..k-1: already indices
        unknown = (values < 0) | (values >= k)
        if not unknown.any():
            return values.astype(np.intp, copy=False)
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    try:
        pos = np.searchsorted(sorted_classes, values)
    except TypeError:
        raise InputError(f"{what}s cannot be compared with classes {classes.tolist()}") from None
    pos = np.clip(pos, 0, len(classes) - 1)
    unknown = sorted_classes[pos] != values
    if unknown.any():
        bad = np.unique(values[unknown])[:5].tolist()
        raise InputError(f"unknown {what} {bad}; known classes are {classes.tolist()}")
    return order[pos].astype(np.intp)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def association_p_value(cm: np.ndarray) -> float:
    """Chi-square test that predictions depend on the true labels at all.

    Constant predictions carry no information, so they get p = 1.
    """
    table = cm[cm.sum(axis=1) > 0][:, cm.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


@dataclass(frozen=True)
class Calibration:
    """Top-label calibration in equal-width confidence bins: per bin, the sum over its rows
    of (confidence - correct). One pass over the rows gives the ECE, its split by direction
    and the mean confidence, so the metric and the ``uncalibrated`` check share it."""

    gap: np.ndarray
    n: int
    confidence_sum: float

    @classmethod
    def of(cls, proba: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> Calibration:
        """Exact on every row: one bincount, cheaper than any sample would be."""
        confidence = top_confidence(proba)
        correct = _most_probable(proba) == y_true
        bins = np.minimum((confidence * n_bins).astype(np.intp), n_bins - 1)
        gap = np.bincount(bins, weights=confidence - correct, minlength=n_bins)
        return cls(gap, int(confidence.shape[0]), float(confidence.sum()))

    @property
    def ece(self) -> float:
        """|confidence - accuracy| averaged over the bins, weighted by rows."""
        return float(np.abs(self.gap).sum() / self.n) if self.n else 0.0

    def split(self) -> tuple[float, float]:
        """``(over, under)``: the ECE of the over-confident bins (confidence above the hit
        rate) and of the under-confident ones; ``over + under == ece``."""
        n = max(self.n, 1)
        return float(self.gap[self.gap > 0].sum() / n), float(-self.gap[self.gap < 0].sum() / n)

    @property
    def mean_confidence(self) -> float:
        return self.confidence_sum / self.n if self.n else 0.0


def expected_calibration_error(proba: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: |confidence - accuracy| averaged over equal-width confidence bins."""
    return Calibration.of(proba, y_true, n_bins).ece


def calibration_gap(proba: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> tuple[float, float]:
    """The top-label ECE split by direction: ``(over, under)`` with ``over + under == ece``
    (``Calibration.split``; same bins as ``expected_calibration_error``)."""
    return Calibration.of(proba, y_true, n_bins).split()


def top_confidence(proba: np.ndarray) -> np.ndarray:
    """Each row's highest probability (``proba.max(axis=1)``); for two columns an
    element-wise maximum, several times faster than NumPy's reduction across 2 values."""
    if proba.ndim == 2 and proba.shape[1] == 2:
        return np.maximum(proba[:, 0], proba[:, 1])
    return proba.max(axis=1)


def _compute(
    classes: np.ndarray,
    t: np.ndarray,
    p: np.ndarray,
    probs: np.ndarray | None,
    pos_index: int | None,
    n_bins: int,
) -> Classification:
    k, n = len(classes), t.shape[0]
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    # scikit-learn's formulas, computed from the k*k confusion cells: the same numbers
    # as on the n rows, without its input validation (most of its time at this size).
    true_counts = cm.sum(axis=1)
    correct = int(np.trace(cm))
    present = true_counts > 0
    prec, rec, f1 = _prf(cm)
    support = true_counts
    present_recall = rec[present]
    majority = true_counts.max() / n

    m: dict[str, float] = {
        "n_rows": float(n),
        "n_classes": float(present.sum()),
        "accuracy": correct / n,
        "majority_baseline_accuracy": float(majority),
        "minority_class_share": float(true_counts[present].min() / n),
        "predicted_class_share_max": float(cm.sum(axis=0).max() / n),
        "min_class_recall": float(present_recall.min()),
        "gmean_recall": float(stats.gmean(present_recall)) if present_recall.all() else 0.0,
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float(np.average(f1, weights=support)),
    }
    m["accuracy_ci_low"], m["accuracy_ci_high"] = wilson_interval(correct, n)
    if present.sum() > 1:
        m["balanced_accuracy"] = float(present_recall.mean())
        m["mcc"] = matthews_corrcoef(cm)
        m["cohen_kappa"] = _finite(cohen_kappa(cm))
        if majority < 1:
            test = stats.binomtest(correct, n, p=float(majority), alternative="greater")
            m["accuracy_vs_baseline_p_value"] = float(test.pvalue)
        m["association_p_value"] = association_p_value(cm)
    calibration = None
    if probs is not None:
        m.update(probability_metrics(t, probs, present, pos_index))
        calibration = Calibration.of(probs, t, n_bins)
        m["ece"] = calibration.ece

    per_class = _per_class(classes, cm, prec, rec, f1)
    finite = {name: value for name, value in m.items() if value is not None and np.isfinite(value)}
    return Classification(
        classes, t, p, probs, pos_index, finite, per_class, cm, calibration=calibration
    )


def _per_class(
    classes: np.ndarray, cm: np.ndarray, prec: np.ndarray, rec: np.ndarray, f1: np.ndarray
) -> list[dict[str, Any]]:
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    return [
        {
            "label": c.item() if hasattr(c, "item") else c,
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(predicted[i]),
        }
        for i, c in enumerate(classes)
    ]


def _prf(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class precision, recall and F1 from the confusion matrix, as
    ``sklearn.metrics.precision_recall_fscore_support(zero_division=0)`` computes them."""
    tp = np.diag(cm).astype(np.float64)
    pred, true = cm.sum(axis=0).astype(np.float64), cm.sum(axis=1).astype(np.float64)

    def divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        zero = den == 0
        out = num / np.where(zero, 1.0, den)
        out[zero] = 0.0
        return out

    return divide(tp, pred), divide(tp, true), divide(2.0 * tp, 1.0 * true + pred)


def _seen(cm: np.ndarray) -> np.ndarray:
    """The confusion matrix of the classes that occur as label or prediction (the classes
    scikit-learn's matrix has when not given ``labels``: same sums, same rounding)."""
    seen = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return cm[np.ix_(seen, seen)]


def matthews_corrcoef(cm: np.ndarray) -> float:
    """``sklearn.metrics.matthews_corrcoef`` from the confusion matrix, same arithmetic."""
    c = _seen(cm)
    t_sum = c.sum(axis=1, dtype=np.float64)
    p_sum = c.sum(axis=0, dtype=np.float64)
    n_correct = np.trace(c, dtype=np.float64)
    n_samples = p_sum.sum()
    cov_ytyp = n_correct * n_samples - np.dot(t_sum, p_sum)
    cov_ypyp = n_samples**2 - np.dot(p_sum, p_sum)
    cov_ytyt = n_samples**2 - np.dot(t_sum, t_sum)
    both = cov_ypyp * cov_ytyt
    return 0.0 if both == 0 else float(cov_ytyp / np.sqrt(both))


def cohen_kappa(cm: np.ndarray) -> float:
    """``sklearn.metrics.cohen_kappa_score`` (unweighted) from the confusion matrix, same
    arithmetic; NaN where it is undefined."""
    c = _seen(cm).astype(np.float64)
    sum0, sum1 = c.sum(axis=0), c.sum(axis=1)
    total = sum0.sum()
    if total == 0:
        return float("nan")
    expected = np.outer(sum0, sum1) / total
    w = np.ones(c.shape)
    np.fill_diagonal(w, 0)
    denominator = np.sum(w * expected)
    if denominator == 0:
        return float("nan")
    return float(1 - np.sum(w * c) / denominator)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None

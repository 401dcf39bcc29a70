"""Multi-label evaluation: several yes/no labels per row (a ``Dense(k, sigmoid)`` head).

Keras reports ``binary_accuracy``: the share of (row, label) cells predicted right. With
rare labels that number is high for a model that predicts no label at all (six labels at
4% positives: 0.96), so the judgement rests on each label as its own binary task:
recall, precision, F1 and, with probabilities, ROC-AUC and PR-AUC per label; micro and
macro F1; subset accuracy (every label of a row right). Each label is also kept as a
binary ``Classification`` (classes 0/1) so the single-label checks keep their meaning
per label, and the (row, label) cells are pooled into one more for Keras' own number
against the baseline of predicting each label's majority value (for rare labels: no
label at all). Every figure comes from scikit-learn. Pure: no Keras, no MLflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from mlflow_sanity.core.metrics import Classification, InputError, classify


@dataclass(frozen=True)
class MultiLabel:
    """Multi-hot labels and decisions of one evaluation set, with the metrics computed once.

    ``y_true``/``y_pred`` are ``(n, k)`` 0/1 arrays, ``proba`` the ``(n, k)`` per-label
    probabilities when known (None for static decisions). ``by_label`` holds each label
    as a binary ``Classification``; ``pooled`` the (row, label) cells as one, whose
    accuracy is Keras' ``binary_accuracy``. ``per_label`` is the report's per-label table
    (and ``per_class.csv``).
    """

    labels: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    threshold: float
    by_label: tuple[Classification, ...]
    pooled: Classification
    metrics: dict[str, float] = field(default_factory=dict)
    per_label: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def k(self) -> int:
        return int(self.y_true.shape[1])

    @property
    def positives(self) -> np.ndarray:
        return self.y_true.sum(axis=0)

    @property
    def present(self) -> list[int]:
        """Labels with both values among the rows (a label nobody carries is not judged)."""
        pos = self.positives
        return [j for j in range(self.k) if 0 < pos[j] < self.n]


def evaluate_multilabel(
    y_true: Any,
    proba: Any = None,
    y_pred: Any = None,
    *,
    labels: Sequence[Any] | None = None,
    threshold: float = 0.5,
) -> MultiLabel:
    """Validate multi-hot labels and per-label probabilities (or 0/1 decisions) and compute
    every metric. A label is predicted when its probability is above ``threshold``
    (strictly: Keras' ``binary_accuracy`` rule)."""
    truth = _multi_hot(y_true, "labels (targets)")
    probs = None if proba is None else _unit_table(proba, truth.shape, "probabilities")
    if y_pred is not None:
        preds = _multi_hot(y_pred, "predictions")
    elif probs is not None:
        preds = (probs > threshold).astype(np.int64)
    else:
        raise InputError("nothing to evaluate: give predictions, probabilities or both")
    if preds.shape != truth.shape:
        raise InputError(f"shape mismatch: labels {truth.shape} but predictions {preds.shape}")
    names = (
        tuple(str(v) for v in labels)
        if labels is not None
        else tuple(map(str, range(truth.shape[1])))
    )
    if len(names) != truth.shape[1]:
        raise InputError(f"{len(names)} label names for {truth.shape[1]} label columns")
    by_label = tuple(
        classify(
            truth[:, j],
            preds[:, j],
            None if probs is None else probs[:, j],
            labels=[0, 1],
        )
        for j in range(truth.shape[1])
    )
    pooled = classify(
        truth.reshape(-1),
        preds.reshape(-1),
        None if probs is None else probs.reshape(-1),
        labels=[0, 1],
    )
    metrics = _metrics(truth, preds, by_label, pooled)
    table = _per_label(names, truth, preds, probs, by_label)
    return MultiLabel(
        names, truth, preds, probs, float(threshold), by_label, pooled, metrics, table
    )


def _multi_hot(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise InputError(f"{what} must be an (n, k) multi-hot table, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError("empty data: the evaluation set has no rows")
    if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
        raise InputError(f"{what} of a multi-label task must be 0/1 per label")
    return arr.astype(np.int64)


def _unit_table(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from None
    if arr.shape != shape:
        raise InputError(f"shape mismatch: labels {shape} but {what} {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{what} contain NaN or inf")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise InputError(f"{what} must lie in [0, 1]; raw logits need a sigmoid first")
    return np.clip(arr, 0.0, 1.0)


def _metrics(
    truth: np.ndarray,
    preds: np.ndarray,
    by_label: Sequence[Classification],
    pooled: Classification,
) -> dict[str, float]:
    """The report's metrics: the classification names read per label (macro over the
    labels that occur) or over the pooled cells (accuracy: Keras' binary accuracy)."""
    present = [j for j, c in enumerate(by_label) if len(c.present) == 2]
    p = pooled.metrics
    m: dict[str, float] = {
        "n_rows": float(truth.shape[0]),
        "n_labels": float(truth.shape[1]),
        "label_cardinality": float(truth.sum(axis=1).mean()),
        "accuracy": p["accuracy"],  # the (row, label) cells: Keras' binary_accuracy
        "accuracy_ci_low": p["accuracy_ci_low"],
        "accuracy_ci_high": p["accuracy_ci_high"],
        # the pooled cells' majority value: predicting no label at all when fewer than
        # half of the cells are positive (the baseline Keras' binary_accuracy must beat)
        "majority_baseline_accuracy": p["majority_baseline_accuracy"],
        "subset_accuracy": float(accuracy_score(truth, preds)),
        "macro_f1": float(f1_score(truth, preds, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(truth, preds, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, preds, average="weighted", zero_division=0)),
        "minority_class_share": float(truth.mean(axis=0).min()),
    }
    if present:
        recalls = [by_label[j].per_class[1]["recall"] for j in present]
        m["min_class_recall"] = float(min(recalls))
        m["balanced_accuracy"] = float(
            np.mean([by_label[j].metrics["balanced_accuracy"] for j in present])
        )
        for name in ("roc_auc", "pr_auc"):
            values = [by_label[j].metrics[name] for j in present if name in by_label[j].metrics]
            if values:
                m[name] = float(np.mean(values))  # macro over labels, as sklearn's average="macro"
    for name in ("accuracy_vs_baseline_p_value", "association_p_value", "ece", "brier_score"):
        if name in p:
            m[name] = p[name]
    return {k: v for k, v in m.items() if np.isfinite(v)}


def _per_label(
    names: Sequence[str],
    truth: np.ndarray,
    preds: np.ndarray,
    probs: np.ndarray | None,
    by_label: Sequence[Classification],
) -> list[dict[str, Any]]:
    """One row per label: the ``per_class.csv`` contract of a multi-label report."""
    prec, rec, f1, support = precision_recall_fscore_support(
        truth, preds, average=None, zero_division=0
    )
    rows = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {
            "label": name,
            "precision": float(prec[j]),
            "recall": float(rec[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
            "predicted": int(preds[:, j].sum()),
            "positive_share": float(truth[:, j].mean()),
            "roc_auc": by_label[j].metrics.get("roc_auc"),
            "pr_auc": by_label[j].metrics.get("pr_auc"),
            "best_threshold": None,
            "best_threshold_f1": None,
        }
        if probs is not None:
            row["best_threshold"], row["best_threshold_f1"] = best_f1_threshold(
                truth[:, j], probs[:, j]
            )
        rows.append(row)
    return rows


def best_f1_threshold(y: np.ndarray, score: np.ndarray) -> tuple[float | None, float | None]:
    """The probability threshold that maximises this label's F1 on these rows, and that F1
    (advice: tune it on validation data, never on the test set); None without positives."""
    y = np.asarray(y)
    if y.sum() == 0 or y.sum() == y.shape[0]:
        return None, None
    precision, recall, thresholds = precision_recall_curve(y, score)
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    best = int(np.argmax(f1))
    return round(float(thresholds[best]), 4), round(float(f1[best]), 4)

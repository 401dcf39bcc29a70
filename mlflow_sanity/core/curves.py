"""Threshold-free scores of a binary ranking (ROC-AUC, average precision) and the Brier
score: scikit-learn's numbers, value for value, from one sort shared by both curves.

Why not call scikit-learn: it sorts the scores again for each metric (a stable argsort
of floats) and validates its inputs each time, most of its time on large evaluations;
these functions are compared with it in ``tests/test_metrics.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid


def probability_metrics(
    t: np.ndarray, probs: np.ndarray, present: np.ndarray, pos_index: int | None
) -> dict[str, float]:
    """ROC-AUC, PR-AUC and the Brier score: of the positive class for a binary task, else
    one-vs-rest averaged over the classes that occur (``present``)."""
    out: dict[str, float] = {}
    k = probs.shape[1]
    if present.sum() > 1:
        if k == 2 and pos_index is not None:
            y = t == pos_index
            curve = binary_curve(y, probs[:, pos_index])
            out["roc_auc"] = roc_auc(*curve)
            out["pr_auc"] = average_precision(*curve)
            out["brier_score"] = binary_brier_score(y, probs[:, pos_index])
        else:  # one-vs-rest macro average over the classes that occur
            curves = [binary_curve(t == c, probs[:, c]) for c in np.flatnonzero(present)]
            out["roc_auc"] = float(np.mean([roc_auc(*curve) for curve in curves]))
            out["pr_auc"] = float(np.mean([average_precision(*curve) for curve in curves]))
            onehot = np.eye(k)[t]
            out["brier_score"] = float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
    return out


def binary_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positives at each distinct score threshold, highest threshold first.

    The ``fps, tps`` of scikit-learn's ``confusion_matrix_at_thresholds``, value for value,
    from one sort shared by ROC-AUC and average precision. Scores in [0, 1] (probabilities)
    are sorted as integers with the label in the lowest bit: a plain sort of 64-bit keys,
    several times faster than the stable argsort of floats scikit-learn runs per metric.
    """
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
    n = score.shape[0]
    if n and score.min() >= 0:  # non-negative floats order like their bit patterns
        keys = score.view(np.uint64)  # the copy made above: shifted and sorted in place
        keys <<= np.uint64(1)
        keys |= y.view(np.uint8)
        keys.sort()
        keys = keys[::-1]
        y_sorted = (keys & np.uint64(1)).view(np.int64)
        values = keys >> np.uint64(1)
    else:
        order = np.argsort(score, kind="stable")[::-1]
        y_sorted, values = y[order].astype(np.int64), score[order]
    distinct = np.flatnonzero(values[1:] != values[:-1])
    thresholds = np.concatenate([distinct, [n - 1]])
    tps = np.cumsum(y_sorted)[thresholds].astype(np.float64)  # exact: integer counts
    fps = 1 + thresholds.astype(np.float64) - tps
    return fps, tps


def roc_auc(fps: np.ndarray, tps: np.ndarray) -> float:
    """``sklearn.metrics.roc_auc_score`` from ``binary_curve`` (same points, same rule)."""
    if fps[-1] <= 0 or tps[-1] <= 0:
        return float("nan")  # one class only: undefined, as in scikit-learn
    if fps.shape[0] > 2:  # drop collinear points as roc_curve(drop_intermediate=True) does
        corner = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.flatnonzero(np.concatenate([[True], corner, [True]]))
        fps, tps = fps[keep], tps[keep]
    fpr = np.concatenate([[0.0], fps]) / fps[-1]
    tpr = np.concatenate([[0.0], tps]) / tps[-1]
    return float(trapezoid(tpr, fpr))


def average_precision(fps: np.ndarray, tps: np.ndarray) -> float:
    """``sklearn.metrics.average_precision_score`` from ``binary_curve``."""
    if tps[-1] <= 0:
        return 0.0  # no positives: recall undefined, scikit-learn's curve gives 0
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    precision = np.concatenate([precision[::-1], [1.0]])
    recall = np.concatenate([recall[::-1], [0.0]])
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def binary_brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """``sklearn.metrics.brier_score_loss`` of a binary task, same arithmetic."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    squared = ((1.0 - y) - (1.0 - p)) ** 2 + (y - p) ** 2
    return float(np.mean(squared) * 0.5)

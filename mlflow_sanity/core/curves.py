"""Threshold-free scores of a binary ranking (ROC-AUC, average precision) and the Brier
score: scikit-learn's numbers, value for value, from one sort shared by both curves.

Why not call scikit-learn: it sorts the scores again for each metric (a stable argsort
of floats) and validates its inputs each time, most of its time on large evaluations;
these functions are compared with it in ``tests/test_metrics.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid


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

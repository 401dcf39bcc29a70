"""Measuring feature → target scores: how well does each column alone predict the label?

Built for the evaluator's budget: numeric columns are read once into one
column-contiguous block (one feature per row), ranked with one ``argsort`` per column and
scored from the sorted labels, so 50,000 rows x 20 features take a few tens of ms. The
scores are exactly the Mann-Whitney ROC-AUC with average ranks for ties (what
``scipy.stats.rankdata`` + the rank-sum formula and ``sklearn.metrics.roc_auc_score`` give).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

_PLAIN_NUMBERS = "biuf"  # numpy dtype kinds read directly as float64


@dataclass
class _Columns:
    """The frame's columns sorted by how they are scored.

    ``numeric`` names the rows of ``x``: the numeric columns as one C-contiguous float64
    block, one feature per row, missing values ranked lowest (-inf). ``constant`` and
    ``other`` keep frame order.
    """

    numeric: list[str]
    x: np.ndarray
    other: list[tuple[str, pd.Series]]
    constant: list[str]


def univariate_scores(
    frame: pd.DataFrame, y: np.ndarray, max_id_share: float = 0.5
) -> tuple[dict[str, float], dict[str, str], dict[str, list[str]]]:
    """How well each column alone predicts class codes ``y``.

    Numeric columns: ROC-AUC (binary, max(auc, 1 - auc), see ``roc_auc_columns``) or, for
    several classes, the accuracy of predicting a row's class from its neighbour in
    feature order, rescaled so that chance is 0 and perfect is 1. Other columns: the
    accuracy of the majority class per value, rescaled the same way; columns whose values
    are mostly unique are identifiers and skipped, as are constants.
    """
    n = frame.shape[0]
    k = int(y.max()) + 1
    prior = np.bincount(y, minlength=k) / n
    cols = _split_columns(frame)
    scores: dict[str, float] = {}
    method: dict[str, str] = {}
    skipped: dict[str, list[str]] = {"constant": cols.constant, "identifier": []}
    if cols.numeric:
        x = cols.x
        if k == 2:
            auc = roc_auc_columns(x, y == 1)
            numeric, how = np.maximum(auc, 1 - auc), "roc_auc"
        else:
            numeric, how = neighbour_accuracy(x, y, prior), "neighbour_accuracy"
        for name, score in zip(cols.numeric, numeric, strict=True):
            scores[name], method[name] = float(score), how
    base_acc = float(prior.max())
    for name, col in cols.other:
        acc = value_majority_accuracy(col, y, k, max_id_share)
        if acc is None:
            skipped["identifier"].append(name)
            continue
        scores[name] = float((acc - base_acc) / (1 - base_acc))
        method[name] = "value_majority_accuracy"
    return scores, method, skipped


def _split_columns(frame: pd.DataFrame) -> _Columns:
    """Constant, numeric (read once into one float64 block) and other columns."""
    numeric: list[tuple[int, str]] = []
    values: list[np.ndarray] = []
    known: list[bool | None] = []  # constant? None: decided on the block
    constant: list[tuple[int, str]] = []
    other: list[tuple[str, pd.Series]] = []
    for j, (label, col) in enumerate(frame.items()):
        name = str(label)
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in _PLAIN_NUMBERS:
            v = col.to_numpy()
            numeric.append((j, name))
            values.append(v)
            # integers are compared before the float64 cast, which could merge large ones
            known.append(bool(v.size == 0 or v.min() == v.max()) if v.dtype.kind in "iu" else None)
        elif col.nunique(dropna=False) <= 1:
            constant.append((j, name))
        elif _is_numeric(col):
            numeric.append((j, name))
            values.append(_floats(col))
            known.append(False)
        else:
            other.append((name, col))
    x = np.empty((len(values), frame.shape[0]))
    for i, v in enumerate(values):
        x[i] = v
    same = _constant_rows(x)  # also ranks missing values lowest
    is_constant = np.array([same[i] if k is None else k for i, k in enumerate(known)], bool)
    constant += [c for c, dead in zip(numeric, is_constant, strict=True) if dead]
    if is_constant.any():
        x = x[~is_constant]
    return _Columns(
        [name for (_, name), dead in zip(numeric, is_constant, strict=True) if not dead],
        x,
        other,
        [name for _, name in sorted(constant)],
    )


def _constant_rows(x: np.ndarray) -> np.ndarray:
    """Per row: ``nunique(dropna=False) <= 1`` (NaN a value of its own); NaN -> -inf."""
    missing = np.isnan(x)
    some, every = missing.any(axis=1), missing.all(axis=1)
    x[missing] = -np.inf  # missingness may itself leak: rank it lowest
    if not x.shape[1]:
        return np.ones(x.shape[0], dtype=bool)
    return np.where(some, every, x.min(axis=1) == x.max(axis=1))


def _floats(col: pd.Series) -> np.ndarray:
    return pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _is_numeric(col: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(col.dtype, pd.CategoricalDtype)
    ) or pd.api.types.is_bool_dtype(col.dtype)


def roc_auc_columns(x: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of ``x`` (one feature per row) for the boolean labels ``positive``.

    The Mann-Whitney U statistic over ``n1 * n0`` (positive, negative) pairs, ties counting
    half, from one argsort per feature: without ties the positive at sorted position ``i``
    is above ``i - (positives before it)`` negatives, so U is the sum of the positives'
    positions minus ``n1 (n1 - 1) / 2``; features with ties are counted per group of equal
    values. U is a sum of integers and halves, so it is exact, and the scores are identical
    to the rank-sum formula on ``scipy.stats.rankdata`` average ranks. NaN must already be
    replaced (``-inf`` ranks missing values lowest).
    """
    n = positive.size
    n1 = int(positive.sum())
    labels = positive[np.argsort(x, axis=1)]  # the labels in feature order
    ordered = np.sort(x, axis=1)
    ties = ordered[:, 1:] == ordered[:, :-1]
    at = np.array([np.flatnonzero(lab).sum() for lab in labels], dtype=np.float64)
    u = at - n1 * (n1 - 1) / 2  # positions summed exactly, in int64
    for j in np.flatnonzero(ties.any(axis=1)):
        u[j] = _u_with_ties(labels[j], ties[j])
    return u / (n1 * (n - n1))


def _u_with_ties(labels: np.ndarray, ties: np.ndarray) -> float:
    """U from the labels in feature order and which neighbours are equal: per group of
    equal values, its positives are above the negatives of earlier groups and tie (half)
    with the group's own negatives."""
    starts = np.flatnonzero(np.concatenate(([True], ~ties)))
    pos = np.add.reduceat(labels, starts, dtype=np.int64)
    neg = np.diff(np.append(starts, labels.size)) - pos
    below = np.cumsum(neg) - neg
    return float((pos * below).sum() + 0.5 * (pos * neg).sum())


def neighbour_accuracy(x: np.ndarray, y: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per row of ``x``: how often a row's class equals its neighbour's in feature order,
    rescaled so that chance (``sum(prior**2)``) is 0 and perfect is 1."""
    base = float((prior**2).sum())
    shuffle = np.random.default_rng(0).permutation(y.shape[0])
    # ties in a feature must not look ordered by label: shuffle, then sort stably
    order = np.argsort(x[:, shuffle], axis=1, kind="stable")
    ys = y[shuffle][order]
    agree = (ys[:, 1:] == ys[:, :-1]).mean(axis=1)
    return (agree - base) / (1 - base)


def value_majority_accuracy(
    col: pd.Series, y: np.ndarray, k: int, max_id_share: float
) -> float | None:
    """Accuracy of predicting the majority class of each value; None for identifiers."""
    n = col.shape[0]
    values = col.astype(object).where(col.notna(), "<missing>")
    codes, uniq = pd.factorize(values.astype(str))
    if len(uniq) > max_id_share * n:
        return None
    table = np.zeros((len(uniq), k))
    np.add.at(table, (codes, y), 1)
    return float(table.max(axis=1).sum() / n)


def labels_1d(labels: Any) -> np.ndarray:
    """Class labels as one value per row (one-hot and (n, 1) arrays flattened)."""
    y = np.asarray(labels)
    if y.ndim == 2:
        y = y[:, 0] if y.shape[1] == 1 else y.argmax(axis=1)
    if y.dtype.kind == "O":
        y = y.astype(str)
    return y

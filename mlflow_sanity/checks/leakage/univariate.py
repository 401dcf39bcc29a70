"""Measuring feature → target scores: how well does each column alone predict the label?

Built for the budget of a checked ``model.evaluate``: numeric columns are read once into
one column-contiguous block (one feature per row), ranked with one ``argsort`` per column
and scored from the sorted labels. The scores are exactly the Mann-Whitney ROC-AUC with
average ranks for ties (what ``scipy.stats.rankdata`` + the rank-sum formula and
``sklearn.metrics.roc_auc_score`` give).

Above ``screen_rows`` rows the numeric columns are first screened on a class-balanced
sample of that many rows (sorting is the cost: 20 columns x 50,000 rows take ~0.1 s, on
5,000 rows a few ms), and every column whose screening score comes within
``screen_margin`` of the warning level is scored again on all rows: a flagged feature is
always graded on all rows. The margin is wide against the sampling error of the screen
(the ROC-AUC of a 0.99 feature on 5,000 balanced rows varies by about 0.0015; with a
class of only 50 rows by about 0.01).
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


@dataclass(frozen=True)
class Screening:
    """How the numeric columns were scored: on all rows, or screened on a sample first."""

    rows: int | None = None  # rows of the screening sample; None: every column on all rows
    rescored: tuple[str, ...] = ()  # columns scored again on all rows after the screen

    def evidence(self) -> dict[str, Any]:
        if self.rows is None:
            return {}
        return {"screened_on_rows": self.rows, "rescored_on_all_rows": list(self.rescored)}


def univariate_scores(
    frame: pd.DataFrame,
    y: np.ndarray,
    max_id_share: float = 0.5,
    *,
    screen_rows: int | None = None,
    rescore_at: float = 0.0,
) -> tuple[dict[str, float], dict[str, str], dict[str, list[str]]]:
    """How well each column alone predicts class codes ``y``.

    Numeric columns: ROC-AUC (binary, max(auc, 1 - auc), see ``roc_auc_columns``) or, for
    several classes, the accuracy of predicting a row's class from its neighbour in
    feature order, rescaled so that chance is 0 and perfect is 1. Other columns: the
    accuracy of the majority class per value, rescaled the same way; columns whose values
    are mostly unique are identifiers and skipped, as are constants.

    With more than ``screen_rows`` rows, numeric columns are scored on a class-balanced
    sample of ``screen_rows`` rows, and those reaching ``rescore_at`` again on all rows
    (see the module docstring; ``screened_scores`` tells what was done).
    """
    scores, method, skipped, _ = screened_scores(
        frame, y, max_id_share, screen_rows=screen_rows, rescore_at=rescore_at
    )
    return scores, method, skipped


def screened_scores(
    frame: pd.DataFrame,
    y: np.ndarray,
    max_id_share: float = 0.5,
    *,
    screen_rows: int | None = None,
    rescore_at: float = 0.0,
) -> tuple[dict[str, float], dict[str, str], dict[str, list[str]], Screening]:
    """``univariate_scores`` plus the ``Screening`` that says how they were computed."""
    n = frame.shape[0]
    k = int(y.max()) + 1
    prior = np.bincount(y, minlength=k) / n
    cols = _split_columns(frame)  # constants are decided on all rows
    scores: dict[str, float] = {}
    method: dict[str, str] = {}
    skipped: dict[str, list[str]] = {"constant": cols.constant, "identifier": []}
    screening = Screening()
    if cols.numeric:
        how = "roc_auc" if k == 2 else "neighbour_accuracy"
        sample = balanced_sample(y, screen_rows) if screen_rows else None
        if sample is None:
            numeric = _numeric_scores(cols.x, y, k)
        else:
            numeric = _numeric_scores(cols.x[:, sample], y[sample], k)
            again = np.flatnonzero(reaches_score(numeric, rescore_at))
            if again.size:
                numeric[again] = _numeric_scores(cols.x[again], y, k)
            screening = Screening(int(sample.size), tuple(cols.numeric[j] for j in again))
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
    return scores, method, skipped, screening


def reaches_score(scores: np.ndarray, limit: float) -> np.ndarray:
    """Scores at or above ``limit`` (NaN never)."""
    with np.errstate(invalid="ignore"):
        return scores >= limit


def _numeric_scores(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``x``: max(ROC-AUC, 1 - ROC-AUC) for two classes, else neighbour accuracy."""
    if k == 2:
        auc = roc_auc_columns(x, y == 1)
        return np.maximum(auc, 1 - auc)
    return neighbour_accuracy(x, y, np.bincount(y, minlength=k) / y.shape[0])


def balanced_sample(y: np.ndarray, size: int) -> np.ndarray | None:
    """Sorted row positions of a fixed (seeded) sample of ``size`` rows that is as balanced
    between the classes of ``y`` as they allow: a rare class is kept whole, so a feature
    that gives it away is screened on all of its rows. None when there are no more rows."""
    n = y.shape[0]
    if n <= size:
        return None
    counts = np.bincount(y)
    # water-filling: the largest per-class quota ``q`` with sum(min(count, q)) <= size
    ordered = np.sort(counts)
    taken = np.concatenate(([0], np.cumsum(ordered)[:-1]))  # rows of smaller classes
    left = np.arange(ordered.size, 0, -1)  # classes at or above this one
    quota = ordered[np.flatnonzero(taken + ordered * left <= size)]
    below = int(quota[-1]) if quota.size else 0
    fill = (size - int(np.minimum(counts, below).sum())) // max(1, int((counts > below).sum()))
    per_class = np.minimum(counts, below + fill)
    rng = np.random.default_rng(0)  # our own generator: the user's random state is untouched
    order = np.argsort(y, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    picks = [
        order[start + rng.choice(count, take, replace=False)]
        for start, count, take in zip(starts, counts, per_class, strict=True)
        if take
    ]
    return np.sort(np.concatenate(picks))


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
    order = np.argsort(x, axis=1)
    labels = positive[order]  # the labels in feature order
    ordered = np.take_along_axis(x, order, axis=1)
    ties = ordered[:, 1:] == ordered[:, :-1]
    at = (labels @ np.arange(n, dtype=np.int64)).astype(np.float64)
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


def correlation_scores(frame: pd.DataFrame, y: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """How well each numeric column alone predicts continuous targets ``y``: the absolute
    Spearman rank correlation (1 for any monotone function of the target, such as the
    target in other units or a log of it). Also the constant columns, which are skipped;
    non-numeric columns are not scored here."""
    from scipy.stats import rankdata

    cols = _split_columns(frame)
    if not cols.numeric or y.shape[0] < 3:
        return {}, cols.constant
    ranks = rankdata(cols.x, axis=1)  # missing values were ranked lowest (-inf)
    ranks -= ranks.mean(axis=1, keepdims=True)
    ry = rankdata(y)
    ry -= ry.mean()
    denom = np.sqrt((ranks**2).sum(axis=1) * (ry**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.abs(ranks @ ry) / denom
    return {n: float(r) for n, r in zip(cols.numeric, rho, strict=True) if np.isfinite(r)}, (
        cols.constant
    )

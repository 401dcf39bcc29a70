"""Measuring overlap against chance: which evaluation rows occur in a fingerprint?

Data whose columns take few distinct values repeats rows in any honest split, so each
overlap carries a chance baseline (``chance_share``) and the binomial p-value of seeing
that many repeats by chance; the checks judge that p-value against their ``chance_alpha``.

The context measurements (the training fingerprint, the train/test overlap) are shared
between checks through ``Context.measure``, so each is computed once per report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from mlflow_sanity.checks.registry import Context, reaches
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.splits import Split, as_split

N_EXAMPLES = 5  # example row pairs kept in the evidence
_HASH_COLLISION = 2.0**-56  # two different rows share a 56-bit feature hash

T = TypeVar("T")


@dataclass(frozen=True)
class Overlap:
    """Evaluation rows found in a fingerprint, with a chance baseline."""

    match: fpm.Match
    fingerprint: fpm.Fingerprint
    exact: np.ndarray | None  # per eval row: an exact copy of a training row (raw data only)
    exact_index: np.ndarray | None  # the copied training row (position) or -1
    index: np.ndarray  # eval row labels (DataFrame index or positions)
    train_labels: np.ndarray  # training row labels for ``match.train_index``
    chance_share: float
    p_value: float
    exact_chance_share: float | None = None
    exact_p_value: float | None = None
    # Only a sample of the evaluation rows was looked up (``match`` covers the sample):
    # the number of rows it was drawn from; None when every row was looked up.
    sampled_from: int | None = None

    @property
    def count(self) -> int:
        return int(self.match.in_train.sum())

    @property
    def share(self) -> float:
        return self.match.share

    @property
    def exact_count(self) -> int:
        return int(self.exact.sum()) if self.exact is not None else 0

    @property
    def same_digest(self) -> bool:
        """The evaluation rows are the fingerprinted rows (same multiset of rows)."""
        return bool(self.match.n_rows and self.match.digest == self.fingerprint.digest)

    def beyond_chance(self, chance_alpha: float) -> bool:
        """Repeats that chance alone explains with probability below ``chance_alpha``."""
        return self.count > 0 and reaches(self.p_value, chance_alpha, below=True)

    def exact_beyond_chance(self, chance_alpha: float) -> bool:
        """The same for exact copies (known only when raw training data was given)."""
        return (
            self.exact_count > 0
            and self.exact_p_value is not None
            and reaches(self.exact_p_value, chance_alpha, below=True)
        )

    def evidence(self, prefix: str = "", *, exact_examples: bool = False) -> dict[str, Any]:
        n = self.match.n_rows
        ev: dict[str, Any] = {
            "eval_rows": n if self.sampled_from is None else self.sampled_from,
            f"{prefix}rows": self.fingerprint.n_rows,
            "overlapping_rows": self.count,
            "overlap_share": round(self.share, 6),
            "expected_by_chance_share": float(f"{self.chance_share:.3g}"),
            "p_value_vs_chance": float(f"{self.p_value:.3g}"),
            "tolerance": self.fingerprint.tolerance,
        }
        if self.exact is not None:
            exact = self.exact_count
            ev["exact_rows"] = exact
            ev["exact_share"] = round(exact / n, 6) if n else 0.0
            ev["near_only_rows"] = self.count - exact
            ev["exact_expected_by_chance_share"] = float(f"{self.exact_chance_share:.3g}")
        if self.match.in_train_with_label is not None:
            same = int(self.match.in_train_with_label.sum())
            ev["overlap_with_label_share"] = round(same / n, 6) if n else 0.0
            ev["conflicting_label_rows"] = self.count - same
        ev["examples"] = self.examples(prefix, exact_only=exact_examples)
        if self.sampled_from is not None:
            ev["rows_looked_up"] = n
            ev["looked_up"] = f"a fixed random sample of {n} of the {self.sampled_from} rows"
        return ev

    def examples(self, prefix: str = "", *, exact_only: bool = False) -> list[dict[str, Any]]:
        """The first overlapping rows as ``{"eval_row": .., "<prefix>row": ..}`` pairs."""
        found, where = self.match.in_train, self.match.train_index
        if exact_only and self.exact is not None:
            found, where = self.exact, self.exact_index
        hits = np.flatnonzero(found)[:N_EXAMPLES]
        return [
            {"eval_row": _plain(self.index[i]), f"{prefix}row": _plain(self.train_labels[k])}
            for i, k in zip(hits, where[hits], strict=True)
        ]


def overlap(
    fp: fpm.Fingerprint,
    test: Split,
    train: Split | None = None,
    *,
    chance_alpha: float,
    train_index: Any = None,
    found: fpm.Match | None = None,
    rows: np.ndarray | None = None,
) -> Overlap:
    """Look the evaluation rows up in ``fp``; with raw ``train`` also tell exact copies.

    ``chance_alpha`` decides whether the grid matches are crowded (repeats explained by
    chance): then exact copies are looked up on their own instead of among the grid
    candidates. ``found``: the lookup, when already done (``train_match``). ``rows``:
    look up only these evaluation rows (positions; a sample, without raw ``train``).
    """
    if rows is not None and (train is not None or found is not None):
        raise ValueError("a sampled overlap is looked up here, against a fingerprint only")
    m = found if found is not None else fpm.match(fp, test.features, test.labels, rows=rows)
    chance = chance_share(fp)
    p = chance_p_value(int(m.in_train.sum()), m.n_rows, chance)
    exact = exact_index = exact_chance = exact_p = None
    if train is not None:
        crowded = not reaches(p, chance_alpha, below=True) and "continuous" in fp.kinds
        exact, exact_index = _exact_copies(fp, m, test, train, crowded=crowded)
        exact_chance = chance_share(fp, exact=True)
        exact_p = chance_p_value(int(exact.sum()), m.n_rows, exact_chance)
    if train_index is None:
        train_index = np.arange(fp.n_rows)
    labels = row_labels(test.features)
    sampled_from = None
    if rows is not None:
        labels, sampled_from = labels[rows], int(labels.shape[0])
    return Overlap(
        m,
        fp,
        exact,
        exact_index,
        labels,
        np.asarray(train_index),
        chance,
        p,
        exact_chance,
        exact_p,
        sampled_from,
    )


def _exact_copies(
    fp: fpm.Fingerprint, m: fpm.Match, test: Split, train: Split, *, crowded: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per eval row: is it an exact copy of a training row, and of which (else -1)?"""
    hits = np.flatnonzero(m.in_train)
    if crowded and hits.size:
        # grid cells are crowded in this data: look for exact copies on their own
        em = fpm.match(fpm.compute(train.features, exact=True), test.features, near=False)
        exact, exact_index = em.in_train, em.train_index
    else:  # the candidate found on the grid is the copy, if there is one
        exact, exact_index = np.zeros(m.n_rows, dtype=bool), m.train_index.copy()
        if hits.size:
            exact[hits] = fpm.same_rows(
                fp, test.features, hits, train.features, m.train_index[hits]
            )
    exact_index[~exact] = -1
    return exact, exact_index


def chance_p_value(count: int, n: int, chance: float) -> float:
    """Probability of at least ``count`` repeats among ``n`` rows by chance alone."""
    return float(stats.binom.sf(count - 1, n, chance)) if n and count else 1.0


def chance_share(fp: fpm.Fingerprint, *, exact: bool = False) -> float:
    """Share of rows of an honest split expected to repeat a fingerprinted row by chance.

    Assumes independent columns: a new row equals a given training row with probability
    ``prod_j c_j``, where ``c_j`` is how often two rows share column ``j``'s (grid) value.
    ``c_j`` is smoothed upwards by one pair so that a small sample never claims "never".
    """
    return repeat_chance(fp.exact_collision if exact else fp.collision, fp.n_rows)


def repeat_chance(collision: np.ndarray, n_rows: int) -> float:
    """``chance_share`` from per-column collision rates estimated on (a sample of at most
    ``fingerprint.COLLISION_SAMPLE`` of) ``n_rows`` rows."""
    rates = np.asarray(collision, dtype=np.float64)
    if np.isnan(rates).any():
        raise ValueError("collision rates were not estimated for these rows")
    s = min(n_rows, fpm.COLLISION_SAMPLE)
    pairs = s * (s - 1) / 2.0
    c = np.clip(rates, 0.0, 1.0)
    c = (c * pairs + 1.0) / (pairs + 1.0)
    per_pair = float(np.exp(np.log(c).sum())) + _HASH_COLLISION
    return float(-np.expm1(-n_rows * per_pair))


def row_labels(features: Any) -> np.ndarray:
    """How to name rows in evidence: the DataFrame index, else positions."""
    if isinstance(features, (pd.DataFrame, pd.Series)):
        return np.asarray(features.index)
    if isinstance(features, Mapping):  # a dict of columns: its first column's length
        first = next(iter(features.values()), None)
        return np.arange(np.asarray(first).shape[0] if first is not None else 0)
    arr = np.asarray(features)
    return np.arange(arr.shape[0] if arr.ndim else 0)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def guarded(fn: Callable[[], T]) -> T:
    """``fn()``, with a column mismatch and the like said in plain words."""
    try:
        return fn()
    except ValueError as exc:
        raise InputError(f"cannot compare evaluation and training data: {exc}") from None


# --------------------------------------------------------------------------- shared measurements


def eval_split(ctx: Context) -> Split:
    """The evaluation data; its labels from ``ctx.eval`` when the split has none."""

    def compute() -> Split:
        test = as_split(ctx.test)
        if test.labels is None and ctx.eval is not None:
            c = ctx.eval
            test = Split(test.features, np.asarray(c.labels)[c.y_true], test.name)
        return test

    return ctx.measure("eval_split", compute)


def training_fingerprint(ctx: Context) -> tuple[fpm.Fingerprint, Split | None] | None:
    """The training fingerprint (computed from raw ``ctx.train`` when given), once per ctx."""

    def compute() -> tuple[fpm.Fingerprint, Split | None] | None:
        train = as_split(ctx.train)
        if train is not None:
            return fpm.compute(train.features, train.labels), train
        if isinstance(ctx.fingerprint, fpm.Fingerprint):
            return ctx.fingerprint, None
        return None

    return ctx.measure("train_fp", compute)


def train_overlap(ctx: Context, chance_alpha: float) -> Overlap | None:
    """The evaluation rows looked up in the training data (None without training data).

    ``chance_alpha`` only matters with raw training data (where to look for exact
    copies), so the measurement is shared by every check when there is none, and by the
    checks that use the same ``chance_alpha`` (the defaults agree) when there is.
    """
    got = training_fingerprint(ctx)
    if got is None:
        return None
    fp, train = got
    idx = None if train is None else row_labels(train.features)

    def compute() -> Overlap:
        test, found = eval_split(ctx), train_match(ctx)
        return guarded(
            lambda: overlap(
                fp, test, train, chance_alpha=chance_alpha, train_index=idx, found=found
            )
        )

    key = "train_overlap" if train is None else f"train_overlap(chance_alpha={chance_alpha!r})"
    return ctx.measure(key, compute)


@dataclass(frozen=True)
class Lookup:
    """``test``'s rows looked up in ``fingerprint`` on another thread, begun before the
    context that will read them exists (``begin_lookup``)."""

    fingerprint: fpm.Fingerprint
    test: Split
    result: Future

    def serves(self, ctx: Context) -> bool:
        """Whether it is the lookup ``train_match`` would make for ``ctx``: the same
        fingerprint, features and labels (the same objects, so the same hashes)."""
        test = ctx.test
        return (
            ctx.fingerprint is self.fingerprint
            and isinstance(test, Split)
            and test.features is self.test.features
            and test.labels is self.test.labels
        )


def begin_lookup(fp: fpm.Fingerprint, test: Split, pool: Executor) -> Lookup:
    """Start ``train_match``'s lookup of ``test`` in ``fp`` on ``pool`` now (an adapter
    begins it before the model's own pass over the same rows)."""
    return Lookup(fp, test, pool.submit(_look_up, fp, test))


def start_train_match(ctx: Context, pool: Executor, begun: Lookup | None = None) -> None:
    """Start ``train_match`` on ``pool`` for a context whose evaluation split and
    training fingerprint are given as they are (labelled rows, a logged fingerprint): the
    same lookup, begun while the adapter computes the metrics, or ``begun`` earlier when
    it ``serves`` this context. Nothing for other contexts, whose checks look up the rows
    when they need them."""
    test = ctx.test
    if not isinstance(ctx.fingerprint, fpm.Fingerprint) or ctx.train is not None:
        return
    if not isinstance(test, Split) or test.labels is None:
        return
    if begun is not None and begun.serves(ctx):
        ctx.started("train_match", begun.result)
        return
    ctx.started("train_match", pool.submit(_look_up, ctx.fingerprint, test))


def train_match(ctx: Context) -> fpm.Match | None:
    """The evaluation rows looked up in the training fingerprint, once per context: the
    overlap checks, the duplicate count and the scaling comparison (the rows' statistics
    and digest, ``fingerprint.rows_fingerprint``) all read this one pass over the rows."""
    got = training_fingerprint(ctx)
    if got is None:
        return None
    fp = got[0]
    return ctx.measure("train_match", lambda: _look_up(fp, eval_split(ctx)))


def _look_up(fp: fpm.Fingerprint, test: Split) -> fpm.Match:
    """``test``'s rows (and labels) in ``fp``: the one lookup ``train_match`` measures,
    on this thread or begun on another (``start_train_match``)."""
    return guarded(lambda: fpm.match(fp, test.features, test.labels))

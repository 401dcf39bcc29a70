"""Measuring preprocessing statistics: was a scaler fitted on train and evaluation rows?

Two sources of evidence, each read into a ``Scaling`` (did it leak, what to say, what
was measured):

- the data: training and evaluation rows together exactly standardised, or exactly
  spanning [0, 1] / [-1, 1], while the training rows alone are not;
- the model: a Keras ``Normalization`` layer whose mean/variance match train + eval
  rather than train.

"Together" means every split the model saw, not only pairs: a scaler fitted on all rows
before a train / validation / test split shows only in the union of the three. The
statistics of the other splits (``Context.seen_splits``: the fit's validation rows, earlier
``model.evaluate`` calls) are tried with the training and evaluation rows, each subset
once (``splits_to_try``), the pair first.

Tolerances come from the check's thresholds (``exact_tol``, ``model_match_tol``,
``max_collision``) and are compared through ``reaches``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlflow_sanity.checks.leakage.overlap import (
    eval_split,
    guarded,
    train_match,
    training_fingerprint,
)
from mlflow_sanity.checks.registry import Context, reaches
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.regression import Regression
from mlflow_sanity.core.splits import NormalizationStats

MAX_NAMED = 10  # column names kept in the evidence
MAX_OTHER_SPLITS = 4  # other splits combined (2**4 unions at most): the latest ones
_MINMAX_RANGES = ((0.0, 1.0), (-1.0, 1.0))


@dataclass(frozen=True)
class Scaling:
    """What one source says about the scaling: leaked or not, a sentence, evidence."""

    leak: bool = False
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def eval_fingerprint(ctx: Context, fp: fpm.Fingerprint) -> fpm.Fingerprint:
    """The evaluation data fingerprinted in ``fp``'s columns, computed once per context.
    Read for its statistics and digest only (here and as a split a later evaluate
    compares with), so its collision rates are not estimated, and its row hashes are the
    ones the lookup in ``fp`` computed (``train_match``): on the training grid, one pass
    over the rows for both."""

    def compute() -> fpm.Fingerprint:
        features = eval_split(ctx).features
        got, found = training_fingerprint(ctx), train_match(ctx)
        if found is None or got is None or got[0] is not fp:  # not the shared lookup
            found = guarded(lambda: fpm.match(fp, features))
        return guarded(lambda: fpm.rows_fingerprint(fp, features, found))

    return ctx.measure("eval_fp", compute)


def evaluated_split(ctx: Context) -> fpm.Fingerprint | None:
    """The evaluated rows in the columns of the training fingerprint an earlier run logged
    (``ctx.fingerprint``): the split a later ``model.evaluate`` of the same model compares
    with. Shared with ``preprocessing_leakage`` (computed once); None without both."""
    if ctx.test is None or ctx.fingerprint is None:
        return None
    got = training_fingerprint(ctx)
    return eval_fingerprint(ctx, got[0]) if got is not None else None


def _within(x: np.ndarray, tol: float) -> np.ndarray:
    """``|x| <= tol`` elementwise: equal up to the tolerance."""
    return reaches(np.abs(x), tol, below=True, inclusive=True)


@dataclass(frozen=True)
class Splits:
    """The training rows, the evaluation rows, and the other splits in the union."""

    train: fpm.Fingerprint
    eval: fpm.Fingerprint
    others: tuple[tuple[str, fpm.Fingerprint], ...] = ()
    eval_name: str = "evaluation"  # "validation" at a fit: the rows validation_split took

    @property
    def parts(self) -> list[fpm.Fingerprint]:
        return [self.train, self.eval, *(fp for _, fp in self.others)]

    @property
    def names(self) -> list[str]:
        return ["training", self.eval_name, *(name for name, _ in self.others)]

    def said(self) -> str:
        """``the training and evaluation rows`` / ``the training, validation and ... rows``."""
        names = self.names
        if len(names) == 2:
            return f"the training and {self.eval_name} rows"
        return f"the {', '.join(names[:-1])} and {names[-1]} rows"

    def saw(self) -> str:
        """What a scaler fitted on the union saw, in the words of the user's split: at a fit
        it saw the validation rows (split off after scaling, e.g. by ``validation_split``)."""
        if self.eval_name == "validation" and not self.others:
            return (
                "the scaler saw the validation rows (it was fitted on all the rows given to "
                "fit, before the validation rows were split off from them)"
            )
        rest = self.names[1:]
        rows = rest[0] if len(rest) == 1 else f"{', '.join(rest[:-1])} and {rest[-1]}"
        return f"the scaler was fitted before the split (it saw the {rows} rows)"


def splits_to_try(
    fp: fpm.Fingerprint,
    te: fpm.Fingerprint,
    seen: Sequence[tuple[str, fpm.Fingerprint]],
    eval_name: str = "evaluation",
) -> list[Splits]:
    """Training + evaluation rows, then with each subset of the other splits the model saw
    (fewest first). A split whose rows are the training or evaluation rows, or another
    split's, counts once; one with other columns is left out."""
    if not seen:  # a fit, or a model seen only on these two splits: the pair
        return [Splits(fp, te, eval_name=eval_name)]
    have = [fp, te]
    others: list[tuple[str, fpm.Fingerprint]] = []
    for name, other in seen:
        if list(other.columns) != list(fp.columns) or any(same_rows(other, h) for h in have):
            continue
        have.append(other)
        others.append((name, other))
    others = others[-MAX_OTHER_SPLITS:]
    return [
        Splits(fp, te, tuple(subset), eval_name)
        for k in range(len(others) + 1)
        for subset in itertools.combinations(others, k)
    ]


def same_rows(a: fpm.Fingerprint, b: fpm.Fingerprint) -> bool:
    """Do two fingerprints hold the same rows (as a multiset, labels aside)?

    On one grid (the training fingerprint and the evaluated rows, which are hashed on
    it) their digests tell. Fingerprints on different grids (the fit's validation rows
    on their own) cannot be compared by hash: there the same row count and the same
    statistics, to the bit, in every column tell (the same rows in the same order give
    identical statistics; different rows of continuous data never do)."""
    if a.n_rows != b.n_rows:
        return False
    if list(a.kinds) == list(b.kinds) and np.array_equal(a.steps, b.steps):
        return a.digest == b.digest
    return all(
        np.array_equal(x, y, equal_nan=True)
        for x, y in ((a.mean, b.mean), (a.std, b.std), (a.min, b.min), (a.max, b.max))
    )


def seen_splits(ctx: Context) -> list[tuple[str, fpm.Fingerprint]]:
    """The other splits the model saw: ``ctx.seen_splits``, and the validation fingerprint
    of the training run when it is not among them."""
    seen = list((ctx.seen_splits or {}).items())
    vfp = ctx.validation_fingerprint
    if vfp is not None and all(other is not vfp for _, other in seen):
        seen.insert(0, ("validation", vfp))
    return seen


def _union(*fps: fpm.Fingerprint) -> tuple[np.ndarray, ...]:
    """Mean, std, min, max and row count of the rows of every fingerprint together."""
    counts = [np.full(len(f.columns), float(f.n_rows)) - f.n_missing for f in fps]
    total = np.sum(counts, axis=0)
    mean = sum(n * f.mean for n, f in zip(counts, fps, strict=True)) / total
    second = sum(n * (f.std**2 + f.mean**2) for n, f in zip(counts, fps, strict=True)) / total
    var = np.maximum(second - mean**2, 0.0)
    lo = np.fmin.reduce([f.min for f in fps])
    hi = np.fmax.reduce([f.max for f in fps])
    return mean, np.sqrt(var), lo, hi, total


def _standardised(mean: np.ndarray, std: np.ndarray, n: np.ndarray, tol: float) -> np.ndarray:
    """Per column: mean exactly 0 and std exactly 1 (population or sample definition)."""
    sample = np.sqrt(np.maximum(n - 1, 1) / np.maximum(n, 1))
    return _within(mean, tol) & (_within(std - 1, tol) | _within(std - sample, tol))


@dataclass(frozen=True)
class _Columns:
    """The continuous columns both sides share, with their union and training statistics."""

    names: list[str]
    mean: np.ndarray  # union statistics from here on
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    total: np.ndarray
    train_mean: np.ndarray
    train_std: np.ndarray
    train_n: np.ndarray
    train_lo: np.ndarray
    train_hi: np.ndarray
    collision: np.ndarray


def _continuous_columns(s: Splits) -> _Columns | None:
    fp = s.train
    rest = s.parts[1:]
    cols = np.array(
        [
            k == "continuous" and all(o.kinds[j] in ("continuous", "exact") for o in rest)
            for j, k in enumerate(fp.kinds)
        ]
    )
    cols &= np.isfinite(fp.std) & (fp.std > 0)
    for other in rest:
        cols &= np.isfinite(other.mean)
    if not cols.any():
        return None
    mean, std, lo, hi, total = (a[cols] for a in _union(*s.parts))
    return _Columns(
        [c for c, ok in zip(fp.columns, cols, strict=True) if ok],
        mean,
        std,
        lo,
        hi,
        total,
        fp.mean[cols],
        fp.std[cols],
        fp.n_rows - fp.n_missing[cols],
        fp.min[cols],
        fp.max[cols],
        fp.collision[cols],
    )


def scaling_from_data(
    fp: fpm.Fingerprint,
    te: fpm.Fingerprint,
    t: Mapping[str, float],
    seen: Sequence[tuple[str, fpm.Fingerprint]] = (),
    eval_name: str = "evaluation",
) -> Scaling:
    """Do the statistics of train + eval (+ other splits the model saw) show a scaler
    fitted before the split? The first union that does wins; else the pair's verdict."""
    tried = [_scaling_of(s, t) for s in splits_to_try(fp, te, seen, eval_name)]
    return next((x for x in tried if x.leak), tried[0])


def _scaling_of(s: Splits, t: Mapping[str, float]) -> Scaling:
    c = _continuous_columns(s)
    # strings (StringLookup / TextVectorization inputs) have no scale: say they were skipped
    text = [n for n, kind in zip(s.train.columns, s.train.kinds, strict=True) if kind == "text"]
    skipped = {"columns_not_numeric": text[:20]} if text else {}
    if c is None:
        return Scaling(evidence={"columns_checked": 0, **skipped})
    ev = {
        "splits": s.names,
        "columns_checked": len(c.names),
        **skipped,
        "union_max_abs_mean": float(np.abs(c.mean).max()),
        "train_max_abs_mean": float(np.abs(c.train_mean).max()),
        "union_std_range": [float(c.std.min()), float(c.std.max())],
        "train_std_range": [float(c.train_std.min()), float(c.train_std.max())],
    }
    found = _standardised_on_union(c, t["exact_tol"], ev, s)
    if found is None:
        found = _minmax_on_union(c, t["exact_tol"], t["max_collision"], ev, s)
    return found or Scaling(evidence=ev)


def _standardised_on_union(
    c: _Columns, tol: float, ev: dict[str, Any], s: Splits
) -> Scaling | None:
    union_std = _standardised(c.mean, c.std, c.total, tol)
    train_std = _standardised(c.train_mean, c.train_std, c.train_n, tol)
    # a column counts when the union is exactly standardised and the training part is
    # clearly not: two moments matching to 1e-6 by coincidence does not happen
    leaky = union_std & ~train_std & reaches(np.abs(c.train_mean), 10 * tol)
    if leaky.any():
        which = [n for n, bad in zip(c.names, leaky, strict=True) if bad]
        ev["standardised_on_union"] = which[:MAX_NAMED]
        worst = float(np.abs(c.train_mean[leaky]).max())
        return Scaling(
            True,
            f"{s.said().capitalize()} together are exactly standardised (mean 0, "
            f"std 1) in {len(which)} of {len(c.names)} continuous columns (e.g. {which[0]!r}) "
            f"while the training rows alone are not (|mean| up to {worst:.3g}): {s.saw()}.",
            ev,
        )
    if train_std.any():
        return Scaling(
            False,
            f"The training rows are exactly standardised in {int(train_std.sum())} column(s): "
            "the scaler was fitted on them.",
            ev,
        )
    return None


def _minmax_on_union(
    c: _Columns, tol: float, max_collision: float, ev: dict[str, Any], s: Splits
) -> Scaling | None:
    # min-max scaling: only columns with many distinct values (pixels/255 hit 0 and 1 anyway)
    spread = reaches(c.collision, max_collision, below=True, inclusive=True)
    for a, b in _MINMAX_RANGES:
        union_exact = spread & _within(c.lo - a, tol) & _within(c.hi - b, tol)
        # a scaler signature: most spread-out columns span exactly [a, b] together
        if not spread.any() or union_exact.sum() < max(1, spread.sum() / 2):
            continue
        train_exact = _within(c.train_lo - a, tol) & _within(c.train_hi - b, tol)
        missing = [
            n for n, u, h in zip(c.names, union_exact, train_exact, strict=True) if u and not h
        ]
        ev["minmax_range"] = [a, b]
        ev["columns_with_extreme_only_in_eval"] = missing[:MAX_NAMED]
        if not missing:
            return Scaling(
                False, f"The training rows span exactly [{a:g}, {b:g}]: scaler fitted on them.", ev
            )
        return Scaling(
            True,
            f"{s.said().capitalize()} together span exactly [{a:g}, {b:g}] in "
            f"{int(union_exact.sum())} continuous column(s), but in {len(missing)} of them "
            f"(e.g. {missing[0]!r}) that minimum or maximum occurs only outside the training "
            "rows: the min-max scaler saw them.",
            ev,
        )
    return None


def normalization_from_model(
    fp: fpm.Fingerprint,
    te: fpm.Fingerprint,
    norm: NormalizationStats,
    t: Mapping[str, float],
    seen: Sequence[tuple[str, fpm.Fingerprint]] = (),
) -> Scaling | None:
    """Do a Normalization layer's statistics match train + eval (+ other splits the model
    saw) rather than train? The union they match best is the one judged."""
    best: tuple[float, float, Splits] | None = None
    for s in splits_to_try(fp, te, seen):
        distances = _normalization_distances(s, norm)
        if distances is None or isinstance(distances, Scaling):
            return distances
        if best is None or distances[1] < best[1]:
            best = (*distances, s)
    if best is None:
        return None
    d_train, d_union, s = best
    ev = {
        "layer": norm.layer or None,
        "splits": s.names,
        "distance_to_train_stats": float(f"{d_train:.3g}"),
        "distance_to_train_plus_eval_stats": float(f"{d_union:.3g}"),
    }
    tol = t["model_match_tol"]
    matches_union = reaches(d_union, tol, below=True, inclusive=True)
    matches_train = reaches(d_train, tol, below=True, inclusive=True)
    if matches_union and reaches(d_train, tol) and d_train > 10 * d_union:
        return Scaling(
            True,
            f"The model's Normalization layer{_named(norm)} was adapted on "
            f"{s.said().removeprefix('the ')} together: its mean/variance match their union "
            f"(distance {d_union:.2g}) and not the training rows ({d_train:.2g}).",
            ev,
        )
    msg = f"The Normalization layer{_named(norm)} was adapted on the training rows."
    return Scaling(False, msg if matches_train else "", ev)


def _normalization_distances(
    s: Splits, norm: NormalizationStats
) -> tuple[float, float] | Scaling | None:
    """Largest standardised distance of the layer's statistics to train and to the union.

    A ``Scaling`` (skipped) when the layer and the data disagree on the feature count,
    None when no feature can be compared.
    """
    fp = s.train
    mean_n, var_n = norm.mean, norm.variance
    d = len(fp.columns)
    if mean_n.size != d or var_n.size != d:
        skipped = f"Normalization has {mean_n.size} features, data has {d}"
        return Scaling(evidence={"skipped": skipped})
    u_mean, u_std, *_ = _union(*s.parts)
    ok = np.isfinite(fp.std) & (fp.std > 0) & np.isfinite(u_std) & (u_std > 0)
    ok &= np.isfinite(mean_n) & np.isfinite(var_n)
    if not ok.any():
        return None

    def distance(mean: np.ndarray, std: np.ndarray) -> float:
        dm = np.abs(mean_n[ok] - mean[ok]) / fp.std[ok]
        dv = np.abs(var_n[ok] - std[ok] ** 2) / fp.std[ok] ** 2
        return float(np.max(dm + dv))

    return distance(fp.mean, fp.std), distance(u_mean, u_std)


def _named(norm: NormalizationStats) -> str:
    return f" {norm.layer!r}" if norm.layer else ""


def target_scaling(r: Regression | None, t: Mapping[str, float]) -> Scaling | None:
    """Were a regressor's targets scaled before the split? The training and evaluation
    targets together exactly standardised (or spanning [0, 1] / [-1, 1]) while the
    training targets alone are not. None without the training targets' statistics."""
    if r is None or r.train is None:
        return None
    tr, y, tol = r.train, r.y_true, t["exact_tol"]
    n = tr.n + y.shape[0]
    mean = (tr.n * tr.mean + y.sum(axis=0)) / n
    second = (tr.n * (tr.std**2 + tr.mean**2) + (y**2).sum(axis=0)) / n
    std = np.sqrt(np.maximum(second - mean**2, 0.0))
    lo, hi = np.fmin(tr.min, y.min(axis=0)), np.fmax(tr.max, y.max(axis=0))
    ev = {"target_union_mean": mean.tolist(), "target_union_std": std.tolist()}
    union_std = _standardised(mean, std, np.full_like(mean, n), tol)
    train_std = _standardised(tr.mean, tr.std, np.full_like(mean, tr.n), tol)
    if (union_std & ~train_std & reaches(np.abs(tr.mean), 10 * tol)).any():
        return Scaling(
            True,
            "The training and evaluation targets together are exactly standardised (mean 0, "
            f"std 1) while the training targets alone are not (mean {tr.mean[0]:.3g}): the "
            "target scaler was fitted before the split.",
            ev,
        )
    for a, b in _MINMAX_RANGES:
        union = _within(lo - a, tol) & _within(hi - b, tol)
        train = _within(tr.min - a, tol) & _within(tr.max - b, tol)
        if (union & ~train).any():
            return Scaling(
                True,
                f"The training and evaluation targets together span exactly [{a:g}, {b:g}], "
                "but that minimum or maximum occurs only in the evaluation targets: the target "
                "scaler saw them.",
                {**ev, "target_minmax_range": [a, b]},
            )
    return Scaling(evidence=ev)

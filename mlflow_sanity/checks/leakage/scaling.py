"""Measuring preprocessing statistics: was a scaler fitted on train and evaluation rows?

Two sources of evidence, each read into a ``Scaling`` (did it leak, what to say, what
was measured):

- the data: training and evaluation rows together exactly standardised, or exactly
  spanning [0, 1] / [-1, 1], while the training rows alone are not;
- the model: a Keras ``Normalization`` layer whose mean/variance match train + eval
  rather than train.

Tolerances come from the check's thresholds (``exact_tol``, ``model_match_tol``,
``max_collision``) and are compared through ``reaches``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlflow_sanity.checks.leakage.overlap import eval_split, guarded
from mlflow_sanity.checks.registry import Context, reaches
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.splits import NormalizationStats

MAX_NAMED = 10  # column names kept in the evidence
_MINMAX_RANGES = ((0.0, 1.0), (-1.0, 1.0))


@dataclass(frozen=True)
class Scaling:
    """What one source says about the scaling: leaked or not, a sentence, evidence."""

    leak: bool = False
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def eval_fingerprint(ctx: Context, fp: fpm.Fingerprint) -> fpm.Fingerprint:
    """The evaluation data fingerprinted in ``fp``'s columns, computed once per context."""

    def compute() -> fpm.Fingerprint:
        frame = guarded(lambda: fpm.align(fp, eval_split(ctx).features))
        return fpm.compute(frame)

    return ctx.measure("eval_fp", compute)


def _within(x: np.ndarray, tol: float) -> np.ndarray:
    """``|x| <= tol`` elementwise: equal up to the tolerance."""
    return reaches(np.abs(x), tol, below=True, inclusive=True)


def _union(fp: fpm.Fingerprint, te: fpm.Fingerprint) -> tuple[np.ndarray, ...]:
    """Mean, std, min, max and row count of the training and evaluation rows together."""
    n1 = np.full(len(fp.columns), float(fp.n_rows)) - fp.n_missing
    n2 = np.full(len(te.columns), float(te.n_rows)) - te.n_missing
    total = n1 + n2
    mean = (n1 * fp.mean + n2 * te.mean) / total
    second = (n1 * (fp.std**2 + fp.mean**2) + n2 * (te.std**2 + te.mean**2)) / total
    var = np.maximum(second - mean**2, 0.0)
    return mean, np.sqrt(var), np.fmin(fp.min, te.min), np.fmax(fp.max, te.max), total


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


def _continuous_columns(fp: fpm.Fingerprint, te: fpm.Fingerprint) -> _Columns | None:
    cols = np.array(
        [
            k == "continuous" and te.kinds[j] in ("continuous", "exact")
            for j, k in enumerate(fp.kinds)
        ]
    )
    cols &= np.isfinite(fp.std) & (fp.std > 0) & np.isfinite(te.mean)
    if not cols.any():
        return None
    mean, std, lo, hi, total = (a[cols] for a in _union(fp, te))
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


def scaling_from_data(fp: fpm.Fingerprint, te: fpm.Fingerprint, t: Mapping[str, float]) -> Scaling:
    """Do the statistics of train + eval show a scaler fitted before the split?"""
    c = _continuous_columns(fp, te)
    # strings (StringLookup / TextVectorization inputs) have no scale: say they were skipped
    text = [name for name, kind in zip(fp.columns, fp.kinds, strict=True) if kind == "text"]
    skipped = {"columns_not_numeric": text[:20]} if text else {}
    if c is None:
        return Scaling(evidence={"columns_checked": 0, **skipped})
    ev = {
        "columns_checked": len(c.names),
        **skipped,
        "union_max_abs_mean": float(np.abs(c.mean).max()),
        "train_max_abs_mean": float(np.abs(c.train_mean).max()),
        "union_std_range": [float(c.std.min()), float(c.std.max())],
        "train_std_range": [float(c.train_std.min()), float(c.train_std.max())],
    }
    found = _standardised_on_union(c, t["exact_tol"], ev)
    if found is None:
        found = _minmax_on_union(c, t["exact_tol"], t["max_collision"], ev)
    return found or Scaling(evidence=ev)


def _standardised_on_union(c: _Columns, tol: float, ev: dict[str, Any]) -> Scaling | None:
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
            f"The training and evaluation rows together are exactly standardised (mean 0, "
            f"std 1) in {len(which)} of {len(c.names)} continuous columns (e.g. {which[0]!r}) "
            f"while the training rows alone are not (|mean| up to {worst:.3g}): the scaler "
            "was fitted before the split.",
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
    c: _Columns, tol: float, max_collision: float, ev: dict[str, Any]
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
            f"The training and evaluation rows together span exactly [{a:g}, {b:g}] in "
            f"{int(union_exact.sum())} continuous column(s), but in {len(missing)} of them "
            f"(e.g. {missing[0]!r}) that minimum or maximum occurs only in the evaluation "
            "rows: the min-max scaler saw them.",
            ev,
        )
    return None


def normalization_from_model(
    fp: fpm.Fingerprint, te: fpm.Fingerprint, norm: NormalizationStats, t: Mapping[str, float]
) -> Scaling | None:
    """Do a Normalization layer's statistics match train + eval rather than train?"""
    distances = _normalization_distances(fp, te, norm)
    if distances is None or isinstance(distances, Scaling):
        return distances
    d_train, d_union = distances
    ev = {
        "layer": norm.layer or None,
        "distance_to_train_stats": float(f"{d_train:.3g}"),
        "distance_to_train_plus_eval_stats": float(f"{d_union:.3g}"),
    }
    tol = t["model_match_tol"]
    matches_union = reaches(d_union, tol, below=True, inclusive=True)
    matches_train = reaches(d_train, tol, below=True, inclusive=True)
    if matches_union and reaches(d_train, tol) and d_train > 10 * d_union:
        return Scaling(
            True,
            f"The model's Normalization layer{_named(norm)} was adapted on training and "
            "evaluation rows together: its mean/variance match their union "
            f"(distance {d_union:.2g}) and not the training rows ({d_train:.2g}).",
            ev,
        )
    msg = f"The Normalization layer{_named(norm)} was adapted on the training rows."
    return Scaling(False, msg if matches_train else "", ev)


def _normalization_distances(
    fp: fpm.Fingerprint, te: fpm.Fingerprint, norm: NormalizationStats
) -> tuple[float, float] | Scaling | None:
    """Largest standardised distance of the layer's statistics to train and to the union.

    A ``Scaling`` (skipped) when the layer and the data disagree on the feature count,
    None when no feature can be compared.
    """
    mean_n, var_n = norm.mean, norm.variance
    d = len(fp.columns)
    if mean_n.size != d or var_n.size != d:
        skipped = f"Normalization has {mean_n.size} features, data has {d}"
        return Scaling(evidence={"skipped": skipped})
    u_mean, u_std, *_ = _union(fp, te)
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

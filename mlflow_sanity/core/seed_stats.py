"""Statistics over seeds: aggregates, t-intervals and the two-run comparison.

Pure numpy/scipy (no MLflow, no Keras) so the variance checks and the ``compare``
verdict are testable on plain numbers. A multi-seed sweep has few samples (3-10), so
intervals use Student's t and the comparison uses an exact permutation test where the
number of arrangements allows it, instead of normal approximations.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BASELINE_METRIC = "majority_baseline_accuracy"
_AGG_SUFFIXES = ("mean", "std", "min", "max", "ci_low", "ci_high")
# scipy renamed permutation_test's random_state to rng in 1.15; support both.
_RNG_KW = "rng" if "rng" in inspect.signature(stats.permutation_test).parameters else "random_state"


@dataclass(frozen=True)
class Spread:
    """Location and spread of one metric across seeds."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); NaN for a single seed
    min: float
    max: float
    ci_low: float  # Student t interval of the mean; NaN for a single seed
    ci_high: float

    def as_metrics(self, name: str) -> dict[str, float]:
        """``seed/<name>_mean`` ... keys; undefined values (one seed) are left out."""
        values = dict(zip(_AGG_SUFFIXES, self.row(), strict=True))
        return {f"seed/{name}_{k}": v for k, v in values.items() if math.isfinite(v)}

    def row(self) -> tuple[float, ...]:
        return (self.mean, self.std, self.min, self.max, self.ci_low, self.ci_high)


def spread(values: Iterable[float], confidence: float = CONFIDENCE) -> Spread:
    """Mean, sample std, range and the t-interval of the mean of ``values``."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to summarise")
    if not np.isfinite(x).all():
        raise ValueError("values must be finite")
    mean = float(x.mean())
    if x.size < 2:
        nan = float("nan")
        return Spread(1, mean, nan, mean, mean, nan, nan)
    std = float(x.std(ddof=1))
    if std == 0.0:  # scipy refuses scale=0; the interval of a constant is the constant
        low = high = mean
    else:
        low, high = stats.t.interval(
            confidence, x.size - 1, loc=mean, scale=std / math.sqrt(x.size)
        )
    return Spread(int(x.size), mean, std, float(x.min()), float(x.max()), float(low), float(high))


def shared_metrics(per_seed: Sequence[Mapping[str, float]]) -> list[str]:
    """Metric names every seed reported with a finite value, in first-seen order."""
    if not per_seed:
        return []
    names = [k for k in per_seed[0] if _finite(per_seed[0][k])]
    return [k for k in names if all(k in m and _finite(m[k]) for m in per_seed[1:])]


def aggregate(per_seed: Sequence[Mapping[str, float]], n_failed: int = 0) -> dict[str, float]:
    """The parent-run aggregates: ``seed/<metric>_{mean,std,min,max,ci_low,ci_high}``, counts."""
    out: dict[str, float] = {"seed/n_ok": float(len(per_seed)), "seed/n_failed": float(n_failed)}
    for name in shared_metrics(per_seed):
        out.update(spread(m[name] for m in per_seed).as_metrics(name))
    return out


def choose_metric(names: Iterable[str]) -> str | None:
    """The headline metric when the user names none: plain accuracy first, then any accuracy."""
    names = list(names)
    for preferred in ("accuracy", "val_accuracy", "test_accuracy"):
        if preferred in names:
            return preferred
    accuracies = [n for n in names if is_plain_accuracy(n)]
    if accuracies:
        return accuracies[0]
    for preferred in ("r2", "val_r2", "test_r2"):  # a regressor's headline
        if preferred in names:
            return preferred
    return names[0] if names else None


def is_plain_accuracy(name: str) -> bool:
    """Plain accuracy (not balanced, top-k or the baseline): comparable to the majority rate."""
    low = name.lower().rsplit("/", 1)[-1]
    return low.endswith("accuracy") and not any(
        word in low for word in ("balanced", "baseline", "top_k", "top_")
    )


def higher_is_better(name: str) -> bool:
    """Losses and errors go down; everything else (accuracy, F1, AUC, MCC) goes up."""
    low = name.lower()
    return not any(word in low for word in ("loss", "error", "mse", "mae", "brier", "ece"))


@dataclass(frozen=True)
class SeedResults:
    """What a sweep measured, as the variance checks see it (``Context.seeds``).

    ``values`` maps each successful seed to its metrics; ``failed`` maps each failed
    seed to its error. ``repeat`` holds the metrics of the built-in second run of
    ``repeat_seed`` (deterministic sweeps only); ``repeat_error`` is set when it failed.
    """

    metric: str | None
    values: Mapping[int, Mapping[str, float]]
    failed: Mapping[int, str] = field(default_factory=dict)
    reference: float | None = None
    higher_is_better: bool = True
    deterministic: bool = False
    repeat_seed: int | None = None
    repeat: Mapping[str, float] | None = None
    repeat_error: str | None = None

    def resolved_reference(self) -> tuple[float | None, str]:
        """The score the claimed effect is measured against, and where it came from.

        A user-given reference wins. Otherwise plain accuracy is compared with the
        majority-class baseline the seeds reported (``majority_baseline_accuracy``,
        also under a ``sanity/`` prefix); other metrics have no built-in reference.
        """
        if self.reference is not None:
            return float(self.reference), "reference"
        regression = _regression_reference(self.metric, self.values)
        if regression is not None:
            return regression
        if self.metric is None or not is_plain_accuracy(self.metric):
            return None, ""
        for key in (BASELINE_METRIC, f"sanity/{BASELINE_METRIC}"):
            base = [float(m[key]) for m in self.values.values() if key in m and _finite(m[key])]
            if base and len(base) == len(self.values):
                return float(np.mean(base)), "majority baseline"
        return None, ""


def _regression_reference(
    metric: str | None, values: Mapping[int, Mapping[str, float]]
) -> tuple[float, str] | None:
    """A regressor's built-in reference: R² 0 (what predicting a constant scores), and for
    MAE the constant baseline's MAE the seeds reported (``baseline_mae``)."""
    name = (metric or "").rsplit("/", 1)[-1]
    if name == "r2":
        return 0.0, "constant baseline (R² 0)"
    if name != "mae":
        return None
    base = [float(m[k]) for m in values.values() for k in (REG_BASELINE,) if k in m]
    if base and len(base) == len(values) and all(_finite(b) for b in base):
        return float(np.mean(base)), "constant baseline MAE"
    return None


REG_BASELINE = "baseline_mae"


@dataclass(frozen=True)
class Comparison:
    """Two multi-seed runs compared on one metric; ``a_better`` drives the CI exit code."""

    metric: str
    a: Spread
    b: Spread
    higher_is_better: bool
    p_a_beats_b: float  # share of (seed of A, seed of B) pairs where A is better; ties count half
    mean_diff: float  # mean(A) - mean(B), in the metric's own direction
    p_value: float  # one-sided permutation test, H1: A better than B
    p_value_b_better: float  # the same test the other way round
    min_p_value: float  # the smallest p-value these sample sizes can give
    exact: bool
    alpha: float
    verdict: str

    @property
    def a_better(self) -> bool:
        return self.p_value < self.alpha and self.mean_diff > 0

    @property
    def b_better(self) -> bool:
        return self.p_value_b_better < self.alpha and self.mean_diff < 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "a": self.a.__dict__,
            "b": self.b.__dict__,
            "higher_is_better": self.higher_is_better,
            "p_a_beats_b": self.p_a_beats_b,
            "mean_diff": self.mean_diff,
            "p_value": self.p_value,
            "p_value_b_better": self.p_value_b_better,
            "min_p_value": self.min_p_value,
            "exact": self.exact,
            "alpha": self.alpha,
            "a_better": self.a_better,
            "verdict": self.verdict,
        }


def compare_samples(
    a: Sequence[float],
    b: Sequence[float],
    *,
    metric: str = "metric",
    higher: bool | None = None,
    alpha: float = 0.05,
    n_resamples: int = 20_000,
    rng_seed: int = 0,
) -> Comparison:
    """Is A better than B beyond seed noise? Probability of superiority + permutation test.

    The permutation test (difference of means, independent samples) makes no normality
    assumption and is exact when the number of distinct splits fits ``n_resamples``,
    which covers every sweep of up to 8 seeds per side.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 2 or y.size < 2:
        raise ValueError(f"need at least 2 seeds per run, got {x.size} and {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("seed values must be finite")
    up = higher_is_better(metric) if higher is None else higher
    sign = 1.0 if up else -1.0
    diff_pairs = sign * (x[:, None] - y[None, :])
    p_sup = float(np.mean(diff_pairs > 0) + 0.5 * np.mean(diff_pairs == 0))
    mean_diff = sign * float(x.mean() - y.mean())

    def statistic(u: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
        return sign * (np.mean(u, axis=axis) - np.mean(v, axis=axis))

    def test(alternative: str) -> float:
        res = stats.permutation_test(
            (x, y),
            statistic,
            permutation_type="independent",
            alternative=alternative,
            n_resamples=n_resamples,
            vectorized=True,
            **{_RNG_KW: np.random.default_rng(rng_seed)},
        )
        return float(res.pvalue)

    p_greater, p_less = test("greater"), test("less")
    n_splits = math.comb(x.size + y.size, x.size)
    exact = n_splits <= n_resamples
    min_p = 1.0 / n_splits if exact else 1.0 / (n_resamples + 1)
    sa, sb = spread(x), spread(y)
    comp = Comparison(
        metric, sa, sb, up, p_sup, mean_diff, p_greater, p_less, min_p, exact, alpha, ""
    )
    return replace(comp, verdict=_verdict(comp))


def _verdict(c: Comparison) -> str:
    means = f"mean {c.metric} {c.a.mean:.4f} (A) vs {c.b.mean:.4f} (B)"
    pairs = f"A beats B in {c.p_a_beats_b:.0%} of seed pairs"
    if c.a_better:
        return (
            f"A is better than B: {means}; {pairs}; permutation test p={c.p_value:.3g} "
            f"< {c.alpha:g}."
        )
    if c.b_better:
        return (
            f"B is better than A: {means}; {pairs}; permutation test p={c.p_value_b_better:.3g} "
            f"< {c.alpha:g}."
        )
    text = (
        f"No significant difference: {means}; {pairs}; p={c.p_value:.3g} for A better. "
        "The gap is within seed-to-seed noise."
    )
    if c.min_p_value >= c.alpha:
        text += (
            f" With {c.a.n} and {c.b.n} seeds the smallest possible p-value is "
            f"{c.min_p_value:.3g}, so no gap could reach alpha={c.alpha:g}: run more seeds."
        )
    return text


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False

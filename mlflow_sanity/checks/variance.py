"""Checks across seeds: is one run's score more than luck, and is a seed reproducible?

Both read ``Context.seeds`` (a ``seed_stats.SeedResults``), filled by the seed runner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlflow_sanity.checks.corrected import seed_interval
from mlflow_sanity.checks.registry import Context, Outcome, check, passed, reaches
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.seed_stats import CONFIDENCE, SeedResults, Spread, spread
from mlflow_sanity.core.task import ALL_TASKS, JUDGED_TASKS


def _metric_values(r: SeedResults) -> dict[int, float]:
    """Each successful seed's value of the judged metric."""
    name = r.metric
    return {s: m[name] for s, m in r.values.items() if name is not None and name in m}


def _unjudgeable(
    r: SeedResults, raw: Mapping[int, float], evidence: dict, min_seeds: float
) -> Outcome | None:
    """No value, a diverged seed, or too few seeds to measure a spread (None: judge it)."""
    name = r.metric
    if not raw:
        return Outcome(
            Severity.INFO,
            f"No successful seed reported the metric {name!r}; nothing to judge.",
            evidence,
        )
    evidence["values"] = {str(s): float(v) for s, v in raw.items()}
    diverged = sorted(s for s, v in raw.items() if not math.isfinite(float(v)))
    if diverged:
        rest = len(raw) - len(diverged)
        return Outcome(
            Severity.WARN,
            f"Seed(s) {diverged} produced a non-finite {name} (training diverged)"
            + (
                f" while {rest} other(s) did not: the outcome depends on the seed." if rest else "."
            ),
            evidence,
        )
    if reaches(len(raw), min_seeds, below=True):
        return Outcome(
            Severity.INFO,
            f"Only {len(raw)} successful seed(s): the spread across seeds is unknown.",
            evidence,
        )
    return None


def _gap_to_reference(
    raw: Mapping[int, float], sp: Spread, ref: float, higher_is_better: bool
) -> tuple[float, list[int]]:
    """How much better than ``ref`` the mean is, and the seeds that are not better at all."""
    sign = 1.0 if higher_is_better else -1.0
    no_better = sorted(s for s, v in raw.items() if sign * (float(v) - ref) <= 0)
    return sign * (sp.mean - ref), no_better


def _unreliable(
    sp: Spread, gap: float, ref: float, no_better: list, against: str, t: Mapping[str, float]
) -> list[str]:
    """Why one seed's score does not estimate the mean: interval, std or seeds at the reference."""
    reasons = []
    if sp.ci_low <= ref <= sp.ci_high:
        reasons.append(f"{against} lies inside the {_interval(sp)}")
    if reaches(sp.std, t["max_std_fraction"] * gap):
        reasons.append(
            f"the std is {sp.std / gap:.0%} of the {gap:.4f} gap to {against} "
            f"(limit {t['max_std_fraction']:.0%})"
        )
    if reaches(len(no_better) / sp.n, t["max_share_at_reference"]):
        reasons.append(
            f"{len(no_better)} of {sp.n} seeds ({no_better}) are no better than {ref:.4f}"
        )
    return reasons


def _interval(sp: Spread) -> str:
    return f"95% interval [{sp.ci_low:.4f}, {sp.ci_high:.4f}]"


@check(
    "seed_variance",
    tasks=JUDGED_TASKS,
    flags=(
        "fail: the seed mean is no better than the reference (your `reference=`, or the "
        "majority baseline for accuracy); warn: the reference lies inside the seed interval, "
        "the std exceeds `max_std_fraction` of the gap, or a seed scores no better than the "
        "reference"
    ),
    requires=["seeds"],
    remedy="Report the mean and interval over seeds instead of one run; stabilise training "
    "(lower learning rate, more data, regularisation, learning-rate warm-up); compare models "
    "across seeds with `mlflow-sanity compare RUN_A RUN_B`.",
    max_std_fraction=0.25,
    max_share_at_reference=0.0,
    min_seeds=2,
)
def seed_variance(ctx: Context, t: Mapping[str, float]) -> Outcome:
    """Across seeds the metric spread is large against the claimed effect or the baseline gap.

    The claimed effect is the gap between the seeds' mean and a reference: the user's
    ``reference`` score, or for plain accuracy the majority-class baseline. Flagged (warn)
    when the reference lies inside the 95% t-interval of the mean, when the sample std
    exceeds ``max_std_fraction`` of the gap, or when more than ``max_share_at_reference``
    of the seeds score no better than the reference; fail when the mean itself is no
    better than the reference.
    """
    r: SeedResults = ctx.seeds
    raw = _metric_values(r)
    evidence: dict = {"metric": r.metric, "n_ok": len(r.values), "n_failed": len(r.failed)}
    unjudgeable = _unjudgeable(r, raw, evidence, t["min_seeds"])
    if unjudgeable is not None:
        return unjudgeable
    sp = spread(raw.values(), CONFIDENCE)
    evidence.update(
        mean=sp.mean, std=sp.std, min=sp.min, max=sp.max, ci_low=sp.ci_low, ci_high=sp.ci_high
    )
    summary = f"{r.metric} {sp.mean:.4f} ± {sp.std:.4f} over {sp.n} seeds"
    ref, source = r.resolved_reference()
    if ref is None:
        return Outcome(
            Severity.INFO,
            f"{summary}, {_interval(sp)}. No reference to judge the spread against: pass "
            "reference= (or report majority_baseline_accuracy with accuracy).",
            evidence,
        )
    gap, no_better = _gap_to_reference(raw, sp, ref, r.higher_is_better)
    evidence.update(
        reference=ref,
        reference_source=source,
        gap=gap,
        std_over_gap=sp.std / gap if gap > 0 else None,
        seeds_no_better_than_reference=no_better,
    )
    against = f"the {source} {ref:.4f}"
    interval = seed_interval(str(r.metric), list(raw.values()), sp.mean, sp.ci_low, sp.ci_high)
    if gap <= 0:
        return Outcome(
            Severity.FAIL,
            f"{summary}: on average no better than {against}. A single run that looked "
            "better was seed luck.",
            evidence,
            corrected=interval,
        )
    reasons = _unreliable(sp, gap, ref, no_better, against, t)
    if reasons:
        text = f"{summary}: {'; '.join(reasons)}. One run's score is not a reliable estimate."
        return Outcome(Severity.WARN, text, evidence, corrected=interval)
    steady = f"{gap / sp.std:.1f} standard deviations." if sp.std > 0 else "stable across seeds."
    return passed(
        f"{summary}, {_interval(sp)}; the gap of {gap:.4f} to {against} is {steady}", evidence
    )


def _differing(first: Mapping[str, float], repeat: Mapping[str, float], tol: float) -> dict:
    """The metrics whose two values differ by more than ``tol`` (relative, at least absolute)."""
    differ = {}
    for name in sorted(set(first) | set(repeat)):
        a, b = first.get(name), repeat.get(name)
        if a is None or b is None or _differs(float(a), float(b), tol):
            differ[name] = {"first": a, "repeat": b}
    return differ


def _differs(a: float, b: float, tol: float) -> bool:
    """``not math.isclose(a, b, rel_tol=tol, abs_tol=tol)``, with NaN equal to NaN."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return True
    return reaches(abs(a - b), tol * max(1.0, abs(a), abs(b)))


@check(
    "nondeterminism",
    tasks=ALL_TASKS,
    flags=("warn: with `deterministic=True` the first seed, run twice, gives different metrics"),
    requires=["seeds"],
    remedy="Derive every source of randomness in the training function from its seed "
    "argument (np.random.default_rng(seed), shuffles, splits, tf.data), never an unseeded "
    "generator; keep tf.config.experimental.enable_op_determinism() on (GPU kernels without "
    "a deterministic version raise an error instead of drifting).",
    tolerance=1e-9,
)
def nondeterminism(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The same seed gave different results although determinism was requested."""
    r: SeedResults = ctx.seeds
    if not r.deterministic or r.repeat_seed is None:
        return None
    seed = r.repeat_seed
    first = r.values.get(seed)
    evidence: dict = {"seed": seed}
    if first is None or r.repeat is None:
        why = r.repeat_error or r.failed.get(seed) or "a run failed"
        return Outcome(
            Severity.INFO, f"Seed {seed} could not be compared with its repeat: {why}", evidence
        )
    differ = _differing(first, r.repeat, t["tolerance"])
    evidence.update(n_metrics=len(set(first) | set(r.repeat)), differing=differ)
    if differ:
        shown = ", ".join(
            f"{k} {v['first']!r} vs {v['repeat']!r}" for k, v in list(differ.items())[:3]
        )
        return Outcome(
            Severity.WARN,
            f"Seed {seed} run twice with determinism on gave different results ({shown}"
            f"{', ...' if len(differ) > 3 else ''}): something in training is not seeded.",
            evidence,
        )
    return passed(
        f"Seed {seed} run twice gave identical values for all {len(first)} metrics.", evidence
    )

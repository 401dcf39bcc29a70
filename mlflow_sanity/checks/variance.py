"""Checks across seeds: is one run's score more than luck, and is a seed reproducible?

Both read ``Context.seeds`` (a ``seed_stats.SeedResults``), filled by the seed runner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlflow_sanity.checks.registry import Context, check, finding
from mlflow_sanity.core.findings import Finding, Severity
from mlflow_sanity.core.seed_stats import CONFIDENCE, SeedResults, spread


@check(
    "seed_variance",
    requires=["seeds"],
    remedy="Report the mean and interval over seeds instead of one run; stabilise training "
    "(lower learning rate, more data, regularisation, learning-rate warm-up); compare models "
    "across seeds with `mlflow-sanity compare RUN_A RUN_B`.",
    max_std_fraction=0.25,
    max_share_at_reference=0.0,
    min_seeds=2,
)
def seed_variance(ctx: Context, t: Mapping[str, float]) -> Finding:
    """Across seeds the metric spread is large against the claimed effect or the baseline gap.

    The claimed effect is the gap between the seeds' mean and a reference: the user's
    ``reference`` score, or for plain accuracy the majority-class baseline. Flagged (warn)
    when the reference lies inside the 95% t-interval of the mean, when the sample std
    exceeds ``max_std_fraction`` of the gap, or when more than ``max_share_at_reference``
    of the seeds score no better than the reference; fail when the mean itself is no
    better than the reference.
    """
    r: SeedResults = ctx.seeds
    name = r.metric
    raw = {s: m[name] for s, m in r.values.items() if name is not None and name in m}
    evidence: dict = {"metric": name, "n_ok": len(r.values), "n_failed": len(r.failed)}
    if not raw:
        return finding(
            "seed_variance",
            Severity.INFO,
            f"No successful seed reported the metric {name!r}; nothing to judge.",
            evidence,
        )
    evidence["values"] = {str(s): float(v) for s, v in raw.items()}
    diverged = sorted(s for s, v in raw.items() if not math.isfinite(float(v)))
    if diverged:
        rest = len(raw) - len(diverged)
        return finding(
            "seed_variance",
            Severity.WARN,
            f"Seed(s) {diverged} produced a non-finite {name} (training diverged)"
            + (
                f" while {rest} other(s) did not: the outcome depends on the seed." if rest else "."
            ),
            evidence,
        )
    if len(raw) < t["min_seeds"]:
        return finding(
            "seed_variance",
            Severity.INFO,
            f"Only {len(raw)} successful seed(s): the spread across seeds is unknown.",
            evidence,
        )
    sp = spread(raw.values(), CONFIDENCE)
    evidence.update(
        mean=sp.mean, std=sp.std, min=sp.min, max=sp.max, ci_low=sp.ci_low, ci_high=sp.ci_high
    )
    summary = f"{name} {sp.mean:.4f} ± {sp.std:.4f} over {sp.n} seeds"
    interval = f"95% interval [{sp.ci_low:.4f}, {sp.ci_high:.4f}]"
    ref, source = r.resolved_reference()
    if ref is None:
        return finding(
            "seed_variance",
            Severity.INFO,
            f"{summary}, {interval}. No reference to judge the spread against: pass "
            "reference= (or report majority_baseline_accuracy with accuracy).",
            evidence,
        )
    sign = 1.0 if r.higher_is_better else -1.0
    gap = sign * (sp.mean - ref)
    no_better = sorted(s for s, v in raw.items() if sign * (float(v) - ref) <= 0)
    evidence.update(
        reference=ref,
        reference_source=source,
        gap=gap,
        std_over_gap=sp.std / gap if gap > 0 else None,
        seeds_no_better_than_reference=no_better,
    )
    against = f"the {source} {ref:.4f}"
    if gap <= 0:
        return finding(
            "seed_variance",
            Severity.FAIL,
            f"{summary}: on average no better than {against}. A single run that looked "
            "better was seed luck.",
            evidence,
        )
    reasons = []
    if sp.ci_low <= ref <= sp.ci_high:
        reasons.append(f"{against} lies inside the {interval}")
    if sp.std > t["max_std_fraction"] * gap:
        reasons.append(
            f"the std is {sp.std / gap:.0%} of the {gap:.4f} gap to {against} "
            f"(limit {t['max_std_fraction']:.0%})"
        )
    if len(no_better) / sp.n > t["max_share_at_reference"]:
        reasons.append(
            f"{len(no_better)} of {sp.n} seeds ({no_better}) are no better than {ref:.4f}"
        )
    if reasons:
        return finding(
            "seed_variance",
            Severity.WARN,
            f"{summary}: {'; '.join(reasons)}. One run's score is not a reliable estimate.",
            evidence,
        )
    return finding(
        "seed_variance",
        Severity.PASSED,
        f"{summary}, {interval}; the gap of {gap:.4f} to {against} is "
        + (f"{gap / sp.std:.1f} standard deviations." if sp.std > 0 else "stable across seeds."),
        evidence,
    )


@check(
    "nondeterminism",
    requires=["seeds"],
    remedy="Derive every source of randomness in the training function from its seed "
    "argument (np.random.default_rng(seed), shuffles, splits, tf.data), never an unseeded "
    "generator; keep tf.config.experimental.enable_op_determinism() on (GPU kernels without "
    "a deterministic version raise an error instead of drifting).",
    tolerance=1e-9,
)
def nondeterminism(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """The same seed gave different results although determinism was requested."""
    r: SeedResults = ctx.seeds
    if not r.deterministic or r.repeat_seed is None:
        return None
    seed = r.repeat_seed
    first = r.values.get(seed)
    evidence: dict = {"seed": seed}
    if first is None or r.repeat is None:
        why = r.repeat_error or r.failed.get(seed) or "a run failed"
        return finding(
            "nondeterminism",
            Severity.INFO,
            f"Seed {seed} could not be compared with its repeat: {why}",
            evidence,
        )
    tol = t["tolerance"]
    differ = {}
    for name in sorted(set(first) | set(r.repeat)):
        a, b = first.get(name), r.repeat.get(name)
        if a is None or b is None or not _same(float(a), float(b), tol):
            differ[name] = {"first": a, "repeat": b}
    evidence.update(n_metrics=len(set(first) | set(r.repeat)), differing=differ)
    if differ:
        shown = ", ".join(
            f"{k} {v['first']!r} vs {v['repeat']!r}" for k, v in list(differ.items())[:3]
        )
        return finding(
            "nondeterminism",
            Severity.WARN,
            f"Seed {seed} run twice with determinism on gave different results ({shown}"
            f"{', ...' if len(differ) > 3 else ''}): something in training is not seeded.",
            evidence,
        )
    return finding(
        "nondeterminism",
        Severity.PASSED,
        f"Seed {seed} run twice gave identical values for all {len(first)} metrics.",
        evidence,
    )


def _same(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)

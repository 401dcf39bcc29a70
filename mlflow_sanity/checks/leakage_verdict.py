"""What the leakage checks said about this evaluation set, as the report grades them.

``perfect_score`` and ``small_eval_set`` are graded on it: a perfect score on data the
leakage checks cleared is context, not a warning.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow_sanity.checks.registry import Context, checks_in, is_disabled, outcome_of
from mlflow_sanity.core.findings import Severity


def leakage_verdict(ctx: Context) -> dict[str, str] | None:
    """The leakage checks' severities on this evaluation set, as the report grades them
    (the user's thresholds; computed once, shared with the report's own findings);
    ``disabled`` or ``could not run: …`` for those that did not judge the data.

    None when they cannot judge the data: no evaluation features, or neither training
    data nor a training fingerprint to compare them with.
    """
    if ctx.test is None or (ctx.train is None and ctx.fingerprint is None):
        return None
    verdict: dict[str, str] = {}
    for check_id in checks_in("leakage"):
        if is_disabled(ctx, check_id):
            verdict[check_id] = "disabled"
            continue
        try:
            outcome = outcome_of(ctx, check_id)
        except Exception as exc:  # a check that cannot run has not cleared the data
            verdict[check_id] = f"could not run: {exc}"
            continue
        if outcome is not None:
            verdict[check_id] = outcome.severity.value
    return verdict


_QUIET = (Severity.PASSED.value, Severity.INFO.value)


def leakage_flagged(verdict: Mapping[str, str] | None) -> list[str]:
    return sorted(k for k, v in (verdict or {}).items() if v in ("warn", "fail"))


def leakage_gaps(verdict: Mapping[str, str]) -> list[str]:
    """What kept the leakage checks from clearing the data: a check that could not run,
    or the train/test overlap (the core of the question) not measured."""
    gaps = [f"{k} {v}" for k, v in verdict.items() if v.startswith("could not run")]
    overlap = verdict.get("train_test_overlap", "did not apply")
    if overlap not in _QUIET and not overlap.startswith("could not run"):
        gaps.append(f"train_test_overlap {overlap}")
    return gaps


def leakage_clean(verdict: Mapping[str, str] | None) -> bool:
    """The overlap with the training data was measured and no leakage check flagged."""
    return bool(verdict) and not leakage_flagged(verdict) and not leakage_gaps(verdict)

"""What the leakage checks said about one evaluation set, for the checks graded on it.

``perfect_score`` and ``small_eval_set`` call a perfect score honest only when the leakage
checks ran on the same rows and cleared them. They read the checks' outcomes as the report
grades them (the user's thresholds, computed once) and their crashes as typed records, never
a message's wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow_sanity.checks.registry import Context, checks_in
from mlflow_sanity.checks.running import Crash, attempt_check, is_disabled
from mlflow_sanity.core.findings import Severity

_QUIET = (Severity.PASSED.value, Severity.INFO.value)
OVERLAP = "train_test_overlap"  # the core of the question: were these rows trained on?


@dataclass(frozen=True)
class LeakageVerdict:
    """Each leakage check's severity (``graded``), the ones switched off and the ones that
    crashed (check id -> ``"ValueError: ..."``), in the registry's order."""

    graded: dict[str, str] = field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    crashed: dict[str, str] = field(default_factory=dict)

    def evidence(self) -> dict[str, str]:
        """One entry per leakage check, as ``evidence["leakage_checks"]`` shows it."""
        out = {k: "disabled" for k in self.disabled}
        out.update(self.graded)
        out.update({k: f"crashed: {why}" for k, why in self.crashed.items()})
        return {k: out[k] for k in checks_in("leakage") if k in out}

    @property
    def flagged(self) -> list[str]:
        return sorted(k for k, v in self.graded.items() if Severity(v).flagged)

    @property
    def gaps(self) -> list[str]:
        """What kept the leakage checks from clearing the data: a check that crashed, or
        the train/test overlap not measured."""
        gaps = [f"{k} crashed ({why})" for k, why in self.crashed.items()]
        if OVERLAP not in self.crashed:
            overlap = self.graded.get(OVERLAP, "disabled" if OVERLAP in self.disabled else None)
            if overlap not in _QUIET:
                gaps.append(f"{OVERLAP} {overlap or 'did not apply'}")
        return gaps

    @property
    def clean(self) -> bool:
        """The overlap with the training data was measured and no leakage check flagged."""
        return not self.flagged and not self.gaps


def leakage_verdict(ctx: Context) -> LeakageVerdict | None:
    """The leakage checks' verdict on this evaluation set. None when they cannot judge the
    data: no evaluation features, or neither training data nor a training fingerprint."""
    if ctx.test is None or (ctx.train is None and ctx.fingerprint is None):
        return None
    graded: dict[str, str] = {}
    disabled: list[str] = []
    crashed: dict[str, str] = {}
    for check_id in checks_in("leakage"):
        if is_disabled(ctx, check_id):
            disabled.append(check_id)
            continue
        outcome = attempt_check(ctx, check_id)
        if isinstance(outcome, Crash):
            crashed[check_id] = outcome.reason
        elif outcome is not None:
            graded[check_id] = outcome.severity.value
    return LeakageVerdict(graded, tuple(disabled), crashed)


def leakage_clean(verdict: LeakageVerdict | None) -> bool:
    return verdict is not None and verdict.clean

"""Running the registry on one context: outcomes computed once, crashes kept as records.

``check_all`` runs every applicable, enabled check (``registry.REGISTRY``) and stamps each
outcome into a ``Finding``; a check that raises becomes a ``crashed`` ``NotChecked``
record (``core/boundary.py`` decides: strict mode re-raises a bug). ``skipped_checks``
says which checks the missing evidence (``Context.missing``) kept from running. Checks
graded on another check's verdict read it through ``attempt_check`` (computed once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from mlflow_sanity.checks.cause_rule import judge_causes, lead_with_causes
from mlflow_sanity.checks.registry import (
    EVALUATION_FIELDS,
    REGISTRY,
    TRAINING_ROWS_PREFIX,
    Check,
    CheckOptions,
    Context,
    Outcome,
    _first_sentence,
)
from mlflow_sanity.core.boundary import Caught, Origin, describe
from mlflow_sanity.core.findings import CRASHED, MISSING, Finding, NotChecked, Severity
from mlflow_sanity.core.metrics import InputError

_log = logging.getLogger(__name__)

_OPTIONS_KEY = "check_options"


@dataclass(frozen=True)
class Crash:
    """A check that raised: what ``outcome_of`` keeps instead of an outcome, and what
    ``run_checks`` turns into a ``crashed`` ``NotChecked`` record."""

    check: str
    error: Exception

    @property
    def reason(self) -> str:
        return describe(self.error)

    def record(self, call: str = "") -> NotChecked:
        """A bad-data error (``InputError``) is data the check could not use: missing
        evidence; anything else is a crash."""
        kind = MISSING if isinstance(self.error, InputError) else CRASHED
        reason = self.reason if kind == CRASHED else f"{self.check}: {self.error}"
        return NotChecked(self.check, reason, call, kind)


def attempt_check(ctx: Context, check_id: str) -> Outcome | Crash | None:
    """Check ``check_id``'s outcome on ``ctx`` under the report's options, computed once;
    a ``Crash`` when it raised (strict mode re-raises a bug, see ``core/boundary.py``).

    For checks graded on another check's verdict (``perfect_score`` on the leakage
    checks): they see what the report says, with the user's thresholds, and the work is
    not repeated when the registry reaches that check. None when the check is disabled or
    does not apply.
    """
    options = _options(ctx)
    chk = REGISTRY[check_id]
    if check_id in options.disable or not chk.applies(ctx):
        return None
    limits = options.limits(check_id)
    key = f"outcome:{check_id}:{sorted(limits.items())}"
    if key not in ctx.shared:
        with Caught(Origin.OURS, f"check {check_id}") as caught:
            ctx.shared[key] = chk.fn(ctx, limits)
        if caught.error is not None:
            ctx.shared[key] = Crash(check_id, caught.error)
    return ctx.shared[key]


def outcome_of(ctx: Context, check_id: str) -> Outcome | None:
    """``attempt_check``'s outcome; raises what the check raised."""
    result = attempt_check(ctx, check_id)
    if isinstance(result, Crash):
        raise result.error
    return result


def is_disabled(ctx: Context, check_id: str) -> bool:
    """Whether the report's options switch ``check_id`` off."""
    return check_id in _options(ctx).disable


def _options(ctx: Context) -> CheckOptions:
    """The options ``run_checks`` is running ``ctx`` under (defaults outside a run)."""
    return ctx.shared.get(_OPTIONS_KEY) or CheckOptions()


@dataclass
class Checked:
    """What one pass of the registry produced: findings, and the checks that crashed."""

    findings: list[Finding]
    crashed: list[NotChecked]


def run_checks(
    ctx: Context, options: CheckOptions | None = None, source: str = ""
) -> list[Finding]:
    """Run every applicable, enabled check (see ``check_all``); the findings only."""
    return check_all(ctx, options, source).findings


def check_all(
    ctx: Context, options: CheckOptions | None = None, source: str = "", call: str = ""
) -> Checked:
    """Run every applicable, enabled check. A check that raises does not hide the others:
    it becomes a ``crashed`` record (coverage partial; ``InputError``: missing evidence)."""
    options = options or CheckOptions()
    ctx.shared[_OPTIONS_KEY] = options
    results: list[Finding] = []
    crashed: list[NotChecked] = []
    because: dict[str, str] = {}
    alone: set[str] = set()
    for check_id, chk in REGISTRY.items():
        outcome = attempt_check(ctx, check_id)
        if isinstance(outcome, Crash):
            _log.warning("mlflow-sanity check %s failed: %s", check_id, outcome.reason)
            crashed.append(outcome.record(call))
            continue
        if outcome is None:
            continue
        results.append(_stamp(ctx, chk, outcome, options.limits(check_id), source))
        because[check_id] = outcome.because or _first_sentence(outcome.message)
        if outcome.alone:
            alone.add(check_id)
    results = judge_causes(results, alone, ctx.proofs or {})
    return Checked(lead_with_causes(results, because, ctx), crashed)


def _stamp(
    ctx: Context, chk: Check, outcome: Outcome, limits: Mapping[str, float], source: str
) -> Finding:
    """The finding of one check's outcome: its id, thresholds, remedy and source."""
    evidence = dict(outcome.evidence)
    if limits:
        evidence["thresholds"] = limits
    message = outcome.message
    if ctx.eval_on == "training" and chk.judges_predictions:
        evidence["evaluated_on"] = "training data"
        message = f"{TRAINING_ROWS_PREFIX}{message}"
    corrected = outcome.corrected
    if corrected is not None and outcome.severity is not Severity.PASSED:
        corrected = replace(corrected, finding=chk.id)
    else:
        corrected = None
    return Finding(chk.id, outcome.severity, message, evidence, chk.remedy, source, (), corrected)


def skipped_checks(
    ctx: Context, options: CheckOptions | None = None, call: str = ""
) -> list[NotChecked]:
    """The enabled checks that did not run because evidence they require is missing for a
    reason the adapter gave (``ctx.missing``): one record per check, naming the first
    reason. A check also lacking evidence nobody promised (a fit without validation data
    has no test rows) would not have run anyway: no record. Coverage is made of these, so
    it cannot drift from what actually ran."""
    if not ctx.missing:
        return []
    options = options or CheckOptions()
    out = []
    for check_id, chk in REGISTRY.items():
        if check_id in options.disable or chk.applies(ctx):
            continue
        if ctx.task is not None and ctx.task not in chk.tasks:
            # another task's check is not a gap; an unsupported task's are (the reason
            # says what the model was taken for), unless their evidence is not this call's
            reason = ctx.missing.get("task")
            if reason and all(set(g) <= EVALUATION_FIELDS for g in chk.absent(ctx)):
                out.append(NotChecked(check_id, reason, call))
            continue
        reasons = [
            next((ctx.missing[n] for n in group if n in ctx.missing), None)
            for group in chk.absent(ctx)
        ]
        if reasons and all(reasons):
            out.append(NotChecked(check_id, str(reasons[0]), call))
    return out

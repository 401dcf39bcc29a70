"""The one rule for cause findings, and the lead: causes first, proven causes before the
consequences they explain.

``judge_causes`` grades each cause by its symptom and by its experiment (three outcomes,
``core/proofs.py``); ``lead_with_causes`` links the flagged symptoms to the flagged
causes that explain them. ``run_checks`` (``registry.py``) calls both after the checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from mlflow_sanity.checks.registry import (
    REGISTRY,
    TRAINING_ROWS_PREFIX,
    Context,
    _first_sentence,
)
from mlflow_sanity.core.findings import Finding, Severity
from mlflow_sanity.core.proofs import CONFIRMED, INCONCLUSIVE, REFUTED, verdict_of

NO_SYMPTOM = (
    "Info, not a warning: nothing in this report shows a symptom it would explain "
    "(accuracy above the majority baseline, no collapse onto one class, loss and accuracy "
    "moving together), so this is advice, not an alarm."
)
# Which symptom checks must have run to say "no symptom": the ones that judge the
# predictions (without them a stuck accuracy cannot be ruled out, and the cause keeps
# its own grade rather than pass as harmless).
_SYMPTOM_WITNESSES = ("accuracy_at_baseline", "prediction_collapse", "regression_at_baseline")
# A cause that is often the consequence of another (ReLUs die and gradients vanish when
# raw inputs or a wild learning rate push the pre-activations far out; a fit stops short
# of converging when the rate is off): graded as that cause's consequence once the other
# is proven by experiment, never above it.
CONSEQUENCE_OF: Mapping[str, tuple[str, ...]] = {
    "dead_units": ("learning_rate", "unscaled_inputs"),
    "vanishing_gradients": ("learning_rate", "unscaled_inputs"),
    "undertrained": ("learning_rate", "unscaled_inputs"),
}


def judge_causes(
    findings: list[Finding], alone: Iterable[str], proofs: Mapping[str, Mapping[str, Any]]
) -> list[Finding]:
    """The one rule for cause findings: a cause alarms only when it explains something.

    A ``needs_symptom`` cause stays ``warn``/``fail`` when the same report flags a symptom
    it ``explains``, when it breaks training by itself (``Outcome.alone``: every unit of
    a layer dead), or when the symptoms could not be judged (no predictions: not checked
    is not a pass). Otherwise it becomes ``info`` and says why (``evidence["graded"]``
    keeps what the check alone said). An experiment (``proofs``, ``core/proofs.py``)
    decides where it can: ``confirmed`` makes the cause a warning (with a symptom: the
    proven cause; without one: what the model would gain), ``refuted`` makes it ``info``,
    ``inconclusive`` leaves the grade to the rule and says why the experiment could not
    decide. A cause proven by experiment grades the causes that are its consequences.
    """
    alone = set(alone)
    ids = {f.id for f in findings}
    flagged = {f.id for f in findings if f.severity.flagged}
    witnessed = any(s in ids for s in _SYMPTOM_WITNESSES)
    out = []
    for f in findings:
        chk = REGISTRY.get(f.id)
        proof = proofs.get(f.id)
        if chk is None or not (chk.needs_symptom or proof):
            out.append(f)
            continue
        explained = [s for s in chk.explains if s in flagged]
        evidence = dict(f.evidence)
        verdict = verdict_of(proof.get("verdict")) if proof else None
        if proof:
            evidence["proof"] = {**proof, "verdict": verdict}
        if proof and not chk.explains:  # a symptom's fix tested: it happened either way
            message = _tested_fix(f.message, verdict, proof)
            out.append(replace(f, message=message, evidence=evidence))
            continue
        symptomless = chk.needs_symptom and f.id not in alone and witnessed and not explained
        severity, message = _graded(
            f, verdict, proof or {}, evidence, bool(explained), symptomless, f.id in alone
        )
        out.append(replace(f, severity=severity, message=message, evidence=evidence))
    return _consequences(out)


def _graded(
    f: Finding,
    verdict: str | None,
    proof: Mapping[str, Any],
    evidence: dict[str, Any],
    explained: bool,
    symptomless: bool,
    alone: bool,
) -> tuple[Severity, str]:
    """The grade and message of one cause from its rule, its symptom and its experiment."""
    severity, message, summary = f.severity, f.message, proof.get("summary", "")
    if verdict == CONFIRMED:
        if explained:
            return Severity.worst(severity, Severity.WARN), f"Proven: {summary}. {message}"
        gain = proof.get("gain")
        if not isinstance(gain, (int, float)):
            would = ""
        elif proof.get("metric") == "held_out_loss":
            would = f" (held-out loss {-gain:+.0%})"
        else:
            would = f" (+{gain:.2f} balanced accuracy)"
        text = (
            f"The model would gain from the fix{would}; tested by experiment: {summary}. {message}"
        )
        return Severity.worst(severity, Severity.WARN), text
    if verdict == REFUTED and alone:
        return severity, f"{message} (Refuted by experiment, kept: it breaks training by itself.)"
    if verdict == REFUTED:
        if severity.rank > Severity.INFO.rank:
            evidence.setdefault("graded", severity.value)
            severity = Severity.INFO
        return severity, f"Refuted by experiment: {summary}. {message}"
    if symptomless and severity.flagged:
        evidence["graded"] = severity.value
        severity, message = Severity.INFO, f"{message} {NO_SYMPTOM}"
    if verdict == INCONCLUSIVE:
        why = proof.get("why") or summary
        if summary.startswith("not run"):
            message = f"{message} (Not tested by experiment: {why}.)"
        else:
            tried = f" {summary[:1].upper()}{summary[1:]}."
            message = f"{message} (The experiment could not decide: {why}.{tried})"
    return severity, message


def _consequences(findings: list[Finding]) -> list[Finding]:
    """A flagged cause that is a consequence of a cause proven by experiment (and not
    itself proven to matter more) is graded at most as that cause, and says so."""
    proven = {
        f.id: f
        for f in findings
        if f.severity.flagged and (f.evidence.get("proof") or {}).get("verdict") == CONFIRMED
    }
    if not proven:
        return findings
    out = []
    for f in findings:
        by = [
            c
            for c in CONSEQUENCE_OF.get(f.id, ())
            if c in proven and proven[c].proven_gain >= f.proven_gain
        ]
        if not by or not f.severity.flagged:
            out.append(f)
            continue
        cause = proven[by[0]]
        severity = cause.severity if f.severity.rank > cause.severity.rank else f.severity
        message = f"A consequence of `{cause.id}` (proven by experiment): {f.message}"
        evidence = {**f.evidence, "consequence_of": cause.id}
        out.append(replace(f, severity=severity, message=message, evidence=evidence))
    return out


def _tested_fix(message: str, verdict: str | None, proof: Mapping[str, Any]) -> str:
    """A symptom's message with what its experiment showed about the fix."""
    summary = proof.get("summary", "")
    if verdict == CONFIRMED:
        return f"{message} Proven fix: {summary}."
    if verdict == REFUTED:
        return f"{message} Tried by experiment, did not help: {summary}."
    return f"{message} (The experiment could not decide: {proof.get('why') or summary}.)"


def lead_with_causes(
    findings: list[Finding], because: Mapping[str, str], ctx: Context
) -> list[Finding]:
    """Link flagged symptoms to the flagged causes that explain them.

    A cause gets ``explains`` (``Report.flagged`` puts it first); the symptom's message
    starts with "Accuracy is stuck at 0.54 because ..." and its evidence lists ``caused_by``
    (a proven cause first, by its gain; a consequence after the cause it follows from).
    """
    flagged = {f.id for f in findings if f.severity.flagged}
    links = {
        f.id: tuple(s for s in REGISTRY[f.id].explains if s in flagged)
        for f in findings
        if f.severity.flagged and f.id in REGISTRY
    }
    links = {cause: symptoms for cause, symptoms in links.items() if symptoms}
    if not links:
        return findings
    out = []
    for f in findings:
        if f.id in links:
            out.append(replace(f, explains=links[f.id]))
            continue
        causes = [cause for cause, symptoms in links.items() if f.id in symptoms]
        gains = {g.id: g.proven_gain for g in findings if g.id in causes}
        follows = {g.id for g in findings if g.id in causes and g.evidence.get("consequence_of")}
        causes.sort(key=lambda c: (c in follows, -gains.get(c, 0.0)))
        if not causes:
            out.append(f)
            continue
        acc = ctx.eval.metrics.get("accuracy") if ctx.eval is not None else None
        acc = f.evidence.get("accuracy", acc)
        stuck = f"Accuracy is stuck at {acc:.2f}" if isinstance(acc, float) else "Accuracy is stuck"
        r2 = ctx.regression.metrics.get("r2") if ctx.regression is not None else None
        if r2 is not None:  # a regressor's headline
            stuck = f"R² is stuck at {r2:.2f}"
        reasons = "; and ".join(f"{because[c]} (`{c}`)" for c in causes)
        evidence = {**f.evidence, "caused_by": causes}
        where = TRAINING_ROWS_PREFIX if f.message.startswith(TRAINING_ROWS_PREFIX) else ""
        text = f"{where}{stuck} because {reasons}. {f.message.removeprefix(where)}"
        out.append(replace(f, message=text, evidence=evidence))
    return out


def relink_fit_causes(findings: list[Finding], fit_causes: Iterable[Finding]) -> list[Finding]:
    """A later ``model.evaluate`` of the same model shows the symptom its fit did not:
    the fit's causes that explain it come back, at the grade their rule gave before the
    fit's "no symptom" demoted them (a refuted cause stays out; a confirmed one warns),
    marked ``evidence["from_fit"]``, and lead the symptom as they would have in the fit."""
    present = {f.id for f in findings}
    added = []
    for c in fit_causes:
        chk = REGISTRY.get(c.id)
        proof = c.evidence.get("proof") or {}
        verdict = verdict_of(proof.get("verdict"))
        if c.id in present or chk is None or verdict == REFUTED:
            continue
        shown = [f for f in findings if f.severity.flagged and f.id in chk.explains]
        if not shown:
            continue
        graded = c.evidence.get("graded")
        severity = Severity(graded) if graded else c.severity
        if verdict == CONFIRMED:
            severity = Severity.worst(severity, Severity.WARN)
        if not severity.flagged:
            continue
        message = c.message.replace(f" {NO_SYMPTOM}", "")
        evidence = {**c.evidence, "from_fit": True}
        text = f"From the fit: {message}"  # reported by (and about) the call that shows it
        added.append(
            replace(c, severity=severity, message=text, evidence=evidence, source=shown[0].source)
        )
    if not added:
        return findings
    because = {c.id: _first_sentence(c.message.removeprefix("From the fit: ")) for c in added}
    return lead_with_causes([*findings, *added], because, Context())

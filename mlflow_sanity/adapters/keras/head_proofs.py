"""Cause experiments for a multi-output model, one output (head) at a time.

The arms are whole-model copies, as for one output (``proofs.py``): a remedy such as
standardised inputs or another learning rate changes the whole model, and one control per
seed serves every experiment. What differs is the judging: a cause flagged on output H
(``evidence["output"]``) is judged on H's scores alone, each output of a copy scored on
its own held-out labels (``proof_arms._held_out_heads``): the held-out loss, and balanced
accuracy when H is a single-label classifier. The proof names the output it was judged on
(``evidence["proof"]["output"]``).

Not tested per head (said in the proof): remedies that change one output only (its loss,
its targets' scale, class weights, which Keras does not take for several outputs), and a
symptom no cause explains (the differential diagnosis runs for one output only).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from mlflow_sanity.adapters.keras.heads import name_findings
from mlflow_sanity.adapters.keras.inputs import FitCall, FitData
from mlflow_sanity.adapters.keras.proofs import (
    REBALANCED,
    _announce,
    _clonable,
    _log_runs,
    _proof_of,
    _trial_seeds,
    bench_of,
    candidates,
    plan,
)
from mlflow_sanity.adapters.keras.remedies import head_rows
from mlflow_sanity.adapters.rng import preserved_random_state
from mlflow_sanity.checks import CheckOptions, Context
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.proof_budget import ProofSettings
from mlflow_sanity.core.proofs import not_run
from mlflow_sanity.core.task import SINGLE_LABEL
from mlflow_sanity.pipeline import build_report

_log = logging.getLogger(__name__)

ONE_OUTPUT_ONLY = (
    "the remedy changes one output (its loss, its targets' scale or class weights); "
    "experiments per output test whole-model remedies only"
)


def prove_heads(
    model: Any,
    call: FitCall,
    data: FitData | None,
    contexts: Mapping[str, Context],
    report: Report,
    config: CheckOptions,
    run_id: str | None,
    settings: ProofSettings | None = None,
) -> Report:
    """``proofs.prove`` for a multi-output model: the flagged causes of each output tested
    on that output's scores, the report re-judged head by head with their proofs."""
    from mlflow_sanity.adapters.keras import proofs

    settings = settings or proofs.SETTINGS
    wanted = candidates(report, call)
    if not wanted or not contexts or settings.mode is False:
        return report
    # the report stands without its experiments (a bug of ours: strict re-raises)
    with Caught(Origin.OURS, "cause experiments") as caught, preserved_random_state():
        found, runs = _run(model, call, data, contexts, report, run_id, settings)
    if (exc := caught.error) is not None:
        _log.warning("mlflow-sanity: cause experiments failed: %s", exc, exc_info=exc)
        why = f"the experiment failed ({type(exc).__name__})"
        found = {f.id: {**not_run(f.id, why), "output": _head(report, f.id)} for f in wanted}
        runs = {}
    if not found:
        return report
    report.findings = _rejudge(report, contexts, found, config)
    report.inputs["proofs"] = {fid: p.get("verdict") for fid, p in found.items()}
    _announce(report, found, runs, run_id)
    return report


def _head(report: Report, finding: str) -> str | None:
    f = report.get(finding)
    return f.evidence.get("output") if f is not None else None


def _run(
    model: Any,
    call: FitCall,
    data: FitData | None,
    contexts: Mapping[str, Context],
    report: Report,
    run_id: str | None,
    settings: ProofSettings,
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    from mlflow_sanity.tracking.proofs import quiet_autologging

    first = next(iter(contexts.values()))
    lr = first.model.learning_rate if first.model is not None else None
    trials = plan(report, call, model, lr)
    for t in trials:
        t.head = _head(report, t.cause)
        ctx = contexts.get(t.head) if t.head is not None else None
        if t.reached is not None:  # without a symptom: what this output itself reached
            t.reached = ctx.eval.metrics.get("balanced_accuracy") if ctx and ctx.eval else None
    bench = _bench(model, call, data, contexts, first, settings)
    if isinstance(bench, str):
        return {t.cause: {**not_run(t.cause, bench), "output": t.head} for t in trials}, {}
    scored = bench.rows.heads or {}
    for t in trials:
        if t.head not in scored:
            t.why_not = t.why_not or (
                f"the labels or outputs of output '{t.head}' could not be read by name"
            )
        elif t.remedy.loss or t.remedy.standardise_targets or t.remedy.balanced:
            t.why_not = ONE_OUTPUT_ONLY
    with quiet_autologging():
        _trial_seeds(bench, [t for t in trials if not t.why_not])
    done = {t.cause: t for t in trials if t.trained or t.cause != REBALANCED}
    found = {c: {**_proof_of(bench, t), "output": t.head} for c, t in done.items()}
    return _log_runs(run_id, bench, done, found)


def _bench(
    model: Any,
    call: FitCall,
    data: FitData | None,
    contexts: Mapping[str, Context],
    first: Context,
    settings: ProofSettings,
):
    """The shared state of every output's experiments, or why none can run."""
    if why := _clonable(model):
        return why
    classes = {h: c.task is None or c.task in SINGLE_LABEL for h, c in contexts.items()}
    rows = head_rows(data, classes) if data is not None else None
    if rows is None:
        return "the training rows could not be read by output name (labels as a dict)"
    specs = {h: c.model for h, c in contexts.items()}
    return bench_of(model, call, first, rows, specs, settings)


def _rejudge(
    report: Report,
    contexts: Mapping[str, Context],
    found: Mapping[str, dict[str, Any]],
    config: CheckOptions,
) -> list:
    """Each output's checks again, with the proofs about it, merged as ``judge_heads``
    merges them (a finding id keeps its worst verdict); the row checks' findings stand."""
    by_head = []
    for name, ctx in contexts.items():
        ctx.proofs = {c: p for c, p in found.items() if p.get("output") == name}
        judged = build_report(ctx, options=config, provenance=report.provenance)
        by_head.append(name_findings(Report(judged.findings), name))
    report.inputs["heads"] = {  # as ``judge_heads`` wrote it, with the proofs' grades
        str(name): {
            "model": ctx.model.to_dict() if ctx.model else None,
            "status": judged.status,
            "flagged": judged.flagged_ids,
        }
        for (name, ctx), judged in zip(contexts.items(), by_head, strict=True)
    }
    rows = Report([f for f in report.findings if "output" not in f.evidence])
    return functools.reduce(Report.merge, [*by_head, rows]).findings

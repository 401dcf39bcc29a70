"""After the checks of a fit: prove its causes, remember it for later evaluates, publish."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mlflow_sanity.adapters.keras.analyse import analyse
from mlflow_sanity.adapters.keras.inputs import FitCall
from mlflow_sanity.adapters.keras.memory import FitMemory, remember
from mlflow_sanity.checks import CheckOptions
from mlflow_sanity.core.findings import Finding, Report, Severity
from mlflow_sanity.core.regression import TargetStats


def _validation_accuracy(report: Report) -> float | None:
    """The accuracy a fit's report measured on its validation rows (not its training rows)."""
    if report.provenance.evaluated_on != "validation data":
        return None
    value = report.metrics.get("accuracy")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _fit_causes(report: Report) -> tuple[Finding, ...]:
    """The fit's cause findings a later evaluate may re-link (``memory.FitMemory.causes``)."""
    from mlflow_sanity.checks import REGISTRY

    return tuple(
        f
        for f in report.findings
        if f.id in REGISTRY and REGISTRY[f.id].needs_symptom and f.severity is not Severity.PASSED
    )


def _training_targets(found: Any) -> TargetStats | None:
    """A regressor fit's training targets, for the baseline of its later evaluates."""
    r = found.context.regression if found.context is not None else None
    return r.train if r is not None else None


def check_and_log(
    model: Any,
    history: Mapping[str, list[float]],
    call: FitCall,
    config: CheckOptions,
    run_id: str,
) -> Report:
    """Analyse one finished fit, log it (on the run, and on the LoggedModel MLflow's Keras
    autolog created for it), and remember it for the model's evaluate calls."""
    from mlflow_sanity.adapters.keras.head_proofs import prove_heads
    from mlflow_sanity.adapters.keras.proofs import prove
    from mlflow_sanity.tracking.models import fit_model_id
    from mlflow_sanity.tracking.publish import Target, publish

    found = analyse(model, history, call, config)
    if found.heads:  # several outputs: each output's causes judged on its own scores
        found.report = prove_heads(
            model, call, found.data, found.heads, found.report, config, run_id
        )
    else:
        found.report = prove(model, call, found.data, found.context, found.report, config, run_id)
    model_id = fit_model_id(run_id)
    remember(
        model,
        FitMemory(
            run_id,
            found.fingerprints.get("train"),
            found.fingerprints.get("validation"),
            found.report.model_selection,
            model_id,
            _validation_accuracy(found.report),
            causes=_fit_causes(found.report),
            targets=_training_targets(found),
        ),
    )
    target = Target(run_id, model_id)
    return publish(found.report, found.files, target, what="fit", digests=found.digests or None)

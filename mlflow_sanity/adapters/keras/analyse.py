"""The two Keras entry points as the same four steps: read rows, predict, judge, files.

``analyse`` (a finished ``fit``) and ``analyse_evaluate`` (one ``model.evaluate``) each
read the rows the call saw, predict once per head on them, build each head's context and
the rows' context, and hand both to the one head loop (``heads.judge_heads``). What was
missing, and why, goes into ``Context.missing``, from which the registry writes the
report's not-checked records. Tracking, memory and experiments are ``record.py``'s.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras import fit_facts
from mlflow_sanity.adapters.keras.cause_data import with_cause_data
from mlflow_sanity.adapters.keras.describe import keras_normalization_stats
from mlflow_sanity.adapters.keras.heads import (
    CallHeads,
    Head,
    Heads,
    Seen,
    call_heads,
    head_context,
    head_files,
    head_labels,
    head_outputs,
    head_predictions,
    judge_heads,
    row_labels,
)
from mlflow_sanity.adapters.keras.inputs import (
    EvaluateCall,
    FitCall,
    FitData,
    Rows,
    is_readable,
    n_rows,
    read_rows,
)
from mlflow_sanity.adapters.keras.memory import FitMemory
from mlflow_sanity.adapters.keras.predict import Captured
from mlflow_sanity.adapters.keras.probes import complete_probe
from mlflow_sanity.adapters.keras.regression import target_stats
from mlflow_sanity.checks import CheckOptions, Context
from mlflow_sanity.checks.leakage.overlap import Lookup, begin_lookup, start_train_match
from mlflow_sanity.core.boundary import Caught, Origin, attempt
from mlflow_sanity.core.findings import Provenance, Report
from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.splits import Split
from mlflow_sanity.core.task import Task

# Not-checked reasons (``Context.missing``): what the coverage tag says, per call.
VALIDATION_UNKNOWN = "validation data (a kind that cannot be read without consuming it)"
VALIDATION_UNREADABLE = "validation data (not readable)"
VALIDATION_UNJUDGED = "evaluation-set checks on the validation data (no class predictions)"
TRAINING_UNREADABLE = "training data (not readable): leakage and label-shift checks"
NO_FINGERPRINT = "training fingerprint (later leakage checks)"
EVALUATED_UNREADABLE = "the evaluated data (not readable)"
EVALUATED_UNJUDGED = "evaluation-set checks (no class predictions)"
NO_FIT = "leakage checks (no fit of this model in this process)"
FIT_NOT_FINGERPRINTED = "leakage checks (the fit's training data could not be fingerprinted)"


@dataclass
class Analysis:
    """One report with its artifact files, and the fingerprints a later evaluate needs."""

    report: Report
    files: dict[str, bytes]
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # config / data, for run groups
    # What the checks saw, for the cause experiments that re-judge the report (one model)
    context: Context | None = field(default=None, repr=False)
    data: FitData | None = field(default=None, repr=False)
    heads: dict[Any, Context] | None = field(default=None, repr=False)  # several outputs


# -- fit ----------------------------------------------------------------------------------


def analyse(
    model: Any, history: Mapping[str, list[float]], call: FitCall, config: CheckOptions
) -> Analysis:
    """Read inputs, describe, predict, check: the report and artifact files of one fit."""
    data = FitData.from_call(call, history)
    complete_probe(call, data.x_train, data.y_train)  # probes that waited for these rows
    heads = call_heads(model, config, data.y_train, data.x_train, data.notes)
    outputs, failed = _fit_outputs(model, heads, data, call)
    seen = _validation_seen(data, outputs, failed)
    head = functools.partial(_fit_head, model, seen=seen, history=history, call=call, data=data)
    contexts = {name: head(one) for name, one in heads.heads.items()}
    first = next(iter(contexts.values()))
    specs = heads.specs
    keyed = replace(
        data, y_train=row_labels(data.y_train, specs), y_val=row_labels(data.y_val, specs)
    )
    fingerprints, failure = fit_facts.fingerprints(keyed)
    rows = Context(
        # the validation rows against the training rows: copies or a scaler fitted on both
        # make the validation score optimistic (and clear an honest perfect score)
        test=Split(data.x_val, keyed.y_val, "validation data") if data.val_readable else None,
        fingerprint=fingerprints.get("train"),
        normalization=keras_normalization_stats(model),
        missing=_fit_rows_missing(data, failure),
    )
    inputs: dict[str, Any] = {"notes": data.notes}
    if heads.single:
        inputs.update(model=first.model.to_dict(), fit=first.fit.to_dict())
    probed = next((c.fit.probes for c in contexts.values() if c.fit.probes), None)
    if probed is not None:  # the probes measure the whole model, once
        inputs["probes"] = probed.to_dict()
    if failure:
        inputs["fingerprint"] = failure
    on_training = any(c.eval_on == "training" for c in contexts.values())  # no validation
    where = "training data" if on_training else "validation data"
    origin = Provenance(source=call.source, call="fit", evaluated_on=where)
    judged = judge_heads(contexts, rows, options=config, provenance=origin, inputs=inputs)
    report = judged.report
    if first.fit.monitors:  # carried to the model's evaluations (``FitMemory``)
        report.model_selection = fit_facts.model_selection(first.fit)
    _add_training_metrics(report)
    files = fit_facts.learning_curves(history, first.fit)
    if not on_training:
        files.update(head_files(contexts, prefix="validation_"))
    for role, fp in fingerprints.items():
        files.update(fp.to_files(role))
    digests = fit_facts.run_digests(model, first.model, first.fit, call, fingerprints)
    if digests:
        report.inputs["digests"] = digests
    single = judged.contexts.get(None)
    heads = None if single else judged.contexts
    return Analysis(report, files, fingerprints, digests, single, data, heads)


def _fit_outputs(
    model: Any, heads: CallHeads, data: FitData, call: FitCall
) -> tuple[dict[Any, np.ndarray], bool]:
    """Each head's outputs on the validation rows (none when nothing would read them:
    ``CallHeads.predicted``), and whether the forward pass failed."""
    if not data.val_readable or not heads.predicted:
        return {}, False
    return forward(model, heads.specs, data.x_val, call.batch_size, data.notes)


def forward(
    model: Any, heads: Mapping[Any, Any], x: Any, batch_size: int | None, notes: list[str]
) -> tuple[dict[Any, np.ndarray], bool]:
    """Each head's outputs on ``x``, and whether the forward pass failed. The user's model
    raising in our forward pass is missing evidence (a note; the configuration and history
    checks still run), not our error (``core/boundary.py``, ``Origin.MODEL``)."""
    with Caught(Origin.MODEL, "forward pass") as caught:
        return head_outputs(model, heads, x, batch_size), False
    notes.append(f"the model's predictions could not be computed ({caught.raised})")
    return {}, True


def _fit_head(
    model: Any,
    head: Head,
    seen: Seen,
    history: Mapping[str, list[float]],
    call: FitCall,
    data: FitData,
) -> Context:
    """One head of a fit (``heads.head_context``): its validation predictions, its
    FitSpec with the cause evidence, and its evaluation (on the training rows when fit had
    no validation)."""
    name, task = head.name, head.task
    one = replace(
        data, y_train=head_labels(data.y_train, name), y_val=head_labels(data.y_val, name)
    )
    outputs = seen.outputs.get(name)
    if outputs is not None and head.spec.output_units is None:  # subclassed: learn the shape
        units = int(outputs.shape[-1]) if outputs.ndim > 1 else 1
        head = replace(head, spec=replace(head.spec, output_units=units, output_rank=outputs.ndim))
    spec = head.spec
    preds = head_predictions(model, head, seen)
    train_preds = None
    if name is None:
        # the dropout note is optional; the other checks still count
        with Caught(Origin.MODEL, "training sample") as caught:
            train_preds = fit_facts.training_sample(model, spec, data, call)
        if caught.failed:
            data.notes.append(f"the model's predictions could not be computed ({caught.raised})")
    fit = fit_facts.fit_spec(call, one, spec, history, preds, train_preds)
    # the inputs are the whole model's: each head's causes read their statistics (a head
    # that got stuck names them; one that learned gets the advice)
    fit = with_cause_data(fit, model, call, data.x_train, one.y_train)
    targets = target_stats(one.y_train) if task.task is Task.REGRESSION else None
    ctx = head_context(
        head,
        preds,
        fit.labels,
        seen,
        targets,
        eval_on="validation",
        history=history or None,
        fit=fit,
    )
    if name is None and preds is None and data.validation == "none" and task.judged:
        evaluation = fit_facts.training_evaluation(
            model, spec, task.task, fit, data, call, targets, head.names
        )
        ctx = replace(ctx, **evaluation, eval_on="training") if evaluation else ctx
    return ctx


def _validation_seen(data: FitData, outputs: dict[Any, np.ndarray], failed: bool) -> Seen:
    """The validation rows as the fit's heads are judged on them, and why they may not be."""
    return Seen(
        data.x_val,
        data.y_val,
        data.sw_val,
        outputs,
        read=data.val_readable,
        failed=failed,
        unread=_validation_gap(data),
        unjudged=VALIDATION_UNJUDGED,
    )


def _validation_gap(data: FitData) -> str | None:
    """Why validation data given to fit could not be read (None when it was, or none was given)."""
    if data.validation == "unknown":
        return VALIDATION_UNKNOWN
    if data.validation in ("validation_data", "validation_split") and not data.val_readable:
        return VALIDATION_UNREADABLE
    return None


def _fit_rows_missing(data: FitData, failure: str) -> dict[str, str]:
    """Why the rows' evidence of a fit is missing, when it should have been there."""
    gap = _validation_gap(data)
    missing = {"test": gap} if gap else {}
    if not data.train_readable:
        missing["fingerprint"] = TRAINING_UNREADABLE
    elif failure:
        missing["fingerprint"] = NO_FINGERPRINT
    return missing


def _add_training_metrics(report: Report) -> None:
    for finding_id, key, metric in (
        ("overfitting", "gap", "train_val_accuracy_gap"),
        ("label_shift", "total_variation_distance", "label_shift_distance"),
    ):
        f = report.get(finding_id)
        value = f.evidence.get(key) if f is not None else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            report.metrics[metric] = float(value)


# -- model.evaluate -------------------------------------------------------------------------


_LOOKUP = "mlflow-sanity-lookup"  # the lookup thread's name
EVALUATED_ROWS = "model.evaluate data"  # the evaluated split's name, in findings too


@dataclass
class Begun:
    """What a ``model.evaluate`` of in-memory rows starts before Keras' own pass: the rows,
    read once, and their lookup in the fit's training fingerprint on a second thread. The
    lookup only reads the arrays and both hashing passes release the GIL, so it runs
    beside Keras' forward pass (on 2 cores it hides about a third of its time, see
    docs/performance-scale.md) instead of after it. ``close`` when the user's call failed."""

    rows: Rows
    note: str
    lookup: Lookup
    pool: ThreadPoolExecutor

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def begin_evaluate(
    call: EvaluateCall, config: CheckOptions, memory: FitMemory | None
) -> Begun | None:
    """Begin the rows' lookup for ``analyse_evaluate`` where it is one array of labels
    against the fit's training fingerprint (a one-output model's labels are the rows'
    labels as given; ``start_train_match`` uses it only if the rows' context turns out to
    hold the same features and labels). None otherwise: the lookup then starts beside the
    metrics."""
    train = memory.train if memory is not None else None
    if train is None or "train_test_overlap" in config.disable or not is_readable(call.x):
        return None
    rows, note = read_rows(call.x, call.y, call.sample_weight)
    if rows is None or not isinstance(rows.y, np.ndarray):
        return None
    pool = ThreadPoolExecutor(1, thread_name_prefix=_LOOKUP)
    lookup = begin_lookup(train, Split(rows.x, rows.y, EVALUATED_ROWS), pool)
    return Begun(rows, note, lookup, pool)


def analyse_evaluate(
    model: Any,
    call: EvaluateCall,
    returned: Mapping[str, float],
    config: CheckOptions,
    memory: FitMemory | None,
    captured: Captured | None = None,
    begun: Begun | None = None,
) -> Analysis:
    """One ``model.evaluate``: the evaluation-set checks on the evaluated rows, Keras'
    returned metrics against scikit-learn, and leakage against what ``fit`` remembered.
    ``captured``: the outputs of Keras' own pass, when kept (no second forward pass);
    ``begun``: the rows and their lookup, when begun before that pass."""
    if begun is not None:
        rows, note = begun.rows, begun.note
    else:
        rows, note = read_rows(call.x, call.y, call.sample_weight)
    n = n_rows(rows.x) if rows is not None else None
    notes = [note] if note else []
    memory = memory or FitMemory(None)
    heads = call_heads(model, config, rows.y if rows else None, rows.x if rows else None, notes)
    outputs, failed = _evaluate_outputs(model, heads, rows, n, call, captured, notes)
    if rows is None:
        seen = Seen(unread=EVALUATED_UNREADABLE)
    else:  # the weights of one output (several outputs' are not read apart)
        weights = rows.sample_weight if heads.single else None
        seen = Seen(
            rows.x, rows.y, weights, outputs, read=True, failed=failed, unjudged=EVALUATED_UNJUDGED
        )
    inputs: dict[str, Any] = {
        "evaluate": {"rows": n, "notes": notes},
        "returned": dict(returned),
    }
    if heads.single:
        inputs["model"] = heads.specs[None].to_dict()
    origin = Provenance(source="model.evaluate", call="model.evaluate", evaluated_on=EVALUATED_ROWS)
    row_ctx = _evaluate_rows(model, rows, heads.specs, memory)
    # the rows' lookup in the training fingerprint (compiled or NumPy: both release the
    # GIL) runs on a second thread, begun before Keras' pass (``begin_evaluate``) or now,
    # while this one computes each head's metrics; the checks then read that one lookup
    # (``Context.measure``) as they would have computed it
    early = begun.lookup if begun is not None else None
    pool = begun.pool if begun is not None else ThreadPoolExecutor(1, thread_name_prefix=_LOOKUP)
    with pool:
        if "train_test_overlap" not in config.disable:
            start_train_match(row_ctx, pool, early)
        contexts = {
            name: _evaluate_head(model, head, seen, returned, memory)
            for name, head in heads.heads.items()
        }
        judged = judge_heads(contexts, row_ctx, options=config, provenance=origin, inputs=inputs)
    files = head_files(contexts)
    # the evaluated rows in the training columns, if the leakage checks computed them:
    # the fit's memory keeps them for the union of splits a later evaluate is compared with
    evaluated = judged.report.evaluated_split
    fingerprints = {"evaluate": evaluated} if evaluated is not None else {}
    return Analysis(judged.report, files, fingerprints)


def _evaluate_head(
    model: Any, head: Head, seen: Seen, returned: Mapping[str, float], memory: FitMemory
) -> Context:
    """One head of a ``model.evaluate`` (``heads.head_context``): its labels and outputs on
    the evaluated rows, its task's evidence (a regressor's baseline: the fit's targets),
    and Keras' returned metrics to compare with."""
    preds = head_predictions(model, head, seen)
    return head_context(
        head,
        preds,
        None,  # the evaluated rows' own labels decide (``heads.classification_of``)
        seen,
        memory.targets,
        evaluated=dict(returned) if preds is not None else None,
        evaluated_outputs=preds,
    )


def _evaluate_rows(model: Any, rows: Any, heads: Heads, memory: FitMemory) -> Context:
    """The evaluated rows against what the model's fit remembered (leakage, scaling)."""
    test = None if rows is None else Split(rows.x, row_labels(rows.y, heads), EVALUATED_ROWS)
    return Context(
        test=test,
        fingerprint=memory.train,
        validation_fingerprint=memory.validation,
        model_selection=memory.model_selection,
        normalization=keras_normalization_stats(model),
        fit_validation_accuracy=memory.validation_accuracy,
        seen_splits=memory.seen_splits() or None,
        missing=_evaluate_rows_missing(rows is None, memory),
    )


def _evaluate_outputs(
    model: Any,
    heads: CallHeads,
    rows: Any,
    n: int | None,
    call: EvaluateCall,
    captured: Captured | None,
    notes: list[str],
) -> tuple[dict[Any, np.ndarray], bool]:
    """Each head's outputs on the evaluated rows (when some check reads them:
    ``CallHeads.predicted``): those of Keras' own pass when they were kept (one forward
    pass), else our own pass; and whether that pass failed. ``n``: the rows' count."""
    if rows is None or n is None or not heads.predicted:
        return {}, False
    single = heads.single
    kept = captured.outputs(n) if captured is not None and single else None
    if kept is not None:
        return {None: kept}, False
    if rows.y is None:
        return {}, False
    return forward(model, heads.specs, rows.x, call.batch_size, notes)


def _evaluate_rows_missing(unreadable: bool, memory: FitMemory) -> dict[str, str]:
    missing = {"test": EVALUATED_UNREADABLE} if unreadable else {}
    if memory.run_id is None:
        missing["fingerprint"] = NO_FIT
    elif memory.train is None:  # the fit ran here but its training rows left no fingerprint
        missing["fingerprint"] = FIT_NOT_FINGERPRINTED
    return missing


def returned_metrics(model: Any, result: Any) -> dict[str, float]:
    """What ``evaluate`` returned, by metric name, whatever its shape (scalar, list, dict).

    The model's metric state after the call holds exactly the returned values under
    their names; Keras' flattened list order is only a fallback.
    """
    # an older or custom model: its return value still names the metrics
    values = attempt(lambda: dict(model.get_metrics_result()), {}, Origin.OUTSIDE)
    if not values and isinstance(result, Mapping):
        values = dict(result)
    if not values:
        flat = result if isinstance(result, (list, tuple)) else [result]
        values = dict(zip(getattr(model, "metrics_names", []) or [], flat, strict=False))
    out = {}
    for name, value in values.items():
        try:
            out[str(name)] = float(np.asarray(value))
        except (TypeError, ValueError):
            continue
    return out

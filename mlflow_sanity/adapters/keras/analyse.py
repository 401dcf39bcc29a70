"""Predict and analyse: one forward pass over the rows a fit saw, then the shared pipeline."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras.describe import (
    callback_specs,
    describe_heads,
    describe_model,
    keras_normalization_stats,
)
from mlflow_sanity.adapters.keras.inputs import (
    EvaluateCall,
    FitCall,
    FitData,
    Rows,
    n_rows,
    read_rows,
    take_rows,
)
from mlflow_sanity.adapters.keras.memory import FitMemory
from mlflow_sanity.adapters.keras.predict import predict_heads, predict_outputs
from mlflow_sanity.adapters.keras.probes import complete_probe, with_cause_data
from mlflow_sanity.checks import CheckOptions, Context
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    LabelSummary,
    ModelSpec,
    Predictions,
    label_indices,
    summarize_labels,
)
from mlflow_sanity.core.metrics import Classification, InputError, classify
from mlflow_sanity.core.predictions import outputs_to_proba
from mlflow_sanity.core.splits import ModelSelection, Split
from mlflow_sanity.pipeline import build_report

_log = logging.getLogger(__name__)

_NO_FIT = "no fit of this model in this process: leakage checks skipped"
_TRAIN_SAMPLE_ROWS = 2000  # rows of training data re-predicted for the dropout note
TRAIN_CHECK_ROWS = 20_000  # training rows predicted to judge a fit without validation data


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


def analyse(
    model: Any, history: Mapping[str, list[float]], call: FitCall, config: CheckOptions
) -> Analysis:
    """Read inputs, describe, predict, check: the report and artifact files of one fit."""
    data = FitData.from_call(call, history)
    complete_probe(call, data.x_train, data.y_train)  # probes that waited for these rows
    heads = describe_heads(model)
    if heads:
        return _analyse_heads(model, heads, history, call, data, config)
    spec, val_preds, train_preds = _predict_fit(model, describe_model(model), data, call)
    fit = _fit_spec(call, data, spec, history, val_preds, train_preds)
    fit = with_cause_data(fit, model, call, data.x_train, data.y_train)
    evaluation, eval_on = _validation_classification(spec, fit, val_preds), "validation"
    if evaluation is None and data.validation == "none":
        evaluation, eval_on = _training_classification(model, spec, fit, data, call), "training"
    inputs: dict[str, Any] = {"source": call.source, "model": spec.to_dict(), "fit": fit.to_dict()}
    if fit.probes is not None:
        inputs["probes"] = fit.probes.to_dict()
    fingerprints, failure = _fingerprints(data)
    if failure:
        inputs["fingerprint"] = failure
    ctx = Context(
        eval=evaluation,
        eval_on=eval_on,
        model=spec,
        history=history or None,
        fit=fit,
        # the validation rows against the training rows: copies or a scaler fitted on both
        # make the validation score optimistic (and clear an honest perfect score)
        test=Split(data.x_val, data.y_val, "validation data") if data.val_readable else None,
        fingerprint=fingerprints.get("train"),
        normalization=keras_normalization_stats(model),
    )
    if fit.monitors:
        inputs["model_selection"] = _model_selection(fit).to_dict()
    report = build_report(ctx, options=config, source="autolog", inputs=inputs)
    if evaluation is not None:
        report.inputs["evaluated_on"] = f"{eval_on} data"
    _add_training_metrics(report)
    files = _fit_files(history, fit, evaluation if eval_on == "validation" else None)
    for role, fp in fingerprints.items():
        files.update(fp.to_files(role))
    digests = run_digests(model, spec, fit, call, fingerprints)
    if digests:
        report.inputs["digests"] = digests
    return Analysis(report, files, fingerprints, digests, ctx, data)


def _keras_config(obj: Any) -> Any:
    try:
        return obj.get_config()
    except Exception:  # a subclassed model without get_config: its ModelSpec stands in
        return None


def run_digests(
    model: Any, spec: ModelSpec, fit: FitSpec, call: FitCall, fingerprints: Mapping[str, Any]
) -> dict[str, str]:
    """``config``: architecture + compile settings + fit settings, everything but the seed;
    ``data``: the training (and validation) rows' fingerprints. Equal digests = the same
    experiment run again, so the runs' spread is seed noise."""
    from mlflow_sanity.core.run_digest import stable_digest

    out: dict[str, str] = {}
    try:
        architecture = _keras_config(model) or [
            (layer.class_name, layer.activation, layer.units) for layer in spec.layers
        ]
        compiled = {
            "loss": spec.loss,
            "from_logits": spec.from_logits,
            "metrics": [(m.requested, m.variant, m.weighted, m.threshold) for m in spec.metrics],
            "optimizer": _keras_config(getattr(model, "optimizer", None))
            or [spec.optimizer, spec.learning_rate],
        }
        settings = {
            "epochs": call.epochs,
            "batch_size": call.batch_size,
            "validation": fit.validation,
            "validation_split": fit.validation_split,
            "validation_freq": fit.validation_freq,
            "class_weight": fit.to_dict().get("class_weight"),
            "sample_weight": fit.sample_weight,
            "callbacks": [
                (cb.class_name, cb.monitor, cb.restore_best_weights, cb.save_best_only)
                for cb in fit.callbacks
            ],
            "other_callbacks": list(fit.other_callbacks),
        }
        out["config"] = stable_digest({"model": architecture, "compile": compiled, "fit": settings})
    except Exception as exc:  # grouping is optional; the checks still count
        _log.info("mlflow-sanity: no config digest: %s", exc)
    train = fingerprints.get("train")
    if train is not None:
        val = fingerprints.get("validation")
        out["data"] = stable_digest(
            {"train": train.digest, "validation": val.digest if val is not None else None}
        )
    return out


def _analyse_heads(
    model: Any,
    heads: Mapping[str, ModelSpec],
    history: Mapping[str, list[float]],
    call: FitCall,
    data: FitData,
    config: CheckOptions,
) -> Analysis:
    """A multi-output model: each classification head is checked on its own outputs and
    labels, with its own activation, loss and metrics; findings name the head."""
    outputs: dict[str, np.ndarray] = {}
    if data.val_readable:
        try:
            outputs = predict_heads(model, data.x_val, call.batch_size)
        except Exception as exc:  # the configuration and history checks still run
            data.notes.append(f"the model's predictions could not be computed ({exc})")
    reports, files, described = [], {}, {}
    probed = None
    for name, spec in heads.items():
        one = replace(
            data, y_train=head_labels(data.y_train, name), y_val=head_labels(data.y_val, name)
        )
        out = outputs.get(name)
        preds = (
            Predictions(one.y_val, out, data.sw_val)
            if out is not None and one.y_val is not None
            else None
        )
        fit = _fit_spec(call, one, spec, history, preds, None)
        fit = with_cause_data(fit, model, call, None, one.y_train)  # the head's labels
        probed = fit.probes or probed  # the probes measure the whole model, once
        evaluation = classification_of(spec, preds, fit.labels) if spec.is_classifier else None
        ctx = Context(eval=evaluation, model=spec, history=history or None, fit=fit)
        report = build_report(ctx, options=config, source="autolog")
        reports.append(name_findings(report, name))
        described[name] = {
            "model": spec.to_dict(),
            "status": report.status,
            "flagged": report.flagged_ids,
        }
        if evaluation is not None:
            from mlflow_sanity.report import classification_files

            files.update(classification_files(evaluation, prefix=f"validation_{name}_"))
    unlabelled = replace(data, y_train=None, y_val=None, y_all=None)
    fit0 = _fit_spec(call, unlabelled, next(iter(heads.values())), history, None, None)
    first = _first_classifier(heads)
    keyed = replace(
        data, y_train=head_labels(data.y_train, first), y_val=head_labels(data.y_val, first)
    )
    fingerprints, failure = _fingerprints(keyed)
    memory = FitMemory(None, fingerprints.get("train"))
    val = Split(data.x_val, keyed.y_val, "validation data") if data.val_readable else None
    reports.append(_input_checks(model, val, memory, config, "autolog"))
    merged = functools.reduce(Report.merge, reports)
    merged.inputs.update({"source": call.source, "heads": described, "notes": data.notes})
    if probed is not None:
        merged.inputs["probes"] = probed.to_dict()
    merged.inputs["heads_leakage"] = _inputs_note(first)
    if failure:
        merged.inputs["fingerprint"] = failure
    if fit0.monitors:
        merged.inputs["model_selection"] = _model_selection(fit0).to_dict()
    files.update(_fit_files(history, fit0, None))
    for role, fp in fingerprints.items():
        files.update(fp.to_files(role))
    return Analysis(merged, files, fingerprints)


def _first_classifier(heads: Mapping[str, ModelSpec]) -> str | None:
    """The output whose labels stand for the rows' class in the input checks (the first
    classification head; duplicates and overlap are about the inputs either way)."""
    return next((name for name, spec in heads.items() if spec.is_classifier), None)


def _inputs_note(first: str | None) -> str:
    labelled = f"with the labels of output '{first}'" if first else "without labels"
    return f"once on the model's inputs, {labelled}"


def _input_checks(
    model: Any, test: Split | None, memory: FitMemory, config: CheckOptions, source: str
) -> Report:
    """The checks about rows rather than outputs (leakage against the fit's training rows,
    duplicates, a feature that gives the label away), once for a multi-output model."""
    ctx = Context(
        test=test,
        fingerprint=memory.train,
        validation_fingerprint=memory.validation,
        model_selection=memory.model_selection,
        normalization=keras_normalization_stats(model),
        seen_splits=memory.seen_splits() or None,
    )
    return build_report(ctx, options=config, source=source)


def _evaluate_heads(
    model: Any,
    heads: Mapping[str, ModelSpec],
    call: EvaluateCall,
    rows: Rows | None,
    returned: Mapping[str, float],
    config: CheckOptions,
    notes: list[str],
    memory: FitMemory,
) -> Analysis:
    """``model.evaluate`` of a multi-output model: the evaluation-set checks and the
    returned metrics per classification head, the input checks once."""
    outputs: dict[str, np.ndarray] = {}
    if rows is not None and rows.y is not None:
        try:
            outputs = predict_heads(model, rows.x, call.batch_size)
        except Exception as exc:
            notes.append(f"the model's predictions could not be computed ({exc})")
    reports, described = [], {}
    for name, spec in heads.items():
        y = head_labels(rows.y, name) if rows is not None else None
        out = outputs.get(name)
        preds = Predictions(y, out) if y is not None and out is not None else None
        labels = summarize_labels(y, None, spec.output_units) if preds is not None else None
        evaluation = classification_of(spec, preds, labels) if spec.is_classifier else None
        ctx = Context(
            eval=evaluation,
            model=spec,
            evaluated=dict(returned) if preds is not None else None,
            evaluated_outputs=preds,
        )
        report = build_report(ctx, options=config, source="model.evaluate")
        reports.append(name_findings(report, name))
        described[name] = {"status": report.status, "flagged": report.flagged_ids}
    first = _first_classifier(heads)
    test = (
        Split(rows.x, head_labels(rows.y, first), "model.evaluate data")
        if rows is not None
        else None
    )
    reports.append(_input_checks(model, test, memory, config, "model.evaluate"))
    merged = functools.reduce(Report.merge, reports)
    merged.inputs.update(
        {"source": "model.evaluate", "heads": described, "returned": dict(returned)}
    )
    merged.inputs["heads_leakage"] = _inputs_note(first)
    if memory.run_id is None:
        merged.inputs["leakage"] = _NO_FIT
    merged.inputs["evaluate"] = {
        "rows": n_rows(rows.x) if rows is not None else None,
        "notes": notes,
    }
    return Analysis(merged, {})


def head_labels(y: Any, name: str) -> Any:
    """One head's labels out of labels given by output name (None when not given so)."""
    return y.get(name) if isinstance(y, Mapping) else None


def name_findings(report: Report, head: str) -> Report:
    """A head's report with every finding naming the output it is about."""
    report.findings = [
        replace(f, message=f"Output '{head}': {f.message}", evidence={**f.evidence, "output": head})
        for f in report.findings
    ]
    return report


def _model_selection(fit: FitSpec) -> ModelSelection:
    return ModelSelection(
        tuple(fit.monitors), tuple(cb.class_name for cb in fit.callbacks if cb.monitor)
    )


def _training_classification(
    model: Any, spec: ModelSpec, fit: FitSpec, data: FitData, call: FitCall
) -> Classification | None:
    """Without validation data, the model's predictions on (a sample of) its own training
    rows: a model that predicts one class for the data it was fitted on is still caught."""
    if data.x_train is None or data.y_train is None or not spec.is_classifier:
        return None
    if spec.n_outputs != 1:
        return None
    n = n_rows(data.x_train)
    rows = np.unique(np.linspace(0, n - 1, min(n, TRAIN_CHECK_ROWS)).astype(np.int64))
    try:
        outputs = predict_outputs(model, take_rows(data.x_train, rows), call.batch_size)
    except Exception as exc:  # the configuration and history checks still run
        _log.info("mlflow-sanity: training predictions not checked: %s", exc)
        return None
    return _validation_classification(spec, fit, Predictions(data.y_train[rows], outputs))


def _predict_fit(
    model: Any, spec: ModelSpec, data: FitData, call: FitCall
) -> tuple[ModelSpec, Predictions | None, Predictions | None]:
    """Outputs on the validation rows, and on a training sample when dropout or the like
    makes Keras' running training metrics differ from inference (the dropout note)."""
    val_preds = train_preds = None
    try:
        if data.val_readable and spec.n_outputs == 1 and spec.is_classifier:
            outputs = predict_outputs(model, data.x_val, call.batch_size)
            if spec.output_units is None:  # subclassed model: learn the shape from outputs
                units = int(outputs.shape[-1]) if outputs.ndim > 1 else 1
                spec = replace(spec, output_units=units, output_rank=outputs.ndim)
            val_preds = Predictions(data.y_val, outputs, data.sw_val)
        if data.train_readable and spec.stochastic_layers and spec.accuracy_metrics:
            n = n_rows(data.x_train)
            rows = np.unique(np.linspace(0, n - 1, min(n, _TRAIN_SAMPLE_ROWS)).astype(np.int64))
            outputs = predict_outputs(model, take_rows(data.x_train, rows), call.batch_size)
            train_preds = Predictions(data.y_train[rows], outputs)
    except Exception as exc:  # config and history checks do not need predictions
        _log.info("mlflow-sanity: predictions not checked: %s", exc)
        data.notes.append(f"the model's predictions could not be computed ({exc})")
    return spec, val_preds, train_preds


def _label_summary(data: FitData, spec: ModelSpec) -> LabelSummary | None:
    if data.y_train is not None:
        return summarize_labels(data.y_train, data.y_val, spec.output_units, data.y_all)
    if data.y_val is None:
        return None
    labels = summarize_labels(data.y_val, None, spec.output_units)
    return replace(labels, train_counts={}, val_counts=labels.train_counts) if labels else None


def _fit_spec(
    call: FitCall,
    data: FitData,
    spec: ModelSpec,
    history: Mapping[str, list[float]],
    val_preds: Predictions | None,
    train_preds: Predictions | None,
) -> FitSpec:
    callbacks, others = callback_specs(call.callbacks, call.initial_epoch)
    return FitSpec(
        n_train=n_rows(data.x_train) if data.x_train is not None else None,
        n_val=n_rows(data.x_val) if data.x_val is not None else None,
        validation=data.validation,
        validation_split=call.validation_split,
        validation_freq=call.validation_freq,
        validation_steps=call.validation_steps,
        class_weight=dict(call.class_weight) if call.class_weight else None,
        sample_weight=call.sample_weight is not None,
        callbacks=callbacks,
        other_callbacks=others,
        labels=_label_summary(data, spec),
        data_readable=data.readable,
        data_note="; ".join(data.notes),
        epochs=call.epochs,
        epochs_run=len(history.get("loss", [])),
        validation_outputs=val_preds,
        train_outputs=train_preds,
    )


def _fit_files(
    history: Mapping[str, list[float]], fit: FitSpec, evaluation: Classification | None
) -> dict[str, bytes]:
    """Learning curves and the validation plots."""
    from mlflow_sanity.report import classification_files, plots

    files: dict[str, bytes] = {}
    if fit.epochs_run:
        restored = fit.restored_epoch
        marks = {f"restored epoch {restored + 1}": restored + 1} if restored is not None else {}
        files["learning_curves.png"] = plots.learning_curves_png(history, marks)
    if evaluation is not None:
        files.update(classification_files(evaluation, prefix="validation_"))
    return files


def _fingerprints(data: FitData) -> tuple[dict[str, Fingerprint], str]:
    """Training and validation fingerprints: what later leakage checks (evaluator,
    ``model.evaluate``, ``validation_reuse``) compare against without the raw data; and
    why there are none, if computing them failed."""
    if not data.train_readable:
        return {}, ""
    try:
        return fingerprints_of(data.x_train, data.y_train, data.x_val, data.y_val), ""
    except Exception as exc:  # a fingerprint is optional; the other checks still count
        _log.warning("mlflow-sanity: training fingerprint not logged: %s", exc)
        return {}, f"not computed: {type(exc).__name__}: {exc}"


def fingerprints_of(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> dict[str, Fingerprint]:
    from mlflow_sanity.core import fingerprint

    roles = (("train", x_train, y_train), ("validation", x_val, y_val))
    return {role: fingerprint.compute(x, y) for role, x, y in roles if x is not None}


def _validation_classification(
    spec: ModelSpec, fit: FitSpec, preds: Predictions | None
) -> Classification | None:
    """The evaluator's view of the validation predictions, so its checks run on them."""
    return classification_of(spec, preds, fit.labels)


def classification_of(
    spec: ModelSpec, preds: Predictions | None, labels: LabelSummary | None
) -> Classification | None:
    """Predictions of a single-label classifier head as the core's ``Classification``
    (class indices as labels); None for multi-label targets or labels that are not classes."""
    if preds is None or labels is None or not labels.is_single_label:
        return None
    y = label_indices(preds.y_true)
    if y is None:
        return None
    try:  # NaN outputs (a diverged fit) are non_finite_loss's to report
        proba = outputs_to_proba(
            preds.outputs, spec.output_activation, from_logits=spec.outputs_logits
        )
        return classify(y, proba=proba, labels=list(range(proba.shape[1])))
    except InputError as exc:
        _log.info("predictions not checked: %s", exc)
        return None


def returned_metrics(model: Any, result: Any) -> dict[str, float]:
    """What ``evaluate`` returned, by metric name, whatever its shape (scalar, list, dict).

    The model's metric state after the call holds exactly the returned values under
    their names; Keras' flattened list order is only a fallback.
    """
    try:
        values = dict(model.get_metrics_result())
    except Exception:
        values = {}
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


def analyse_evaluate(
    model: Any,
    call: EvaluateCall,
    returned: Mapping[str, float],
    config: CheckOptions,
    memory: FitMemory | None,
) -> Analysis:
    """One ``model.evaluate``: the evaluation-set checks on the evaluated rows, Keras'
    returned metrics against scikit-learn, and leakage against what ``fit`` remembered."""
    rows, note = read_rows(call.x, call.y, call.sample_weight)
    notes = [note] if note else []
    memory = memory or FitMemory(None)
    heads = describe_heads(model)
    if heads:
        return _evaluate_heads(model, heads, call, rows, returned, config, notes, memory)
    spec = describe_model(model)
    preds = evaluation = labels = None
    if rows is not None and rows.y is not None and spec.is_classifier and spec.n_outputs == 1:
        try:
            outputs = predict_outputs(model, rows.x, call.batch_size)
            preds = Predictions(rows.y, outputs, rows.sample_weight)
            labels = summarize_labels(rows.y, None, spec.output_units)
            evaluation = classification_of(spec, preds, labels)
        except Exception as exc:  # the configuration checks still run
            notes.append(f"the model's predictions could not be computed ({exc})")
    ctx = Context(
        eval=evaluation,
        model=spec,
        evaluated=dict(returned) if preds is not None else None,
        evaluated_outputs=preds,
        test=Split(rows.x, rows.y, "model.evaluate data") if rows is not None else None,
        fingerprint=memory.train,
        validation_fingerprint=memory.validation,
        model_selection=memory.model_selection,
        normalization=keras_normalization_stats(model),
        fit_validation_accuracy=memory.validation_accuracy,
        seen_splits=memory.seen_splits() or None,
    )
    inputs: dict[str, Any] = {"source": "model.evaluate", "model": spec.to_dict()}
    inputs["evaluate"] = {"rows": n_rows(rows.x) if rows is not None else None, "notes": notes}
    inputs["returned"] = dict(returned)
    if memory.run_id is None:
        inputs["leakage"] = _NO_FIT
    report = build_report(ctx, options=config, source="model.evaluate", inputs=inputs)
    if evaluation is not None:
        report.inputs["evaluated_on"] = "model.evaluate data"
    files = {}
    if evaluation is not None:
        from mlflow_sanity.report import classification_files

        files = classification_files(evaluation)
    # the evaluated rows in the training columns, if the leakage checks computed them:
    # the fit's memory keeps them for the union of splits a later evaluate is compared with
    evaluated = ctx.shared.get("eval_fp")
    fingerprints = {"evaluate": evaluated} if isinstance(evaluated, Fingerprint) else {}
    return Analysis(report, files, fingerprints)


def _add_training_metrics(report: Report) -> None:
    for finding_id, key, metric in (
        ("overfitting", "gap", "train_val_accuracy_gap"),
        ("label_shift", "total_variation_distance", "label_shift_distance"),
    ):
        f = report.get(finding_id)
        value = f.evidence.get(key) if f is not None else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            report.metrics[metric] = float(value)

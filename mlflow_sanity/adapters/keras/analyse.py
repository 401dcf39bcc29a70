"""Predict and analyse: one forward pass over the rows a fit saw, then the shared pipeline."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import keras
import numpy as np
import pandas as pd

from mlflow_sanity.adapters.keras.describe import callback_specs, describe_model
from mlflow_sanity.adapters.keras.inputs import FitCall, FitData, n_rows, take_rows
from mlflow_sanity.checks import CheckOptions, Context
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    LabelSummary,
    ModelSpec,
    Predictions,
    label_indices,
    summarize_labels,
)
from mlflow_sanity.core.metrics import Classification, InputError, classify
from mlflow_sanity.core.pipeline import build_report
from mlflow_sanity.core.predictions import outputs_to_proba

_log = logging.getLogger(__name__)

_TRAIN_SAMPLE_ROWS = 2000  # rows of training data re-predicted for the dropout note
_FORWARD_CHUNK_ROWS = 8192
_FORWARD_CHUNK_BYTES = 32 * 2**20


def predict_outputs(model: Any, x: Any, batch_size: int | None) -> np.ndarray:
    """The model's outputs on ``x`` in inference mode.

    Plain forward passes over large chunks when the model uses the standard predict step
    (no ``tf.function`` tracing: this runs once per fit and must stay cheap); otherwise,
    or if that fails, ``model.predict``.
    """
    if type(model).predict_step is keras.Model.predict_step:
        try:
            return _forward(model, x)
        except Exception as exc:  # unusual inputs: let Keras' data adapters handle them
            _log.debug("direct forward pass failed, using model.predict: %s", exc)
    out = model.predict(x, batch_size=max(batch_size or 32, 256), verbose=0)
    if isinstance(out, (list, tuple, dict)):
        raise InputError("multi-output model: predictions not checked")
    return np.asarray(out)


def _forward(model: Any, x: Any) -> np.ndarray:
    arrays = _as_arrays(x)
    first = next(iter(arrays.values())) if isinstance(arrays, dict) else arrays
    n = first.shape[0]
    row_bytes = max(1, first[:1].nbytes)
    step = int(max(1, min(_FORWARD_CHUNK_ROWS, _FORWARD_CHUNK_BYTES // row_bytes)))
    chunks = []
    for start in range(0, n, step):
        part = take_rows(arrays, slice(start, start + step))
        out = model(part, training=False)
        if isinstance(out, (list, tuple, dict)):
            raise InputError("multi-output model: predictions not checked")
        chunks.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(chunks, axis=0)


def _as_arrays(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _as_arrays(v) for k, v in x.items()}
    if isinstance(x, (pd.DataFrame, pd.Series)):
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"non-numeric model input ({arr.dtype})")
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr


def analyse(
    model: Any, history: Mapping[str, list[float]], call: FitCall, config: CheckOptions
) -> tuple[Report, dict[str, bytes]]:
    """Read inputs, describe, predict, check: the report and artifact files of one fit."""
    data = FitData.from_call(call, history)
    spec, val_preds, train_preds = _predict_fit(model, describe_model(model), data, call)
    fit = _fit_spec(call, data, spec, history, val_preds, train_preds)
    evaluation = _validation_classification(spec, fit, val_preds)
    ctx = Context(eval=evaluation, model=spec, history=history or None, fit=fit)
    inputs: dict[str, Any] = {"source": call.source, "model": spec.to_dict(), "fit": fit.to_dict()}
    if fit.monitors:
        inputs["model_selection"] = {
            "monitors": fit.monitors,
            "callbacks": [cb.class_name for cb in fit.callbacks if cb.monitor],
        }
    report = build_report(ctx, options=config, source="autolog", inputs=inputs)
    if evaluation is not None:
        report.inputs["evaluated_on"] = "validation data"
    _add_training_metrics(report)
    return report, _fit_files(report, history, fit, evaluation, data)


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
    report: Report,
    history: Mapping[str, list[float]],
    fit: FitSpec,
    evaluation: Classification | None,
    data: FitData,
) -> dict[str, bytes]:
    """Learning curves, the validation plots and the training fingerprint."""
    from mlflow_sanity.report import classification_files, plots

    files: dict[str, bytes] = {}
    if fit.epochs_run:
        restored = fit.restored_epoch
        marks = {f"restored epoch {restored + 1}": restored + 1} if restored is not None else {}
        files["learning_curves.png"] = plots.learning_curves_png(history, marks)
    if evaluation is not None:
        files.update(classification_files(evaluation, prefix="validation_"))
    if data.train_readable:
        try:
            files.update(_fingerprint_files(data.x_train, data.y_train, data.x_val, data.y_val))
        except Exception as exc:  # a fingerprint is optional; the checks above still count
            _log.warning("mlflow-sanity: training fingerprint not logged: %s", exc)
            report.inputs["fingerprint"] = f"not computed: {type(exc).__name__}: {exc}"
    return files


def _validation_classification(
    spec: ModelSpec, fit: FitSpec, preds: Predictions | None
) -> Classification | None:
    """The evaluator's view of the validation predictions, so its checks run on them."""
    if preds is None or fit.labels is None or not fit.labels.is_single_label:
        return None
    y = label_indices(preds.y_true)
    if y is None:
        return None
    proba = outputs_to_proba(preds.outputs, spec.output_activation, from_logits=spec.outputs_logits)
    try:
        return classify(y, proba=proba, labels=list(range(proba.shape[1])))
    except InputError as exc:
        _log.info("validation predictions not checked: %s", exc)
        return None


def _add_training_metrics(report: Report) -> None:
    for finding_id, key, metric in (
        ("overfitting", "gap", "train_val_accuracy_gap"),
        ("label_shift", "total_variation_distance", "label_shift_distance"),
    ):
        f = report.get(finding_id)
        value = f.evidence.get(key) if f is not None else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            report.metrics[metric] = float(value)


def check_and_log(
    model: Any,
    history: Mapping[str, list[float]],
    call: FitCall,
    config: CheckOptions,
    run_id: str,
) -> Report:
    from mlflow_sanity.tracking.reports import log_report

    report, files = analyse(model, history, call, config)
    return log_report(run_id, report, files)


def _fingerprint_files(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> dict[str, bytes]:
    """``fingerprint_train.*``/``fingerprint_validation.*``: what later leakage checks
    (evaluator, ``validation_reuse``) compare against without the raw training data."""
    from mlflow_sanity.core import fingerprint

    files: dict[str, bytes] = {}
    for role, x, y in (("train", x_train, y_train), ("validation", x_val, y_val)):
        if x is not None:
            files.update(fingerprint.compute(x, y).to_files(role))
    return files

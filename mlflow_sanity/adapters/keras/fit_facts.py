"""What a fit tells the checks: its FitSpec, its fingerprints, its files, its digests.

Fit-only facts the head loop (``heads.py``) puts into each head's context; kept apart
from ``analyse.py`` so the two entry points there read as the same four steps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras.describe import callback_specs
from mlflow_sanity.adapters.keras.heads import evaluation_of
from mlflow_sanity.adapters.keras.inputs import FitCall, FitData, n_rows, take_rows
from mlflow_sanity.adapters.keras.predict import predict_outputs
from mlflow_sanity.core.boundary import Caught, Origin, attempt, describe
from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    LabelSummary,
    ModelSpec,
    Predictions,
    summarize_labels,
)
from mlflow_sanity.core.regression import TargetStats
from mlflow_sanity.core.splits import ModelSelection
from mlflow_sanity.core.task import Task

_log = logging.getLogger(__name__)

TRAIN_SAMPLE_ROWS = 2000  # rows of training data re-predicted for the dropout note
TRAIN_CHECK_ROWS = 20_000  # training rows predicted to judge a fit without validation data


def training_sample(
    model: Any, spec: ModelSpec, data: FitData, call: FitCall
) -> Predictions | None:
    """Outputs on a training sample when dropout or the like makes Keras' running training
    metrics differ from inference (the dropout note); None otherwise."""
    if not (data.train_readable and spec.stochastic_layers and spec.accuracy_metrics):
        return None
    n = n_rows(data.x_train)
    rows = np.unique(np.linspace(0, n - 1, min(n, TRAIN_SAMPLE_ROWS)).astype(np.int64))
    outputs = predict_outputs(model, take_rows(data.x_train, rows), call.batch_size)
    return Predictions(data.y_train[rows], outputs)


def model_selection(fit: FitSpec) -> ModelSelection:
    return ModelSelection(
        tuple(fit.monitors), tuple(cb.class_name for cb in fit.callbacks if cb.monitor)
    )


def training_evaluation(
    model: Any,
    spec: ModelSpec,
    task: Task,
    fit: FitSpec,
    data: FitData,
    call: FitCall,
    train_targets: TargetStats | None = None,
) -> dict[str, Any]:
    """Without validation data, the model's predictions on (a sample of) its own training
    rows, as its task's evidence (``heads.evaluation_of``): a model that predicts one class
    for the data it was fitted on is still caught."""
    if data.x_train is None or data.y_train is None or spec.n_outputs != 1:
        return {}
    n = n_rows(data.x_train)
    rows = np.unique(np.linspace(0, n - 1, min(n, TRAIN_CHECK_ROWS)).astype(np.int64))
    x = take_rows(data.x_train, rows)
    # the user's model failing on its training rows: the other checks still run
    with Caught(Origin.MODEL, "training predictions") as caught:
        outputs = predict_outputs(model, x, call.batch_size)
    if caught.failed:
        _log.info("mlflow-sanity: training predictions not checked: %s", caught.raised)
        return {}
    from mlflow_sanity.adapters.keras.task_heads import with_mask  # a tagger's own mask

    preds = with_mask(model, x, Predictions(data.y_train[rows], outputs))
    return evaluation_of(task, spec, preds, fit.labels, train_targets)


def label_summary(data: FitData, spec: ModelSpec) -> LabelSummary | None:
    if data.y_train is not None:
        return summarize_labels(data.y_train, data.y_val, spec.output_units, data.y_all)
    if data.y_val is None:
        return None
    labels = summarize_labels(data.y_val, None, spec.output_units)
    return replace(labels, train_counts={}, val_counts=labels.train_counts) if labels else None


def fit_spec(
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
        labels=label_summary(data, spec),
        data_readable=data.readable,
        data_note="; ".join(data.notes),
        epochs=call.epochs,
        epochs_run=len(history.get("loss", [])),
        validation_outputs=val_preds,
        train_outputs=train_preds,
    )


def learning_curves(history: Mapping[str, list[float]], fit: FitSpec) -> dict[str, bytes]:
    """The learning curves, with the epoch EarlyStopping restored marked."""
    from mlflow_sanity.report import plots

    if not fit.epochs_run:
        return {}
    restored = fit.restored_epoch
    marks = {f"restored epoch {restored + 1}": restored + 1} if restored is not None else {}
    return {"learning_curves.png": plots.learning_curves_png(history, marks)}


def fingerprints(data: FitData) -> tuple[dict[str, Fingerprint], str]:
    """Training and validation fingerprints: what later leakage checks (evaluator,
    ``model.evaluate``, ``validation_reuse``) compare against without the raw data; and
    why there are none, if computing them failed."""
    if not data.train_readable:
        return {}, ""
    with Caught(Origin.OUTSIDE) as caught:  # optional; the other checks still count
        return fingerprints_of(data.x_train, data.y_train, data.x_val, data.y_val), ""
    _log.warning("mlflow-sanity: training fingerprint not logged: %s", caught.error)
    return {}, f"not computed: {describe(caught.raised)}"


def fingerprints_of(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> dict[str, Fingerprint]:
    from mlflow_sanity.core import fingerprint

    roles = (("train", x_train, y_train), ("validation", x_val, y_val))
    return {role: fingerprint.compute(x, y) for role, x, y in roles if x is not None}


def _keras_config(obj: Any) -> Any:
    # a subclassed model without get_config: its ModelSpec stands in
    return attempt(lambda: obj.get_config(), None, Origin.OUTSIDE)


def run_digests(
    model: Any, spec: ModelSpec, fit: FitSpec, call: FitCall, fingerprints: Mapping[str, Any]
) -> dict[str, str]:
    """``config``: architecture + compile settings + fit settings, everything but the seed;
    ``data``: the training (and validation) rows' fingerprints. Equal digests = the same
    experiment run again, so the runs' spread is seed noise."""
    from mlflow_sanity.core.run_digest import stable_digest

    out: dict[str, str] = {}
    with Caught(Origin.OUTSIDE) as caught:  # grouping is optional; the checks still count
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
    if caught.failed:
        _log.info("mlflow-sanity: no config digest: %s", caught.error)
    train = fingerprints.get("train")
    if train is not None:
        val = fingerprints.get("validation")
        out["data"] = stable_digest(
            {"train": train.digest, "validation": val.digest if val is not None else None}
        )
    return out

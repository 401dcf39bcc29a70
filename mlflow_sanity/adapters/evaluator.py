"""The MLflow evaluator ``sanity``: ``mlflow.models.evaluate(..., evaluators=["sanity"])``.

A thin adapter: it turns MLflow's dataset and model into arrays, lets the core judge
them, and hands the report to ``mlflow_log``. Keras models are unwrapped to the raw
model because MLflow's pyfunc wrapper returns bare outputs without telling whether
they are logits, sigmoid or softmax.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models.evaluation import EvaluationResult, ModelEvaluator

from mlflow_sanity.adapters.regressor import regression_of
from mlflow_sanity.adapters.rng import keeps_random_state
from mlflow_sanity.checks import CheckOptions, Context
from mlflow_sanity.core.boundary import Caught, Origin, attempt
from mlflow_sanity.core.findings import Provenance, Report
from mlflow_sanity.core.metrics import Classification, InputError, classify
from mlflow_sanity.core.outputs import OutputFacts, classify_outputs
from mlflow_sanity.core.predictions import output_activation
from mlflow_sanity.core.splits import ModelSelection, NormalizationStats, Split
from mlflow_sanity.core.task import Task, decide_task
from mlflow_sanity.pipeline import build_report
from mlflow_sanity.report import classification_files
from mlflow_sanity.report.regression_plots import regression_files

_log = logging.getLogger(__name__)

NO_TRAINING_DATA = "leakage checks (no train_data, training_run_id or training fingerprint)"

CONFIG_KEYS = (
    "probability_columns",
    "pos_label",
    "train_data",
    "training_run_id",
    "thresholds",
    "disable",
)


@dataclass
class EvalConfig:
    """The documented ``evaluator_config`` keys (see README); other keys are ignored."""

    probability_columns: str | list[str] | None = None
    pos_label: Any = None
    train_data: Any = None
    training_run_id: str | None = None
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    disable: list[str] = field(default_factory=list)
    options: CheckOptions = field(default_factory=CheckOptions)

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None) -> EvalConfig:
        config = dict(config or {})
        if isinstance(config.get("sanity"), Mapping):  # nested under our name
            config = dict(config["sanity"])
        parsed = cls(**{k: config[k] for k in CONFIG_KEYS if k in config})
        try:  # unknown finding ids or threshold names: say so before any work
            parsed.options = CheckOptions.of(parsed.thresholds, parsed.disable)
        except ValueError as exc:
            raise InputError(f"evaluator_config: {exc}") from None
        return parsed


class SanityEvaluator(ModelEvaluator):
    """Imbalance- and leakage-aware verdicts for classifiers, logged as tags and a report."""

    @classmethod
    def can_evaluate(cls, *, model_type: str, evaluator_config: Any = None, **kwargs: Any) -> bool:
        return model_type in ("classifier", "regressor")

    @keeps_random_state
    def evaluate(
        self,
        *,
        model_type: str,
        dataset: Any,
        run_id: str,
        evaluator_config: Mapping[str, Any] | None,
        model: Any = None,
        extra_metrics: Any = None,
        custom_artifacts: Any = None,
        predictions: str | None = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        from mlflow_sanity.tracking.models import model_id_of
        from mlflow_sanity.tracking.publish import Target, publish
        from mlflow_sanity.tracking.reports import metric_key

        cfg = EvalConfig.parse(evaluator_config)
        model_id = kwargs.get("model_id")
        report, ctx = _report(cfg, dataset, model, run_id, model_type, predictions, model_id)
        # MLflow re-logs the returned metrics (with the model id and the dataset) when it
        # knows the model: then logging them here too would write every value twice.
        linked = model_id or model_id_of(model)
        # An unreachable server spools the report (``mlflow-sanity sync`` uploads it later).
        merged = publish(
            report,
            classification_files(ctx.eval) if ctx.eval else regression_files(ctx.regression),
            Target(run_id, linked),
            what="mlflow.models.evaluate",
            dataset={"name": report.provenance.dataset, "digest": report.provenance.dataset_digest},
            log_metrics=model_id is None,
        )
        prefix = merged.state.metric_prefix or ""
        return EvaluationResult(
            metrics={
                metric_key(prefix + k): float(v)
                for k, v in report.metrics.items()
                if v is not None and math.isfinite(float(v))
            },
            artifacts={},
            run_id=run_id,
        )


def _report(
    cfg: EvalConfig,
    dataset: Any,
    model: Any,
    run_id: str,
    model_type: str,
    predictions: str | None,
    model_id: str | None,
) -> tuple[Report, Context]:
    """The evaluated dataset judged by its task (the task rule on ``model_type`` and the
    targets), against the training evidence the leakage checks can find."""
    features: pd.DataFrame = dataset.features_data
    if not dataset.has_targets:
        raise InputError("the sanity evaluator needs targets: pass targets='label column'")
    y_true = np.asarray(dataset.labels_data)
    if y_true.size == 0:
        raise InputError("empty data: the evaluation set has no rows")
    leak = leakage_inputs(cfg, dataset, model, run_id, model_id)
    task = decide_task(model_type=model_type, targets=y_true).task
    judged = _judged(task, cfg, dataset, model, features, y_true, predictions, leak.train)
    ctx = Context(
        **judged,
        task=task,
        test=Split(_model_features(features, dataset, cfg), y_true, "evaluation data"),
        train=leak.train,
        fingerprint=leak.fingerprint,
        validation_fingerprint=leak.validation_fingerprint,
        model_selection=leak.model_selection,
        normalization=leak.normalization,
        missing={} if leak.summary.get("train") else {"fingerprint": NO_TRAINING_DATA},
    )
    inputs = {
        "dataset": getattr(dataset, "name", None),
        "dataset_digest": getattr(dataset, "digest", None),
        "n_features": int(features.shape[1]),
        "has_probabilities": ctx.eval is not None and ctx.eval.proba is not None,
        "leakage": leak.summary,
    }
    provenance = Provenance(
        source="evaluator",
        call="mlflow.models.evaluate",
        evaluated_on=inputs["dataset"] or "evaluation data",
        dataset=inputs["dataset"],
        dataset_digest=inputs["dataset_digest"],
    )
    report = build_report(ctx, options=cfg.options, provenance=provenance, inputs=inputs)
    return report, ctx


def _judged(
    task: Task,
    cfg: EvalConfig,
    dataset: Any,
    model: Any,
    features: pd.DataFrame,
    y_true: np.ndarray,
    predictions: str | None,
    train: Split | None,
) -> dict[str, Any]:
    """The evidence the task is judged on, as the ``Context`` field that holds it: a
    regressor's ``Regression`` (baseline: ``train_data``'s targets), else a classifier's
    ``Classification``."""
    if task is Task.REGRESSION:
        return {"regression": regression_of(y_true, model, features, dataset, train)}
    return {"eval": _classification(cfg, dataset, model, features, y_true, predictions)}


def _classification(
    cfg: EvalConfig,
    dataset: Any,
    model: Any,
    features: pd.DataFrame,
    y_true: np.ndarray,
    predictions: str | None,
) -> Classification:
    """A classifier's evaluation: the model's outputs (``core/outputs.py``), or the
    predictions given as columns of the data."""
    if model is None:
        y_pred, proba, labels = static_outputs(dataset, cfg.probability_columns)
        return classify(y_true, y_pred, proba, labels=labels, pos_label=cfg.pos_label)
    outputs, facts = model_outputs(model, features, predictions)
    return classify_outputs(y_true, outputs, facts, pos_label=cfg.pos_label)


@dataclass
class LeakageInputs:
    """Training-side inputs of the leakage checks and where they came from."""

    train: Split | None = None
    fingerprint: Any = None
    validation_fingerprint: Any = None
    model_selection: ModelSelection | None = None
    normalization: NormalizationStats | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def leakage_inputs(
    cfg: EvalConfig, dataset: Any, model: Any, run_id: str | None, model_id: str | None
) -> LeakageInputs:
    """Collect what the leakage checks compare the evaluation data with.

    Training data: ``train_data`` from the config, else the fingerprint logged on
    ``training_run_id``, else on the model's source run, else on the evaluation run
    itself. The validation fingerprint and model-selection callbacks come from the same
    training run; a Keras ``Normalization`` layer's statistics from the model.
    """
    from mlflow_sanity.tracking import budget
    from mlflow_sanity.tracking.reports import model_source_run, read_training_evidence

    out = LeakageInputs()
    if cfg.train_data is not None:
        out.train = train_split(cfg.train_data, getattr(dataset, "targets_name", None))
        out.summary["train"] = "evaluator_config train_data"
    if cfg.training_run_id:
        runs = [str(cfg.training_run_id)]
    else:
        with budget.bounded():  # the LoggedModel lookup too: a dead server fails fast
            source = model_source_run(model, model_id)
        runs = [r for r in (source, run_id) if r]
    for rid in dict.fromkeys(runs):
        # an unreadable run must not stop the evaluation; a dead server fails fast
        with Caught(Origin.OUTSIDE) as caught, budget.bounded():
            evidence = read_training_evidence(rid)
        if (exc := caught.error) is not None:
            if cfg.training_run_id:
                raise InputError(f"cannot read training_run_id {rid!r}: {exc}") from None
            _log.warning("mlflow-sanity: cannot read leakage evidence of run %s: %s", rid, exc)
            continue
        if evidence.train is None and evidence.validation is None:
            continue
        if out.train is None and evidence.train is not None:
            out.fingerprint = evidence.train
            out.summary["train"] = f"fingerprint logged on run {rid}"
        if evidence.validation is not None:
            out.validation_fingerprint = evidence.validation
            out.model_selection = evidence.model_selection
            out.summary["validation"] = f"fingerprint logged on run {rid}"
        break
    else:
        if cfg.training_run_id:
            raise InputError(
                f"training_run_id {cfg.training_run_id!r} has no sanity/fingerprint_train.* "
                "artifacts: train with mlflow_sanity.autolog() or pass train_data"
            )
    raw = _raw_model(model) if model is not None else None
    if raw is not None and _is_keras(raw):
        from mlflow_sanity.adapters.keras.describe import keras_normalization_stats

        stats = keras_normalization_stats(raw)
        if stats is not None:
            out.normalization = stats
            out.summary["normalization_layer"] = stats.layer
    return out


def train_split(data: Any, target: str | None) -> Split:
    """``train_data`` as a ``Split``: a DataFrame (the target column, when present, becomes
    the labels), an array, or a ``(features, labels)`` tuple."""
    if isinstance(data, tuple) and len(data) == 2:
        return Split(data[0], data[1], "train_data")
    if isinstance(data, pd.DataFrame):
        if target is not None and target in data.columns:
            return Split(data.drop(columns=[target]), data[target].to_numpy(), "train_data")
        return Split(data, None, "train_data")
    if isinstance(data, (np.ndarray, list)):
        return Split(np.asarray(data), None, "train_data")
    raise InputError(
        f"train_data must be a DataFrame, an array or (features, labels), got {type(data)}"
    )


def _model_features(features: pd.DataFrame, dataset: Any, cfg: EvalConfig) -> pd.DataFrame:
    """The evaluation features without probability columns given for static predictions."""
    cols = cfg.probability_columns
    drop = [cols] if isinstance(cols, str) else list(cols or [])
    drop = [c for c in drop if c in features.columns]
    return features.drop(columns=drop) if drop else features


def static_outputs(
    dataset: Any, probability_columns: str | Sequence[str] | None
) -> tuple[np.ndarray | None, np.ndarray | None, list | None]:
    """Predictions given as a column of ``data`` (``predictions="col"``)."""
    y_pred = np.asarray(dataset.predictions_data) if dataset.has_predictions else None
    proba = None
    if probability_columns is not None:
        cols = (
            [probability_columns]
            if isinstance(probability_columns, str)
            else list(probability_columns)
        )
        missing = [col for col in cols if col not in dataset.features_data.columns]
        if missing:
            raise InputError(
                f"probability_columns {missing} not found in data; columns are "
                f"{list(dataset.features_data.columns)}"
            )
        proba = dataset.features_data[cols].to_numpy(dtype=np.float64, na_value=np.nan)
        if proba.shape[1] == 1:
            proba = proba[:, 0]
    if y_pred is None and proba is None:
        raise InputError("no predictions: pass a model, or predictions='column' with data")
    return y_pred, proba, None


def model_outputs(
    model: Any, features: pd.DataFrame, predictions: str | None = None
) -> tuple[Any, OutputFacts]:
    """A pyfunc model's outputs on ``features`` and what is known about them, from the raw
    model when it helps: a raw Keras model's are scores and it says its output activation
    (so logits are not mistaken for labels), a scikit-learn model its ``classes_``."""
    raw = _raw_model(model)
    if raw is not None and _is_keras(raw):
        outputs = raw.predict(features.to_numpy(dtype=np.float32), verbose=0)
        return outputs, OutputFacts(activation=output_activation(raw), scores=True)
    if raw is not None and hasattr(raw, "predict_proba") and hasattr(raw, "classes_"):
        return raw.predict_proba(features), OutputFacts(classes=list(raw.classes_))
    return model.predict(features), OutputFacts(column=predictions)


def _raw_model(model: Any) -> Any:
    return attempt(lambda: model.get_raw_model(), None, Origin.OUTSIDE)  # not every flavour unwraps


def _is_keras(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] in ("keras", "tf_keras") for cls in type(obj).__mro__)

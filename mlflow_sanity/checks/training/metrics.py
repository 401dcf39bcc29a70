"""metric_disagreement: what Keras logged vs the same accuracy recomputed from predictions.

Each compiled accuracy metric has at most one configuration ``Cause`` that makes Keras'
number mean something else than its name (a typed ``CauseKind``, so the check decides on
the kind, never on the wording). With the validation outputs, the logged value is
compared with scikit-learn's accuracy of the final model's class decisions (read by
``core.predictions``, like every other prediction in the report).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import numpy as np

from mlflow_sanity.checks.corrected import restored_epoch
from mlflow_sanity.checks.keras_semantics import (
    History,
    judged_epoch,
    keras_accuracy,
    outputs_are_logits,
    probability_cut,
    rounded,
    series,
    thresholds_as_probability,
    val_index,
)
from mlflow_sanity.checks.registry import Context, Outcome, check, passed, reaches
from mlflow_sanity.checks.training.evidence import flat_loss, predictions_vs_baseline
from mlflow_sanity.checks.training.notes import Note, worst
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    MetricSpec,
    ModelSpec,
    Predictions,
    label_encoding,
    label_indices,
)
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.predictions import predicted_classes
from mlflow_sanity.core.task import CLASS_TASKS


def true_accuracy(preds: Predictions, spec: ModelSpec, weighted: bool = False) -> float | None:
    """Accuracy as its name promises, from scikit-learn: correct class decisions per row.

    The decisions are ``core.predictions``' reading of the model's outputs (argmax; one
    unit: probability above 0.5, logit above 0). None when the labels are not classes or
    the outputs are not scores.
    """
    per_cell = _cell_hits(preds, spec)
    if per_cell is not None:  # a tagger's real tokens, a multi-label head's (row, label) cells
        hits, keep = per_cell
        sw = preds.sample_weight if weighted and preds.sample_weight is not None else None
        weights = keep if sw is None or sw.shape != keep.shape else keep * sw
        return float(np.average(hits, weights=weights)) if weights.sum() > 0 else None
    idx = label_indices(preds.y_true)
    if idx is None or idx.shape[0] != preds.n:
        return None
    try:
        predicted = predicted_classes(
            preds.outputs, spec.output_activation, from_logits=spec.outputs_logits
        )
    except InputError:
        return None
    sw = preds.sample_weight if weighted else None
    # accuracy_score's own arithmetic (the weighted mean of the hits), without its input
    # validation: a sort of every row, most of its time on large evaluations
    return float(np.average(idx == predicted, weights=sw))


def _cell_hits(preds: Predictions, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """Right decisions per token of a tagger (``(n, T, C)`` outputs; padding weighs 0 by
    its mask) or per (row, label) cell of a multi-label head (probability above 0.5, a
    logit above 0), with the weight of each; None for a single-label head."""
    out, y = np.asarray(preds.outputs), np.asarray(preds.y_true)
    if out.ndim == 3:
        truth = y.argmax(axis=-1) if y.ndim == 3 else y
        if truth.shape != out.shape[:2]:
            return None
        keep = np.ones(truth.shape) if preds.mask is None else preds.mask.astype(np.float64)
        return (out.argmax(axis=-1) == truth).astype(np.float64), keep
    if out.ndim == 2 and out.shape == y.shape and label_encoding(y) == "multi_hot":
        cut = 0.0 if spec.outputs_logits or spec.from_logits else 0.5
        return ((out > cut) == (y > 0.5)).astype(np.float64), np.ones(y.shape)
    return None


# -- causes: configurations that make Keras' number mean something else ----------------


class CauseKind(Enum):
    BATCH_ARGMAX = "categorical accuracy on a rank-1 output"
    ONE_UNIT_ARGMAX = "argmax accuracy on one output unit"
    BINARY_ON_EXCLUSIVE = "binary accuracy on exclusive classes"
    LOGITS_THRESHOLDED = "probability threshold on logits"
    WEIGHTED_UNDER_PLAIN_NAME = "weighted metric under the plain name"


@dataclass(frozen=True)
class Cause(Note):
    kind: CauseKind

    @property
    def shown_without_recomputation(self) -> bool:
        """Thresholded logits are ``logits_thresholded``'s finding: this check repeats the
        cause only when the recomputation shows the gap it makes."""
        return self.kind is not CauseKind.LOGITS_THRESHOLDED


def _argmax_cause(m: MetricSpec, spec: ModelSpec, fit: FitSpec | None) -> Cause | None:
    if m.variant == "categorical_accuracy" and spec.output_rank == 1:
        return Cause(
            Severity.FAIL,
            f"'{m.name}' resolved to categorical accuracy because the model output is rank-1 "
            "(shape (batch,)): it takes an argmax across the batch, not across classes, so "
            "the value has nothing to do with accuracy; give the output shape (batch, 1)",
            CauseKind.BATCH_ARGMAX,
        )
    argmax = m.variant in ("categorical_accuracy", "sparse_categorical_accuracy")
    if argmax and spec.output_units == 1:
        return Cause(
            Severity.FAIL,
            f"'{m.name}' is {m.variant} on a single output unit: the argmax is always 0, so "
            "it measures the share of class 0, not the model; use binary accuracy",
            CauseKind.ONE_UNIT_ARGMAX,
        )
    return None


def _binary_cause(m: MetricSpec, spec: ModelSpec, fit: FitSpec | None) -> Cause | None:
    if m.variant != "binary_accuracy":
        return None
    units = spec.output_units
    labels = fit.labels if fit is not None else None
    exclusive = spec.output_activation == "softmax" or (
        labels is not None and labels.is_single_label
    )
    if units and units > 1 and exclusive:
        # (Binary accuracy per unit is the right metric for multi-label sigmoid outputs.)
        return Cause(
            Severity.FAIL,
            f"'{m.name}' is binary accuracy on a {units}-unit output: it averages yes/no "
            f"hits over all {units} units, so predicting nothing already scores "
            f"{(units - 1) / units:.0%}; use categorical_accuracy",
            CauseKind.BINARY_ON_EXCLUSIVE,
        )
    if outputs_are_logits(spec) and thresholds_as_probability(m):
        return Cause(
            Severity.FAIL,
            f"'{m.name}' thresholds logits at {probability_cut(m):g} (see logits_thresholded)",
            CauseKind.LOGITS_THRESHOLDED,
        )
    return None


def _weighting_cause(m: MetricSpec, spec: ModelSpec, fit: FitSpec | None) -> Cause | None:
    if fit is None or not m.weighted or m.name.startswith("weighted_"):
        return None
    if not (fit.class_weight or fit.sample_weight):
        return None
    return Cause(
        Severity.WARN,
        f"'{m.name}' is listed in weighted_metrics and logged under the plain name: it is "
        "weighted by "
        + ("class_weight" if fit.class_weight else "sample_weight")
        + " during training, so the training curve is not the plain accuracy",
        CauseKind.WEIGHTED_UNDER_PLAIN_NAME,
    )


_CAUSES: tuple[Callable[[MetricSpec, ModelSpec, FitSpec | None], Cause | None], ...] = (
    _argmax_cause,
    _binary_cause,
    _weighting_cause,
)


def static_cause(m: MetricSpec, spec: ModelSpec, fit: FitSpec | None) -> Cause | None:
    """The configuration that makes Keras' number mean something else than its name."""
    return next((c for rule in _CAUSES if (c := rule(m, spec, fit)) is not None), None)


# -- the recomputation -------------------------------------------------------------------


@dataclass(frozen=True)
class Recomputed:
    """Keras' logged validation value at the judged epoch vs scikit-learn's accuracy."""

    logged: float
    truth: float
    emulated: float | None

    @property
    def difference(self) -> float:
        return self.logged - self.truth

    def evidence(self) -> dict[str, Any]:
        return {
            "keras_validation": rounded(self.logged),
            "sklearn_validation": rounded(self.truth),
            "keras_emulated": rounded(self.emulated),
            "difference": rounded(self.difference),
        }


def _recompute(
    m: MetricSpec, spec: ModelSpec, fit: FitSpec | None, history: History, e: int | None
) -> Recomputed | None:
    """None when there are no validation outputs or no logged value for the judged epoch."""
    val = fit.validation_outputs if fit is not None else None
    logged = series(history, f"val_{m.name}")
    if val is None or logged is None or e is None:
        return None
    i = val_index(fit, e, len(history.get("loss", [])), len(logged))
    truth = None if i is None else true_accuracy(val, spec)
    if truth is None:
        return None
    return Recomputed(float(logged[i]), truth, keras_accuracy(m, val))


def _gap_note(
    m: MetricSpec, r: Recomputed, cause: Cause | None, spec: ModelSpec, fit: FitSpec
) -> Note:
    """Keras and scikit-learn disagree: say why, from the cause or what fit was given."""
    head = (
        f"Keras logged val_{m.name} = {r.logged:.3f} but the model's validation accuracy "
        f"recomputed with scikit-learn is {r.truth:.3f}"
    )
    val = fit.validation_outputs
    if cause is not None:
        return Note(cause.severity, f"{head}: {cause.text}")
    if m.weighted and val is not None and val.sample_weight is not None:
        weighted = true_accuracy(val, spec, weighted=True)
        return Note(
            Severity.WARN,
            f"{head}: '{m.name}' is in weighted_metrics, so Keras weights it by the "
            f"validation sample weights (weighted accuracy {weighted:.3f}) under the plain name",
        )
    if fit.validation_steps:
        return Note(
            Severity.INFO,
            f"{head}: Keras validated on validation_steps={fit.validation_steps} batches "
            "only, not on all rows",
        )
    return Note(
        Severity.WARN,
        f"{head}; no configuration explains the gap (custom layers that behave differently "
        "at inference? a changed model?)",
    )


def _metric_notes(
    m: MetricSpec,
    cause: Cause | None,
    r: Recomputed | None,
    spec: ModelSpec,
    fit: FitSpec | None,
    t: Mapping[str, float],
) -> list[Note]:
    """One metric: its gap (with the cause), or the cause alone where the data cannot say."""
    if r is None or fit is None:
        return [cause] if cause is not None and cause.shown_without_recomputation else []
    if reaches(abs(r.difference), t["tolerance"]):
        return [_gap_note(m, r, cause, spec, fit)]
    # The values agree: a failing cause did not show on this data; a weighting one still holds.
    return [cause] if cause is not None and cause.severity is Severity.WARN else []


def _training_notes(
    spec: ModelSpec, fit: FitSpec | None, history: History, t: Mapping[str, float]
) -> list[Note]:
    """Training metrics are running means with dropout active: say so when it shows."""
    train = fit.train_outputs if fit is not None else None
    if train is None:
        return []
    notes = []
    for m in spec.accuracy_metrics:
        logged = series(history, m.name)
        truth = true_accuracy(train, spec)
        if logged is None or truth is None or static_cause(m, spec, fit):
            continue
        e = fit.weights_epoch if fit.weights_epoch is not None else len(logged) - 1
        e = min(e, len(logged) - 1)
        if reaches(abs(truth - logged[e]), t["train_tolerance"]):
            why = (
                f"with {', '.join(spec.stochastic_layers)} active"
                if spec.stochastic_layers
                else "while the weights were still changing"
            )
            notes.append(
                Note(
                    Severity.INFO,
                    f"training {m.name} {logged[e]:.3f} is a running mean over the epoch "
                    f"{why}; the final model scores {truth:.3f} on {train.n} training rows",
                )
            )
    return notes


def _fit_notes(spec: ModelSpec, fit: FitSpec | None, history: History) -> list[Note]:
    """Restored EarlyStopping weights, and validation data the adapter could not read."""
    if fit is None:
        return []
    notes = []
    n_epochs = len(history.get("loss", []))
    restored = fit.restored_epoch
    if restored is not None and n_epochs and restored != n_epochs - 1:
        notes.append(Note(Severity.INFO, _restore_note(history, restored, n_epochs)))
    val_logged = any(f"val_{m.name}" in history for m in spec.accuracy_metrics)
    if fit.validation_outputs is None and val_logged:
        why = fit.data_note or "the validation data was not available"
        notes.append(Note(Severity.INFO, f"validation metrics not recomputed: {why}"))
    return notes


def _restore_note(history: History, restored: int, n: int) -> str:
    text = (
        f"EarlyStopping restored the weights of epoch {restored + 1} of {n}: the latest "
        f"values MLflow shows (epoch {n}) do not describe this model"
    )
    key = next((k for k in ("val_accuracy", "val_loss") if k in history), None)
    if key is not None:
        values = history[key]
        text += f" ({key} {values[restored]:.4g} at epoch {restored + 1}, {values[-1]:.4g} last)"
    return text


def _evaluate_notes(
    spec: ModelSpec, returned: Mapping[str, float], preds: Predictions, t: Mapping[str, float]
) -> tuple[list[Note], dict[str, dict[str, Any]]]:
    """What ``model.evaluate`` returned for each accuracy metric vs scikit-learn's accuracy
    of the same model on the same rows, with the configuration cause when there is one."""
    notes, per_metric = [], {}
    for m in spec.accuracy_metrics:
        logged = returned.get(m.name)
        truth = true_accuracy(preds, spec, weighted=m.weighted)
        cause = static_cause(m, spec, None)
        if logged is None or truth is None:
            continue
        per_metric[m.name] = {
            "variant": m.variant,
            "keras_evaluate": rounded(logged),
            "sklearn": rounded(truth),
            "keras_emulated": rounded(keras_accuracy(m, preds)),
            "difference": rounded(logged - truth),
        } | ({"cause": cause.text} if cause else {})
        if reaches(abs(logged - truth), t["tolerance"]):
            head = (
                f"model.evaluate returned {m.name} = {logged:.3f} but scikit-learn's accuracy "
                f"of the same model on the same {preds.n} rows is {truth:.3f}"
            )
            why = cause.text if cause else "no configuration explains the gap"
            notes.append(Note(cause.severity if cause else Severity.WARN, f"{head}: {why}"))
        elif cause is not None and cause.severity is Severity.WARN:
            notes.append(cause)
    return notes, per_metric


_ZERO = 1e-7  # a logged loss that moves less than this over the epochs says nothing


def _logged_loss_notes(ctx: Context, t: Mapping[str, float]) -> list[Note]:
    """A logged training loss of 0 (or constant) while the predictions show the model
    learned: the history's loss is not the loss the model trained on."""
    flat = flat_loss(ctx.history or {}, _ZERO)
    learned = predictions_vs_baseline(ctx) if flat else None
    if learned is None or not learned.shows(t["alpha"]):
        return []
    custom = ctx.model.custom_loop
    why = (
        f"{custom}, and Keras' history reports its loss tracker, which a custom train_step "
        "must update itself (self.compute_loss(...), or a keras.metrics.Mean updated each step "
        "and listed in the model's metrics): the logged loss is not the training loss"
        if custom
        else "the logged loss is not the loss the model trained on"
    )
    return [Note(Severity.WARN, f"The logged training loss is {flat}, yet {learned.text}: {why}")]


@check(
    "metric_disagreement",
    tasks=CLASS_TASKS,
    flags=(
        "each compiled accuracy metric recomputed with scikit-learn from the final model's "
        "validation predictions vs what Keras logged, with the cause: threshold on logits, "
        "rank-1 output (`accuracy` → categorical accuracy), `weighted_metrics` under the "
        "plain name, restored EarlyStopping weights, dropout in running training means; warn: "
        "a logged training loss of 0 (or constant) while the predictions beat the majority "
        "baseline (one-sided binomial test, p < `alpha`): the logged loss is not the "
        "training loss (a custom `train_step`)"
    ),
    requires=["model"],
    reads=["fit", "history", "evaluated", "evaluated_outputs", "eval", "multilabel"],
    remedy="Recompute the headline metric from predictions (sklearn.metrics) and name "
    "metrics explicitly (keras.metrics.BinaryAccuracy / CategoricalAccuracy / "
    "SparseCategoricalAccuracy) instead of 'accuracy'; report the epoch whose weights you keep.",
    tolerance=0.01,
    train_tolerance=0.03,
    alpha=0.05,
)
def metric_disagreement(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The Keras-reported metric differs from the same metric recomputed from predictions.

    Each compiled accuracy-like metric is recomputed with scikit-learn from the final
    model's outputs on the validation data and compared with what Keras logged for the
    epoch whose weights the model holds. Known causes (wrong variant, threshold on
    logits, weighted metrics under the plain name, running means with dropout,
    EarlyStopping restores) are named.
    """
    spec: ModelSpec = ctx.model
    fit, history = ctx.fit, ctx.history or {}
    if spec.n_outputs != 1 or not spec.is_classifier:
        return None
    if ctx.evaluated is not None and ctx.evaluated_outputs is not None:
        notes, per_metric = _evaluate_notes(spec, ctx.evaluated, ctx.evaluated_outputs, t)
        evidence = {"metrics": per_metric, "returned_by": "model.evaluate"}
        if notes:
            return worst(notes, evidence, by_severity=True)
        if per_metric:
            return passed("Every accuracy metric evaluate returned matches scikit-learn.", evidence)
        return passed("model.evaluate returned no accuracy metric to recompute.", evidence)
    n_epochs = len(history.get("loss", []))
    e = judged_epoch(fit, n_epochs) if n_epochs else None
    per_metric: dict[str, dict[str, Any]] = {}
    notes: list[Note] = []
    for m in spec.accuracy_metrics:
        cause = static_cause(m, spec, fit)
        r = _recompute(m, spec, fit, history, e)
        per_metric[m.name] = {"variant": m.variant, "weighted": m.weighted}
        per_metric[m.name] |= ({"cause": cause.text} if cause else {}) | (r.evidence() if r else {})
        notes += _metric_notes(m, cause, r, spec, fit, t)
    notes += _training_notes(spec, fit, history, t) + _fit_notes(spec, fit, history)
    notes += _logged_loss_notes(ctx, t)
    evidence: dict[str, Any] = {"metrics": per_metric, "judged_epoch": None if e is None else e + 1}
    corrected = None
    if fit is not None and fit.restored_epoch is not None:
        evidence["restored_epoch"] = fit.restored_epoch + 1
        n_val = len(history.get("val_accuracy") or [])
        at = val_index(fit, fit.restored_epoch, n_epochs, n_val) if n_val else None
        corrected = restored_epoch(history, fit.restored_epoch, at)
    if notes:
        return replace(worst(notes, evidence, by_severity=True), corrected=corrected)
    if any("sklearn_validation" in v for v in per_metric.values()):
        return passed("Every accuracy metric matches its recomputation.", evidence)
    return passed("No accuracy metric to recompute; no configuration problem found.", evidence)

"""The one head loop: a model's outputs become per-head contexts, judged into one report.

A single-output model is one head (named ``None``) whose context also holds the evidence
about the rows (leakage against the fit, duplicates, a scaler's statistics). A
multi-output model gets one context per output, with that output's labels, activation,
loss and metrics (its findings name the output), and the row checks run once, keyed by
the labels of its first classification output. ``fit`` and ``model.evaluate`` both
build their reports here, so a check that needs a new ``Context`` field is wired into
the adapter once, not once per entry point and output kind.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras.describe import describe_heads
from mlflow_sanity.adapters.keras.predict import predict_heads, predict_outputs
from mlflow_sanity.adapters.keras.regression import regression_of
from mlflow_sanity.adapters.keras.task_heads import (
    multilabel_evidence,
    sequence_evidence,
    with_mask,
)
from mlflow_sanity.checks import CheckOptions, Context
from mlflow_sanity.core.findings import Provenance, Report
from mlflow_sanity.core.keras_spec import LabelSummary, ModelSpec, Predictions
from mlflow_sanity.core.metrics import Classification, InputError
from mlflow_sanity.core.outputs import classify_scores
from mlflow_sanity.core.regression import TargetStats
from mlflow_sanity.core.task import SINGLE_LABEL, Task, TaskDecision, decide_task, task_gap
from mlflow_sanity.pipeline import build_report

_log = logging.getLogger(__name__)

Heads = Mapping[str | None, ModelSpec]
PREDICTIONS_FAILED = "the model's predictions (they failed)"  # a not-checked reason
# The Context fields about rows rather than outputs: a multi-output model's row checks.
ROW_FIELDS = (
    "test",
    "fingerprint",
    "validation_fingerprint",
    "model_selection",
    "normalization",
    "seen_splits",
    "fit_validation_accuracy",
)


def is_single(heads: Heads) -> bool:
    return list(heads) == [None]


@dataclass(frozen=True)
class Head:
    """One output of a model as one call judges it: its spec, its task (decided on the
    call's labels) and the user's names for its classes (``label_names``)."""

    name: str | None
    spec: ModelSpec
    task: TaskDecision
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CallHeads:
    """A model's heads for one call, in output order. ``specs`` by name (what the forward
    pass and the row checks read); ``single``: one output (one head, named None);
    ``predicted``: whether any check reads the heads' outputs (not for a single output
    whose task is not judged)."""

    heads: dict[str | None, Head]
    specs: dict[str | None, ModelSpec]
    single: bool
    predicted: bool


def call_heads(model: Any, options: CheckOptions, y: Any, x: Any, notes: list[str]) -> CallHeads:
    """The heads of ``model`` for one call (fit and ``model.evaluate`` both start here):
    each output's spec, its task on the call's labels ``y`` (``head_task``; the inputs
    ``x`` tell an autoencoder) and its ``label_names`` (names that do not fit the model
    add a note to ``notes``)."""
    specs = describe_heads(model)
    tasks = head_tasks(specs, y, x)
    names = head_names(options, specs, model, notes)
    heads = {name: Head(name, spec, tasks[name], names.get(name)) for name, spec in specs.items()}
    single = is_single(specs)
    only = heads.get(None)
    predicted = not single or (only.task.judged and only.spec.n_outputs == 1)
    return CallHeads(heads, specs, single, predicted)


@dataclass(frozen=True)
class Seen:
    """The rows one call predicted its heads on, and what came of it: the inputs (a
    tagger's mask is read on them), every head's labels (by output name for several),
    the weights, each head's outputs; and why evidence may be missing: the rows could not
    be read (``unread``), the forward pass failed, or a single output's predictions
    could not be judged (``unjudged``, said only when the rows were ``read``)."""

    x: Any = None
    y: Any = None
    weights: Any = None
    outputs: Mapping[str | None, Any] = field(default_factory=dict)
    read: bool = False
    failed: bool = False
    unread: str | None = None
    unjudged: str = ""

    def gap(self, judged: bool, single: bool) -> dict[str, str]:
        """Why a head has no evaluation when it should have had one (``Context.missing``)."""
        if self.unread:
            return {"eval": self.unread}
        if self.failed:
            return {"eval": PREDICTIONS_FAILED}
        if not judged and self.read and single:
            return {"eval": self.unjudged}
        return {}


def head_predictions(model: Any, head: Head, seen: Seen) -> Predictions | None:
    """A head's labels and outputs on the seen rows (a tagger's mask applied); None when
    either is missing."""
    y = head_labels(seen.y, head.name)
    out = seen.outputs.get(head.name)
    if y is None or out is None:
        return None
    preds = Predictions(y, out, seen.weights)
    return with_mask(model, seen.x, preds) if head.name is None else preds


def head_context(
    head: Head,
    preds: Predictions | None,
    labels: LabelSummary | None,
    seen: Seen,
    targets: TargetStats | None = None,
    **fields: Any,
) -> Context:
    """One head's context, for ``fit`` and ``model.evaluate`` alike: its task's evidence
    (``evaluation_of`` on its predictions), its task and spec, and why evidence is missing
    (``Seen.gap``, ``task_gap``). ``fields``: what only the caller knows (a fit's
    ``FitSpec`` and history, an evaluate's returned metrics)."""
    task = head.task.task
    evaluation = evaluation_of(task, head.spec, preds, labels, targets, head.names)
    gap = seen.gap(bool(evaluation) or not head.task.judged, head.name is None)
    missing = {evidence_field(task) if k == "eval" else k: v for k, v in gap.items()}
    return Context(
        **evaluation,
        task=task,
        model=head.spec,
        missing=missing | task_gap(head.task),
        **fields,
    )


def head_outputs(model: Any, heads: Heads, x: Any, batch_size: int | None) -> dict[Any, Any]:
    """The model's outputs on ``x`` by head (raises when the forward pass fails)."""
    if is_single(heads):
        return {None: predict_outputs(model, x, batch_size)}
    return dict(predict_heads(model, x, batch_size))


def head_labels(y: Any, name: str | None) -> Any:
    """One head's labels: ``y`` itself for a single-output model, else its entry in labels
    given by output name (None when they are not given so)."""
    if name is None:
        return y
    return y.get(name) if isinstance(y, Mapping) else None


def row_labels(y: Any, heads: Heads) -> Any:
    """The labels that stand for a row's class in the row checks (duplicates and overlap
    are about the inputs either way): the first classification head's."""
    if is_single(heads):
        return y
    first = _first_classifier(heads)
    return head_labels(y, first) if first is not None else None


def _first_classifier(heads: Heads) -> str | None:
    return next((name for name, spec in heads.items() if spec.is_classifier), None)


def rows_note(heads: Heads) -> str | None:
    """How the row checks of a multi-output model were keyed (None for one output)."""
    if is_single(heads):
        return None
    first = _first_classifier(heads)
    labelled = f"with the labels of output '{first}'" if first else "without labels"
    return f"once on the model's inputs, {labelled}"


def head_task(spec: ModelSpec, y: Any, x: Any = None) -> TaskDecision:
    """What one head judges (``core.task.decide_task``) from its compiled loss, its output
    layer and its labels; ``x`` (the whole model's inputs, single output only) tells an
    autoencoder, whose targets are its inputs."""
    return decide_task(
        loss=spec.loss,
        activation=spec.output_activation,
        output_units=spec.output_units,
        output_rank=spec.output_rank,
        targets=y,
        inputs_are_targets=_same_data(x, y),
        custom_loop=bool(spec.custom_loop),
    )


def head_tasks(heads: Heads, y: Any, x: Any) -> dict[str | None, TaskDecision]:
    """Each head's task (``head_task``) from the labels and inputs of a call (fit's training
    rows, the evaluated rows); the inputs only tell a single output's autoencoder."""
    return {
        name: head_task(spec, head_labels(y, name), x if name is None else None)
        for name, spec in heads.items()
    }


def _same_data(x: Any, y: Any) -> bool:
    """``fit(X, X)``: the targets are the very inputs (checked on the first rows)."""
    if x is None or y is None:
        return False
    if x is y:
        return True
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or x.shape != y.shape:
        return False
    return x.ndim > 1 and bool(np.array_equal(x[:64], y[:64]))


def evidence_field(task: Task) -> str:
    """The ``Context`` field that holds a task's judged predictions (what a not-checked
    record names when they are missing)."""
    return {Task.REGRESSION: "regression", Task.MULTILABEL: "multilabel"}.get(task, "eval")


def evaluation_of(
    task: Task,
    spec: ModelSpec,
    preds: Predictions | None,
    labels: LabelSummary | None,
    train_targets: TargetStats | None = None,
    names: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The one place a head's outputs become the evidence its task is judged on, as the
    ``Context`` fields that hold it (``{"eval": Classification}`` for a single-label
    classifier); empty when there is nothing to judge. Fit, ``model.evaluate`` and the
    training-rows fallback all come through here. ``names``: the user's tag names (a
    tagger's entity F1, ``head_names``)."""
    if preds is None:
        return {}
    if task in SINGLE_LABEL:
        evaluation = classification_of(spec, preds, labels)
        return {"eval": evaluation} if evaluation is not None else {}
    if task is Task.MULTILABEL:
        return multilabel_evidence(spec, preds)
    if task is Task.SEQUENCE:
        return sequence_evidence(spec, preds, names)
    if task is Task.REGRESSION:  # the baseline: the training targets' median (fit, memory)
        regression = regression_of(preds, train_targets)
        return {"regression": regression} if regression is not None else {}
    return {}


def head_names(
    options: CheckOptions, heads: Heads, model: Any, notes: list[str]
) -> dict[str | None, tuple[str, ...]]:
    """Each head's ``label_names`` (``autolog(label_names=...)``); names that do not fit
    the model add a note to ``notes`` saying why they were ignored (never an error after
    fit)."""
    given = dict(options.label_names)
    if not given:
        return {}
    if is_single(heads) and None not in given:
        own = [n for n in (getattr(model, "output_names", None) or []) if n in given]
        given = {None: given[own[0]]} if own else given
    ignored = [_ignored(key, heads) for key in given if key not in heads]
    names = {key: given[key] for key in given if key in heads}
    for key, spec in list(heads.items()):
        units = spec.output_units
        if key in names and units and units > 1 and len(names[key]) != units:
            where = "label_names" if key is None else f"label_names[{key!r}]"
            ignored.append(
                f"{where} has {len(names[key])} names but the output has {units} "
                "classes/tags: the names were ignored"
            )
            del names[key]
    for note in ignored:
        _log.warning("mlflow-sanity: %s", note)
    notes.extend(ignored)
    return names


def _ignored(key: str | None, heads: Heads) -> str:
    if key is None:
        return (
            f"label_names is one list but the model has {len(heads)} outputs "
            f"({', '.join(map(str, heads))}): give output name -> names; ignored"
        )
    outputs = "one output" if is_single(heads) else f"outputs {', '.join(map(str, heads))}"
    return f"label_names names output {key!r}, but the model has {outputs}: ignored"


def classification_of(
    spec: ModelSpec, preds: Predictions | None, labels: LabelSummary | None
) -> Classification | None:
    """Predictions of a single-label classifier head as the core's ``Classification``
    (``core/outputs.py``, class indices as labels); None for multi-label targets or labels
    that are not classes. The caller decides that the head is a classifier
    (``ModelSpec.is_classifier``). ``labels``: a fit's summary of the labels the head was
    trained on: targets that are no classes there are not classified on its validation
    rows either. Without it the predicted rows' own labels decide (``model.evaluate``, a
    seed's scores)."""
    if preds is None or (labels is not None and not labels.is_single_label):
        return None
    try:  # NaN outputs (a diverged fit) are non_finite_loss's to report
        return classify_scores(spec, preds.y_true, preds.outputs)
    except InputError as exc:
        _log.info("predictions not checked: %s", exc)
        return None


@dataclass
class Judged:
    """One report for a model, with the contexts that made it: by head (the single head's
    holds the rows too) and the one the row checks ran on."""

    report: Report
    contexts: dict[str | None, Context]
    rows: Context


def judge_heads(
    contexts: Mapping[str | None, Context],
    rows: Context,
    *,
    options: CheckOptions,
    provenance: Provenance,
    inputs: Mapping[str, Any] | None = None,
) -> Judged:
    """Run the checks on each head's context and on the rows, once, into one report."""
    if is_single(contexts):
        ctx = with_rows(contexts[None], rows)
        report = build_report(ctx, options=options, provenance=provenance, inputs=inputs)
        return Judged(report, {None: ctx}, ctx)
    by_head = {
        name: name_findings(build_report(ctx, options=options, provenance=provenance), name)
        for name, ctx in contexts.items()
    }
    row_report = build_report(rows, options=options, provenance=replace(provenance, rows=None))
    merged = functools.reduce(Report.merge, [*by_head.values(), row_report])
    judged = [r.provenance for r in by_head.values() if r.provenance.evaluated_on]
    merged.provenance = judged[0] if judged else row_report.provenance
    merged.inputs.update(inputs or {})
    merged.inputs["heads"] = {
        str(name): {
            "model": contexts[name].model.to_dict() if contexts[name].model else None,
            "status": report.status,
            "flagged": report.flagged_ids,
        }
        for name, report in by_head.items()
    }
    merged.inputs["heads_leakage"] = rows_note({n: c.model for n, c in contexts.items()})
    return Judged(merged, dict(contexts), rows)


def with_rows(head: Context, rows: Context) -> Context:
    """One context holding a head's evidence and the rows' (a single-output model)."""
    given = {name: getattr(rows, name) for name in ROW_FIELDS if getattr(rows, name) is not None}
    # the rows' measurements, begun or done (the lookup ``analyse`` started), come along
    shared = {**rows.shared, **head.shared}
    return replace(head, **given, missing={**rows.missing, **head.missing}, shared=shared)


def name_findings(report: Report, head: str | None) -> Report:
    """A head's report with every finding naming the output it is about."""
    if head is None:
        return report
    report.findings = [
        replace(f, message=f"Output '{head}': {f.message}", evidence={**f.evidence, "output": head})
        for f in report.findings
    ]
    return report


def head_files(contexts: Mapping[str | None, Context], prefix: str = "") -> dict[str, bytes]:
    """The plots and tables of each head that was evaluated: confusion matrix and per-class
    plots of a classifier (a tagger's real tokens too), predicted vs actual and residuals of
    a regressor, the per-label table of a multi-label head."""
    from mlflow_sanity.report import classification_files, per_label_csv
    from mlflow_sanity.report.regression_plots import regression_files

    files: dict[str, bytes] = {}
    for name, ctx in contexts.items():
        head = f"{prefix}{name}_" if name is not None else prefix
        if ctx.eval is not None:
            files.update(classification_files(ctx.eval, prefix=head))
        if ctx.regression is not None:
            files.update(regression_files(ctx.regression, head))
        if ctx.multilabel is not None:
            files[f"{head}per_class.csv"] = per_label_csv(ctx.multilabel.per_label).encode()
    return files

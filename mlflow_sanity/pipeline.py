"""The pure pipeline: plain arrays in, ``Report`` out. No MLflow, no Keras."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from mlflow_sanity.checks import CheckOptions, Context, Thresholds, check_all, skipped_checks
from mlflow_sanity.checks.corrected import R2
from mlflow_sanity.checks.leakage.scaling import evaluated_split
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.findings import Provenance, Report
from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.metrics import Classification, classify
from mlflow_sanity.core.regression import regress
from mlflow_sanity.core.task import Task, task_of_classes

# under the report's metric prefix (docs/architecture.md "Public contract")
CORRECTED_METRIC = "corrected_accuracy"
CORRECTED_R2 = "corrected_r2"  # a regressor's (R² on the rows not seen in training)


def build_report(
    ctx: Context,
    *,
    thresholds: Thresholds | None = None,
    disable: Iterable[str] = (),
    options: CheckOptions | None = None,
    source: str = "",
    provenance: Provenance | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Report:
    """Run every applicable check on ``ctx`` and collect metrics and tables into a report.

    ``options`` (already validated by an adapter) or ``thresholds``/``disable`` (validated
    here) choose the checks; unknown ids or threshold names raise ``ValueError``.
    ``provenance`` says which call made the report (its ``call`` names the not-checked
    records); ``source`` alone will do for a caller with nothing more to say. Its
    ``evaluated_on`` and ``rows`` stand only when ``ctx.eval`` holds predictions.
    """
    options = options or CheckOptions.of(thresholds, disable)
    provenance = provenance or Provenance(source=source)
    c: Classification | None = ctx.eval
    judged = next((e for e in (c, ctx.multilabel, ctx.regression) if e is not None), None)
    rows = judged.n if judged is not None else None
    if ctx.task is None and c is not None:  # a caller from before the task rule
        ctx = replace(ctx, task=task_of_classes(len(c.labels)))
    if ctx.task is None and ctx.multilabel is not None:
        ctx = replace(ctx, task=Task.MULTILABEL)
    if ctx.task is None and ctx.regression is not None:
        ctx = replace(ctx, task=Task.REGRESSION)
    checked = check_all(ctx, options, provenance.source, provenance.call)
    report = Report(
        findings=checked.findings,
        inputs=dict(inputs or {}),
        provenance=replace(
            provenance,
            evaluated_on=provenance.evaluated_on if rows is not None else None,
            rows=rows,
        ),
        skipped=[*skipped_checks(ctx, options, provenance.call), *checked.crashed],
        task=ctx.task.value if ctx.task is not None else "",
    )
    if ctx.regression is not None:
        report.metrics.update(ctx.regression.metrics)
        report.inputs.setdefault("regression_baseline", ctx.regression.baseline_from)
    report.evaluated_split = _evaluated_split(ctx)
    if c is not None:
        report.metrics.update(c.metrics)
        report.tables["per_class"] = c.per_class
        report.inputs.setdefault("labels", [str(x) for x in c.labels])
    add_task_evidence(report, ctx)
    corrected = report.corrected
    if corrected is not None:  # the figure beside the headline, charted like the others
        name = CORRECTED_R2 if corrected.metric == R2 else CORRECTED_METRIC
        report.metrics[name] = corrected.value
    return report


def add_task_evidence(report: Report, ctx: Context) -> None:
    """A multi-label head's metrics and per-label table (the ``per_class`` table: one row
    per label); a tagger's masked-position count and entity scores."""
    ml = ctx.multilabel
    if ml is not None:
        report.metrics.update(ml.metrics)
        report.tables["per_class"] = ml.per_label
        report.inputs.setdefault("labels", list(ml.labels))
    seq = ctx.sequence
    if seq is not None:
        report.metrics.update(seq.entity or {})
        report.inputs["sequence"] = seq.to_dict()
        if seq.entity_table:
            report.tables["per_entity"] = seq.entity_table


def _evaluated_split(ctx: Context) -> Fingerprint | None:
    """The evaluated rows' fingerprint, for the report to carry (data a check could not
    read is no split: None)."""
    with Caught(Origin.OURS, "fingerprinting the evaluated rows"):
        return evaluated_split(ctx)
    return None


def check_predictions(
    y_true: Any,
    y_pred: Any = None,
    proba: Any = None,
    *,
    labels: Sequence[Any] | None = None,
    pos_label: Any = None,
    thresholds: Thresholds | None = None,
    disable: Iterable[str] = (),
) -> Report:
    """Check one set of predictions without MLflow: the quickest way to audit a score.

    >>> report = check_predictions([0] * 95 + [1] * 5, [0] * 100)
    >>> report.status, report.flagged_ids[:2]
    ('fail', ['accuracy_at_baseline', 'minority_class_missed'])
    """
    c = classify(y_true, y_pred, proba, labels=labels, pos_label=pos_label)
    return build_report(Context(eval=c), thresholds=thresholds, disable=disable, source="python")


def check_regression(
    y_true: Any,
    y_pred: Any,
    *,
    train_targets: Any = None,
    thresholds: Thresholds | None = None,
    disable: Iterable[str] = (),
) -> Report:
    """Check one set of a regressor's predictions without MLflow.

    ``train_targets`` (the training targets) make the baseline the constant a model
    that learned nothing would predict: their median. Without them the evaluation
    median stands in, and the report says so.

    >>> report = check_regression([1.0, 2.0, 3.0, 4.0] * 10, [2.5] * 40)
    >>> report.status, report.flagged_ids
    ('fail', ['prediction_collapse', 'regression_at_baseline'])
    """
    r = regress(y_true, y_pred, train_targets=train_targets)
    ctx = Context(regression=r, task=Task.REGRESSION)
    return build_report(ctx, thresholds=thresholds, disable=disable, source="python")

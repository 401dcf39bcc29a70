"""The pure pipeline: plain arrays in, ``Report`` out. No MLflow, no Keras."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mlflow_sanity.checks import Context, run_checks
from mlflow_sanity.findings import Report
from mlflow_sanity.metrics import Classification, InputError, classify

Thresholds = Mapping[str, Mapping[str, float]]


def build_report(
    ctx: Context,
    *,
    thresholds: Thresholds | None = None,
    disable: Iterable[str] = (),
    source: str = "",
    inputs: Mapping[str, Any] | None = None,
) -> Report:
    """Run every applicable check on ``ctx`` and collect metrics and tables into a report."""
    findings = run_checks(ctx, thresholds, disable, source)
    report = Report(findings=findings, inputs=dict(inputs or {}))
    c: Classification | None = ctx.eval
    if c is not None:
        report.metrics.update(c.metrics)
        report.tables["per_class"] = c.per_class
        report.inputs.setdefault("labels", [str(x) for x in c.labels])
        report.inputs.setdefault("n_rows", c.n)
    return report


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


def outputs_to_proba(outputs: Any, activation: str | None = None) -> np.ndarray:
    """Turn a classifier's raw outputs into probabilities.

    A linear (logit) output, or any output outside [0, 1], gets a sigmoid (one unit)
    or a softmax (several units), so logits and probabilities are judged alike.
    """
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise InputError(f"model outputs must be 1-D or 2-D, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise InputError("model outputs contain NaN or inf")
    is_logit = activation == "linear" or out.min() < 0 or out.max() > 1
    if out.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-out[:, 0])) if is_logit else out[:, 0]
        return np.column_stack([1 - p, p])
    if is_logit or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        z = np.exp(out - out.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return out

"""``invalid_labels``: labels that cannot fit the loss."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow_sanity.checks.keras_semantics import rounded
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, passed
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    BINARY_CE,
    CATEGORICAL_CE,
    SPARSE_CE,
    FitSpec,
    ModelSpec,
)
from mlflow_sanity.core.task import CLASS_TASKS

# -- invalid_labels -----------------------------------------------------------------------


@check(
    "invalid_labels",
    tasks=CLASS_TASKS,
    flags=(
        "fail: non-integer class ids for sparse CE (labels divided by 255), ids outside "
        "0..units−1, values outside [0, 1] for binary CE, one-hot width ≠ output units, one "
        "class in the training labels; warn: multi-hot targets with a softmax and "
        "categorical CE"
    ),
    requires=["fit", "model"],
    explains=SYMPTOMS,
    remedy="Give sparse_categorical_crossentropy integer class ids 0..k-1 (not scaled "
    "labels), binary_crossentropy 0/1 labels, categorical_crossentropy one-hot rows as wide "
    "as the output; multi-label targets need a sigmoid output with binary_crossentropy; "
    "check the training split holds every class.",
)
def invalid_labels(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Labels that cannot fit the loss (non-integer sparse ids, values outside [0, 1],
    multi-hot with softmax, one-hot width != output units, a single training class)."""
    m = _measure_labels(ctx)
    if m is None:
        return None
    if m.fails:
        text = "; ".join(m.fails) + "."
        return Outcome(
            Severity.FAIL, text[:1].upper() + text[1:], m.evidence, "the labels do not fit the loss"
        )
    if m.warns:
        text = "; ".join(m.warns) + "."
        return Outcome(
            Severity.WARN,
            text[:1].upper() + text[1:],
            m.evidence,
            "the labels do not fit the output",
        )
    return passed("The labels fit the loss.", m.evidence)


@dataclass(frozen=True)
class LabelFit:
    """What ``invalid_labels`` grades: each way the labels cannot fit, by how bad it is."""

    fails: tuple[str, ...]  # the loss cannot learn from these labels
    warns: tuple[str, ...]  # the output cannot express them
    evidence: Mapping[str, Any]


def _measure_labels(ctx: Context) -> LabelFit | None:
    """Compare the training label values with the loss and the output layer; None for
    a multi-output model, a non-classifier or labels that were not read."""
    fit: FitSpec = ctx.fit
    spec: ModelSpec = ctx.model
    lv = fit.label_values
    if lv is None or spec.n_outputs != 1 or not spec.is_classifier:
        return None
    loss, units = spec.loss, spec.output_units
    evidence: dict[str, Any] = {
        "loss": loss,
        "output_units": units,
        "label_min": rounded(lv.min),
        "label_max": rounded(lv.max),
        "label_width": lv.width,
        "integer": lv.integer,
        "distinct_values": lv.n_distinct,
    }
    fails, warns = [], []
    if loss in SPARSE_CE and lv.width == 1:
        if not lv.integer:
            fails.append(
                f"sparse categorical cross-entropy got non-integer labels ({lv.min:.4g} to "
                f"{lv.max:.4g}): Keras truncates them to integer class ids, so most rows "
                "become class 0 (labels divided by 255?)"
            )
        elif lv.min < 0 or (units and lv.max >= units):
            fails.append(
                f"class ids {lv.min:.0f}..{lv.max:.0f} do not fit {units} output units "
                f"(0..{(units or 1) - 1})"
            )
    if loss in BINARY_CE and (lv.min < 0 or lv.max > 1):
        fails.append(
            f"binary cross-entropy needs labels in [0, 1], got {lv.min:.4g} to {lv.max:.4g}"
        )
    if loss in CATEGORICAL_CE and lv.width > 1:
        if units and lv.width != units:
            fails.append(f"one-hot labels are {lv.width} wide but the output has {units} units")
        if (
            lv.max_row_sum is not None
            and lv.max_row_sum > 1 + 1e-6
            and spec.output_activation == "softmax"
        ):
            warns.append(
                "multi-hot targets (rows with several 1s) with a softmax output: softmax makes "
                "the classes compete, so it cannot say yes to several"
            )
    labels = fit.labels
    if labels is not None and labels.is_single_label and len(labels.train_counts) == 1:
        only = next(iter(labels.train_counts))
        fails.append(f"the training labels hold one class ({only}): there is nothing to learn")
    return LabelFit(tuple(fails), tuple(warns), evidence)

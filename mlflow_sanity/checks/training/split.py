"""label_shift: do training and validation hold the classes in the same shares?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from mlflow_sanity.checks.keras_semantics import rounded
from mlflow_sanity.checks.registry import Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.checks.training.notes import class_shares
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import FitSpec, LabelSummary
from mlflow_sanity.core.task import SINGLE_LABEL


@dataclass(frozen=True)
class _Shift:
    """The two label distributions over the classes seen in either."""

    classes: list[str]
    n_train: int
    n_val: int
    p_train: np.ndarray
    p_val: np.ndarray
    chi2: float
    p_value: float

    @property
    def distance(self) -> float:
        """Total variation distance: half the sum of absolute share differences."""
        return float(0.5 * np.abs(self.p_train - self.p_val).sum())

    def missing(self, min_expected: float) -> list[str]:
        """Classes with no validation row although ``min_expected`` of them were due."""
        expected = self.p_train * self.n_val
        return [
            c
            for c, exp, p in zip(self.classes, expected, self.p_val, strict=True)
            if p == 0 and reaches(exp, min_expected, inclusive=True)
        ]

    def shares_text(self) -> str:
        pairs = zip(self.classes, self.p_train, self.p_val, strict=True)
        return ", ".join(f"{c}: {a:.0%}→{b:.0%}" for c, a, b in pairs)


def _measure_shift(train_counts: Mapping[str, int], val_counts: Mapping[str, int]) -> _Shift:
    classes = sorted({*train_counts, *val_counts}, key=int)
    train = np.array([train_counts.get(c, 0) for c in classes], dtype=np.float64)
    val = np.array([val_counts.get(c, 0) for c in classes], dtype=np.float64)
    p_train = np.array(list(class_shares(train_counts, classes).values()), dtype=np.float64)
    p_val = np.array(list(class_shares(val_counts, classes).values()), dtype=np.float64)
    if len(classes) > 1:
        chi2, p_value, _, _ = stats.chi2_contingency(np.vstack([train, val]))
    else:
        chi2, p_value = 0.0, 1.0
    return _Shift(
        classes, int(train.sum()), int(val.sum()), p_train, p_val, float(chi2), float(p_value)
    )


def _unreadable(fit: FitSpec) -> Outcome:
    return Outcome(
        Severity.INFO,
        f"Data checks skipped: {fit.data_note or 'the data could not be read'}.",
        {"validation": fit.validation},
    )


def _no_validation(fit: FitSpec) -> Outcome | None:
    """Without validation labels: info when fit had no validation data at all."""
    if fit.validation != "none":
        return None  # validation was given but its labels were not read
    return Outcome(
        Severity.INFO,
        "No validation data during fit, so there is no split to compare.",
        {"validation": fit.validation},
    )


@check(
    "label_shift",
    tasks=SINGLE_LABEL,
    flags=(
        "chi-square test + total variation distance between training and validation labels "
        "(catches `validation_split` on label-sorted rows)"
    ),
    requires=["fit"],
    remedy="Split with stratification (train_test_split(..., stratify=y, shuffle=True)) and "
    "pass validation_data; validation_split takes the last rows before shuffling, so shuffle "
    "the data first.",
    alpha=0.01,
    warn_distance=0.10,
    fail_distance=0.50,
    min_expected=5,
)
def label_shift(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Train and validation label distributions differ (unstratified or ordered split).

    A chi-square test says whether the difference is real; the total variation distance
    (half the sum of absolute share differences) says whether it is large enough to
    matter. Both must agree for a warning, so big data sets do not flag trivia.
    """
    fit: FitSpec = ctx.fit
    labels = fit.labels
    if not fit.data_readable:
        return _unreadable(fit)
    if labels is None or not labels.is_single_label:
        return None
    if labels.val_counts is None:
        return _no_validation(fit)
    shift = _measure_shift(labels.train_counts, labels.val_counts)
    missing = shift.missing(t["min_expected"])
    significant = reaches(shift.p_value, t["alpha"], below=True)
    severity = grade(
        shift.distance,
        fail=t["fail_distance"],
        warn=t["warn_distance"] if significant else None,
        inclusive=True,
    )
    evidence = _evidence(fit, labels, shift, missing)
    if missing:
        text = (
            f"Validation has no rows of class(es) {', '.join(missing)} although training "
            f"does ({shift.shares_text()})."
        )
        return Outcome(Severity.FAIL, text + _why(fit, labels), evidence)
    if severity is not Severity.PASSED:
        text = (
            f"Class shares differ between training and validation ({shift.shares_text()}; "
            f"distance {shift.distance:.2f})."
        )
        return Outcome(severity, text + _why(fit, labels), evidence)
    return passed(
        f"Training and validation class shares agree (distance {shift.distance:.2f}, "
        f"chi-square p={shift.p_value:.2g}).",
        evidence,
    )


def _why(fit: FitSpec, labels: LabelSummary) -> str:
    if fit.validation == "validation_split" and labels.ordered:
        return (
            f" validation_split={fit.validation_split:g} takes the last rows before shuffling, "
            "and the rows are ordered by label."
        )
    return ""


def _evidence(
    fit: FitSpec, labels: LabelSummary, shift: _Shift, missing: list[str]
) -> dict[str, Any]:
    return {
        "validation": fit.validation,
        "train_shares": {c: rounded(s) for c, s in zip(shift.classes, shift.p_train, strict=True)},
        "validation_shares": {
            c: rounded(s) for c, s in zip(shift.classes, shift.p_val, strict=True)
        },
        "total_variation_distance": rounded(shift.distance),
        "chi2": rounded(shift.chi2),
        "p_value": shift.p_value,
        "n_train": shift.n_train,
        "n_validation": shift.n_val,
        "classes_missing_from_validation": missing,
        "rows_ordered_by_label": labels.ordered,
    }

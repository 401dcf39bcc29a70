"""``unscaled_inputs``: numeric inputs far from unit scale, with no normalisation layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow_sanity.checks.causes.common import _SCALE_SENSITIVE
from mlflow_sanity.checks.keras_semantics import rounded
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    ColumnStats,
    FitSpec,
)
from mlflow_sanity.core.task import ALL_TASKS

# -- unscaled_inputs ----------------------------------------------------------------------


def _column_evidence(c: ColumnStats) -> dict[str, Any]:
    return {
        "column": c.name,
        "min": rounded(c.min),
        "max": rounded(c.max),
        "std": rounded(c.std),
        "scale": rounded(c.scale),
    }


@check(
    "unscaled_inputs",
    tasks=ALL_TASKS,
    flags=(
        "numeric inputs reach a Dense/Conv/RNN first layer with no "
        "`Normalization`/`Rescaling`/batch-normalisation layer in front: warn when a "
        "column's (image: channel's) root-mean-square scale ≥ `warn_scale` or the ranges "
        "(max − min) of the non-constant columns differ ≥ `warn_ratio`-fold, info at the "
        "`info_*` limits; evidence: per-column min/max/std of (a sample of ≤ 10,000) "
        "training rows, the 5 worst columns; the fix names `Rescaling(1/255)` for pixel "
        "values, else an adapted `Normalization`"
    ),
    requires=["fit"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Scale the inputs inside the model: keras.layers.Rescaling(1/255) as the first "
    "layer for pixel values 0-255, or norm = keras.layers.Normalization(); "
    "norm.adapt(x_train) for tabular columns (statistics from the training rows only).",
    info_scale=10.0,
    warn_scale=50.0,
    info_ratio=100.0,
    warn_ratio=1000.0,
)
def unscaled_inputs(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Numeric inputs far from unit scale reach a dense/conv network with no normalising layer.

    A column's scale is its root mean square (1 when standardised, ~0.5 for [0, 1]); the
    worst column's scale and the ratio between the largest and smallest non-zero ranges
    (max - min) are graded.
    """
    fit: FitSpec = ctx.fit
    stats = fit.inputs
    if stats is None or not stats.columns or not stats.first_layer:
        return None
    if not stats.first_layer.startswith(_SCALE_SENSITIVE):
        return None
    cols = sorted(stats.columns, key=lambda c: -c.scale)
    varying = [c.spread for c in cols if c.spread > 0]
    worst_scale = cols[0].scale
    ratio = max(varying) / min(varying) if varying and min(varying) > 0 else 1.0
    what = "column" if stats.kind == "columns" else "channel"
    evidence: dict[str, Any] = {
        "kind": stats.kind,
        f"n_{what}s": len(cols),
        "rows_measured_of": stats.n_rows,
        "first_layer": stats.first_layer,
        "normalizing_layer": stats.normalizer,
        "max_scale": rounded(worst_scale),
        "range_ratio": rounded(ratio, 1),
        f"worst_{what}s": [_column_evidence(c) for c in cols[:5]],
    }
    if stats.normalizer:
        return passed(f"The model normalises its inputs ({stats.normalizer}).", evidence)
    severity = max(
        grade(worst_scale, warn=t["warn_scale"], info=t["info_scale"], inclusive=True),
        grade(ratio, warn=t["warn_ratio"], info=t["info_ratio"], inclusive=True),
        key=lambda s: s.rank,
    )
    if severity is Severity.PASSED:
        return passed(
            f"Inputs are near unit scale (largest {what} scale {worst_scale:.3g}).", evidence
        )
    c = cols[0]
    pixels = c.min >= 0 and 100 <= max(x.max for x in cols) <= 256
    text = (
        f"The inputs reach the first {stats.first_layer} layer unscaled: {what} {c.name} "
        f"spans {c.min:.4g}..{c.max:.4g} (std {c.std:.3g})"
    )
    if reaches(ratio, t["info_ratio"], inclusive=True):
        text += f", and {what} ranges differ {ratio:.3g}-fold"
    fix = (
        "add keras.layers.Rescaling(1/255) as the first layer"
        if pixels
        else "add a keras.layers.Normalization layer adapted on the training data"
    )
    text += (
        "; no Normalization/Rescaling layer in front. Large inputs saturate or kill units "
        f"and force a tiny learning rate: {fix}."
    )
    because = f"the inputs are unscaled (values up to {max(abs(c.min), abs(c.max)):.4g})"
    return Outcome(severity, text, evidence, because)

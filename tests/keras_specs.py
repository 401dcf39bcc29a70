"""Hand-written ModelSpec/FitSpec builders for the pure training-check tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlflow_sanity.checks import CheckOptions, Context, run_checks
from mlflow_sanity.core.findings import Finding
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    LayerSpec,
    MetricSpec,
    ModelSpec,
    summarize_labels,
)


def resolve_accuracy(units: int, rank: int = 2, labels_rank: int = 1) -> str:
    """Keras 3's resolution of ``metrics=["accuracy"]`` from shapes alone."""
    if rank == 1:
        return "categorical_accuracy"
    if units == 1:
        return "binary_accuracy"
    return "sparse_categorical_accuracy" if labels_rank == 1 else "categorical_accuracy"


def model_spec(
    units: int = 3,
    activation: str | None = "softmax",
    loss: str | None = "sparse_categorical_crossentropy",
    *,
    from_logits: bool = False,
    hidden: Sequence[str] = ("relu",),
    metrics: Sequence[MetricSpec] | None = None,
    rank: int = 2,
    labels_rank: int = 1,
    extra_layers: Sequence[LayerSpec] = (),
) -> ModelSpec:
    layers = [LayerSpec(f"hidden_{i}", "Dense", act, 16) for i, act in enumerate(hidden)]
    layers.append(LayerSpec("out", "Dense", activation, units))
    layers.extend(extra_layers)
    if metrics is None:
        metrics = [MetricSpec("accuracy", "accuracy", resolve_accuracy(units, rank, labels_rank))]
    return ModelSpec(
        layers=tuple(layers),
        output_units=units,
        output_activation=activation,
        output_rank=rank,
        output_layer="out",
        loss=loss,
        from_logits=from_logits,
        metrics=tuple(metrics),
        optimizer="Adam",
    )


def fit_spec(
    y_train: Any = None, y_val: Any = None, units: int | None = None, **kwargs: Any
) -> FitSpec:
    labels = None
    if y_train is not None:
        labels = summarize_labels(np.asarray(y_train), y_val, units, kwargs.pop("y_all", None))
    kwargs.setdefault("validation", "validation_data" if y_val is not None else "none")
    return FitSpec(labels=labels, **kwargs)


def run_one(check_id: str, ctx: Context, **thresholds: float) -> Finding | None:
    """Run the registry on ``ctx`` and return the finding of one check (None: skipped)."""
    found = run_checks(ctx, CheckOptions.of({check_id: thresholds} if thresholds else None))
    return next((f for f in found if f.id == check_id), None)

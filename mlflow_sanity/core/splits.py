"""Plain descriptions of the data around an evaluation: splits, model selection, scaling.

Adapters fill these from MLflow runs, Keras objects or files; the leakage checks read
them. Pure data: no MLflow, no Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    """One side of a split: features (DataFrame, array or mapping) and optional labels."""

    features: Any
    labels: Any = None
    name: str = ""


def as_split(data: Any) -> Split | None:
    """Accept a ``Split``, a ``(features, labels)`` tuple or bare features."""
    if data is None or isinstance(data, Split):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return Split(data[0], data[1])
    return Split(data)


@dataclass(frozen=True)
class ModelSelection:
    """What picked the model during training: the metrics that EarlyStopping or a
    best-only ModelCheckpoint monitored, and which callbacks did it."""

    monitors: tuple[str, ...] = ()
    callbacks: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ModelSelection:
        data = data or {}
        return cls(
            tuple(str(m) for m in data.get("monitors") or ()),
            tuple(str(c) for c in data.get("callbacks") or ()),
        )

    @property
    def validation_monitors(self) -> tuple[str, ...]:
        return tuple(m for m in self.monitors if m.startswith("val_"))

    def to_dict(self) -> dict[str, list[str]]:
        return {"monitors": list(self.monitors), "callbacks": list(self.callbacks)}


@dataclass(frozen=True)
class NormalizationStats:
    """Per-feature mean and variance of a normalisation layer at the model input."""

    mean: np.ndarray
    variance: np.ndarray
    layer: str = ""

    @classmethod
    def of(
        cls, mean: Sequence[float], variance: Sequence[float], layer: str = ""
    ) -> NormalizationStats:
        return cls(
            np.asarray(mean, dtype=np.float64).reshape(-1),
            np.asarray(variance, dtype=np.float64).reshape(-1),
            layer,
        )

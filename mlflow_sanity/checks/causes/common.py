"""What the cause checks share: the probes, the raw history, number formatting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mlflow_sanity.checks.registry import Context, Outcome
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    ProbeSpec,
)

_SCALE_SENSITIVE = (
    *("Dense", "EinsumDense", "Conv", "SeparableConv", "DepthwiseConv"),
    *("LSTM", "GRU", "SimpleRNN"),
)


def _probes(ctx: Context) -> ProbeSpec | None:
    fit: FitSpec | None = ctx.fit
    return fit.probes if fit is not None else None


def _probe_failed(probes: ProbeSpec) -> Outcome | None:
    """An ``info`` finding when a probe raised inside fit (caught: training went on)."""
    if not probes.errors:
        return None
    return Outcome(
        Severity.INFO,
        f"The training probe failed ({probes.errors[0]}); training itself was not affected.",
        {"probe_errors": list(probes.errors)},
    )


def _raw(history: Mapping[str, Sequence[float]] | None, key: str) -> np.ndarray | None:
    values = (history or {}).get(key)
    if values is None or len(values) == 0:
        return None
    return np.asarray(values, dtype=np.float64)


def _g(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g}"

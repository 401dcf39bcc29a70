"""What the cheap probes of one ``fit`` measured: inputs, gradients, dead units, labels' values.

The cause checks (``checks/causes/``) read these through ``FitSpec.probes``,
``FitSpec.inputs`` and ``FitSpec.label_values``; the Keras adapter's probes fill them
(``adapters/keras/probes.py``, ``cause_data.py``). Pure: numpy only; ``core/keras_spec.py``
re-exports these names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ColumnStats:
    """Scale of one input column (tabular) or channel (images) over the training rows."""

    name: str
    min: float
    max: float
    mean: float
    std: float

    @property
    def spread(self) -> float:
        return self.max - self.min

    @property
    def scale(self) -> float:
        """Root mean square: the typical magnitude a first layer sees (1 when standardised)."""
        return float(np.sqrt(self.mean**2 + self.std**2))


@dataclass(frozen=True)
class InputStats:
    """Statistics of the training inputs, and whether the model normalises them itself.

    ``kind`` is ``columns`` (2-D tabular) or ``channels`` (images: per last-axis channel).
    ``first_layer`` is the class of the first layer with weights (``Dense``, ``Conv2D``...);
    ``normalizer`` names a ``Normalization``/``Rescaling``/batch-normalisation layer in
    front of it (None: raw values reach the weights).
    """

    kind: str
    n_rows: int
    columns: tuple[ColumnStats, ...] = ()
    first_layer: str | None = None
    normalizer: str | None = None


@dataclass(frozen=True)
class GradientProbe:
    """Gradient norms per layer (input side first) on a probe batch at one point of training.

    ``epoch`` is the number of epochs completed when measured (0: before training).
    """

    epoch: int
    layer_norms: tuple[tuple[str, float], ...] = ()
    weight_norm: float | None = None  # global L2 norm of the kernels
    loss: float | None = None  # the loss on the probe batch (inference mode)


@dataclass(frozen=True)
class NonFiniteEvent:
    """A NaN/inf seen during fit: in a logged value (``loss``/a metric) or in a layer's weights.

    ``epoch`` is 1-based; ``where`` is ``logs`` or ``weights``; ``name`` the key or layer.
    """

    epoch: int
    where: str
    name: str


@dataclass(frozen=True)
class DeadUnits:
    """ReLU-family units that output 0 for every row of the probe batch, in one layer."""

    layer: str
    units: int
    dead: int

    @property
    def share(self) -> float:
        return self.dead / self.units if self.units else 0.0


@dataclass(frozen=True)
class ProbeSpec:
    """What the cheap probes of one fit measured (a few probe batches, no per-batch hooks).

    ``backend`` is Keras' backend; ``gradients_note``/``errors`` say what could not be
    measured and why. ``learning_rate``: the optimizer's rate at the start and end of
    training (schedules resolved). ``updates``: optimizer steps taken; ``n_params``:
    trainable parameters.
    """

    backend: str = ""
    gradients: tuple[GradientProbe, ...] = ()
    gradients_note: str = ""
    dead_units: tuple[DeadUnits, ...] | None = None
    probe_rows: int = 0
    non_finite: tuple[NonFiniteEvent, ...] = ()
    terminated_on_nan: bool = False
    learning_rate_start: float | None = None
    learning_rate_end: float | None = None
    updates: int | None = None
    steps_per_epoch: int | None = None
    n_params: int | None = None
    errors: tuple[str, ...] = ()
    probe_rows_from: str = ""  # where the probe batch came from (arrays, rows read after fit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabelValues:
    """The raw values of the training labels (before any class reading): what the loss sees."""

    ndim: int
    width: int
    min: float
    max: float
    integer: bool
    n_distinct: int
    max_row_sum: float | None = None  # 2-D labels: the largest per-row sum (1: one-hot)


def label_values(y: Any) -> LabelValues | None:
    """Describe numeric label values; None for labels that are not numeric."""
    arr = np.asarray(y)
    if arr.size == 0 or arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2):
        return None
    arr = arr.astype(np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return None
    width = int(arr.shape[1]) if arr.ndim == 2 else 1
    return LabelValues(
        ndim=int(arr.ndim),
        width=width,
        min=float(finite.min()),
        max=float(finite.max()),
        integer=bool(np.all(finite == np.round(finite))),
        n_distinct=len(np.unique(finite[:100_000])),
        max_row_sum=float(np.nanmax(arr.sum(axis=1))) if arr.ndim == 2 and width > 1 else None,
    )


def input_stats(
    x: Any,
    first_layer: str | None,
    normalizer: str | None,
    max_rows: int = 10_000,
    max_values: int = 4_000_000,
) -> InputStats | None:
    """Per-column (2-D) or per-channel (images) min/max/mean/std of numeric inputs, on a
    fixed sample of at most ``max_rows`` rows (and ``max_values`` numbers); None for inputs
    that are not one array."""
    arr = np.asarray(x) if hasattr(x, "shape") or isinstance(x, np.ndarray) else None
    if arr is None or arr.dtype.kind not in "biuf" or arr.ndim < 2 or arr.shape[0] == 0:
        return None
    n = arr.shape[0]
    per_row = max(1, int(np.prod(arr.shape[1:])))
    max_rows = max(1, min(max_rows, max_values // per_row))  # images: bounded memory
    rows = np.unique(np.linspace(0, n - 1, min(n, max_rows)).astype(np.int64))
    sample = arr[rows].astype(np.float64)
    kind = "columns" if sample.ndim == 2 else "channels"
    if sample.ndim == 3:  # (rows, height, width): one grey channel
        sample = sample.reshape(len(rows), -1, 1)
    flat = sample.reshape(-1, sample.shape[-1]) if kind == "channels" else sample
    flat = np.where(np.isfinite(flat), flat, np.nan)
    columns = tuple(
        ColumnStats(
            str(i),
            float(np.nanmin(flat[:, i])),
            float(np.nanmax(flat[:, i])),
            float(np.nanmean(flat[:, i])),
            float(np.nanstd(flat[:, i])),
        )
        for i in range(flat.shape[1])
        if np.isfinite(flat[:, i]).any()
    )
    return InputStats(kind, int(n), columns, first_layer, normalizer)

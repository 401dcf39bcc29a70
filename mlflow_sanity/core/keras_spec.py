"""Plain descriptions of a compiled Keras model and of one ``fit`` call.

The autolog adapter translates Keras objects into these dataclasses, so that every
training check is a pure function of numbers and strings and can be unit-tested on
hand-written specs. Nothing here imports Keras, TensorFlow or MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Losses grouped by what they expect from the output layer.
REGRESSION_LOSSES = frozenset(
    {
        "mean_squared_error",
        "mean_absolute_error",
        "mean_squared_logarithmic_error",
        "mean_absolute_percentage_error",
        "huber",
        "log_cosh",
    }
)
BINARY_CE = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
CATEGORICAL_CE = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy"})
SPARSE_CE = frozenset({"sparse_categorical_crossentropy"})
CROSSENTROPY = BINARY_CE | CATEGORICAL_CE | SPARSE_CE
HINGE_LOSSES = frozenset({"hinge", "squared_hinge", "categorical_hinge"})

ACCURACY_VARIANTS = frozenset(
    {"binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"}
)
THRESHOLD_METRICS = frozenset({"binary_accuracy", "precision", "recall", "auc"})
# Layers whose behaviour differs between training and inference (training metrics are
# running means computed with them active).
STOCHASTIC_LAYERS = frozenset(
    {
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "GaussianNoise",
        "AlphaDropout",
    }
)
# Layers that only reshape or pass values through: the output activation is the one
# of the last layer before them.
PASS_THROUGH_LAYERS = frozenset(
    {"Reshape", "Flatten", "Dropout", "Identity", "Permute", "RepeatVector", "Cropping1D"}
    | STOCHASTIC_LAYERS
)

_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "msle": "mean_squared_logarithmic_error",
    "mape": "mean_absolute_percentage_error",
    "logcosh": "log_cosh",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "acc": "accuracy",
    "binary_acc": "binary_accuracy",
    "categorical_acc": "categorical_accuracy",
    "sparse_categorical_acc": "sparse_categorical_accuracy",
}


def canonical_name(name: str | None) -> str | None:
    """``"BinaryCrossentropy"``, ``"binary_crossentropy"`` and ``"bce"`` all become one name."""
    if not name:
        return None
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name)).lower()
    snake = snake.replace("cross_entropy", "crossentropy")
    return _ALIASES.get(snake, snake)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: enough to tell a hidden softmax or a stochastic layer."""

    name: str
    class_name: str
    activation: str | None = None
    units: int | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A compiled metric as Keras logs it.

    ``name`` is the history key (without ``val_``); ``requested`` is what the user wrote
    in ``compile``; ``variant`` is what Keras resolved it to (``"accuracy"`` becomes
    ``binary_accuracy``, ``categorical_accuracy`` or ``sparse_categorical_accuracy`` from
    shapes alone). ``weighted`` is True for metrics listed in ``weighted_metrics``.
    """

    name: str
    requested: str
    variant: str | None = None
    weighted: bool = False
    threshold: float | None = None
    from_logits: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", canonical_name(self.variant))

    @property
    def accuracy_like(self) -> bool:
        return self.variant in ACCURACY_VARIANTS


@dataclass(frozen=True)
class ModelSpec:
    """The compiled model: layers, output layer, loss and metrics."""

    layers: tuple[LayerSpec, ...] = ()
    output_units: int | None = None
    output_activation: str | None = None
    output_rank: int | None = None
    output_layer: str | None = None
    n_outputs: int = 1
    loss: str | None = None
    from_logits: bool = False
    metrics: tuple[MetricSpec, ...] = ()
    optimizer: str | None = None
    learning_rate: float | None = None
    # The optimizer class's own default rate (Adam: 0.001): a rate far from it is a
    # suspect when accuracy is stuck (``learning_rate``).
    default_learning_rate: float | None = None
    # Why Keras' logged loss may not be the training loss: the model trains through its
    # own ``train_step`` (or adds its loss in ``call``); empty for a standard fit.
    custom_loop: str = ""
    # How padded positions are masked in a tagger (``"a mask_zero Embedding"``), if at all.
    mask: str = ""

    def __post_init__(self) -> None:
        # "mse", "MeanSquaredError" and "mean_squared_error" are one loss to the checks.
        object.__setattr__(self, "loss", canonical_name(self.loss))
        object.__setattr__(self, "output_activation", canonical_name(self.output_activation))

    @property
    def outputs_logits(self) -> bool:
        """The output layer is linear: its values are logits or scores, not probabilities."""
        return self.output_activation == "linear"

    @property
    def hidden_layers(self) -> tuple[LayerSpec, ...]:
        names = [layer.name for layer in self.layers]
        if self.output_layer in names:
            return self.layers[: names.index(self.output_layer)]
        return self.layers[:-1]

    @property
    def stochastic_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.class_name in STOCHASTIC_LAYERS]

    @property
    def weighted_metrics(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics if m.weighted)

    @property
    def accuracy_metrics(self) -> tuple[MetricSpec, ...]:
        return tuple(m for m in self.metrics if m.accuracy_like)

    @property
    def is_classifier(self) -> bool:
        """Cross-entropy/hinge loss or a probability output: judged as a classifier."""
        return (
            self.loss in CROSSENTROPY
            or self.loss in HINGE_LOSSES
            or self.output_activation in ("softmax", "sigmoid")
            or bool(self.accuracy_metrics)
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = [
            f"{layer.name}: {layer.class_name}"
            + (f"({layer.activation})" if layer.activation else "")
            for layer in self.layers
        ]
        return data


@dataclass(frozen=True)
class CallbackSpec:
    """A callback that selects or restores weights. Epochs are 0-based history indices."""

    class_name: str
    monitor: str | None = None
    restore_best_weights: bool = False
    save_best_only: bool = False
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    restored: bool = False


@dataclass(frozen=True)
class LabelSummary:
    """How the labels are encoded and how many rows each class has in train and validation.

    ``encoding`` is ``binary`` (1-D 0/1), ``sparse`` (1-D class indices), ``one_hot``,
    ``multi_hot`` (several labels per row), ``continuous`` (not class labels) or ``other``
    (not numeric).
    Counts are keyed by class index as a string. ``ordered`` is True when the rows given
    to ``fit`` are sorted by label, which makes ``validation_split`` take one class.
    """

    encoding: str
    n_classes: int
    train_counts: dict[str, int] = field(default_factory=dict)
    val_counts: dict[str, int] | None = None
    ordered: bool = False

    @property
    def is_single_label(self) -> bool:
        return self.encoding in ("binary", "sparse", "one_hot")


@dataclass(frozen=True)
class Predictions:
    """Labels as given to ``fit`` and the raw model outputs on the same rows."""

    y_true: np.ndarray
    outputs: np.ndarray
    sample_weight: np.ndarray | None = None
    # Per-position mask of a tagger's outputs, True for real tokens (the model's own mask).
    mask: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.outputs.shape[0])


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


@dataclass(frozen=True)
class FitSpec:
    """How ``fit`` was called and what it did.

    ``validation`` is ``validation_data``, ``validation_split``, ``none`` or ``unknown``
    (an explicit callback that was not given the validation data). ``data_readable`` is
    False for ``tf.data``/generator inputs, which are never consumed; ``data_note`` says why.
    """

    n_train: int | None = None
    n_val: int | None = None
    validation: str = "none"
    validation_split: float = 0.0
    validation_freq: int = 1
    validation_steps: int | None = None
    class_weight: dict[Any, float] | None = None
    sample_weight: bool = False
    callbacks: tuple[CallbackSpec, ...] = ()
    other_callbacks: tuple[str, ...] = ()
    labels: LabelSummary | None = None
    data_readable: bool = True
    data_note: str = ""
    epochs: int | None = None
    epochs_run: int = 0
    validation_outputs: Predictions | None = None
    train_outputs: Predictions | None = None
    # What the training causes checks read (``checks/causes.py``): None when not measured.
    probes: ProbeSpec | None = None
    inputs: InputStats | None = None
    label_values: LabelValues | None = None

    @property
    def restored_epoch(self) -> int | None:
        """The epoch (0-based) whose weights EarlyStopping put back, if it did."""
        for cb in self.callbacks:
            if cb.restored and cb.best_epoch is not None:
                return cb.best_epoch
        return None

    @property
    def weights_epoch(self) -> int | None:
        """The history index that describes the final weights."""
        restored = self.restored_epoch
        if restored is not None:
            return restored
        return self.epochs_run - 1 if self.epochs_run else None

    @property
    def monitors(self) -> list[str]:
        return sorted({cb.monitor for cb in self.callbacks if cb.monitor})

    def to_dict(self) -> dict[str, Any]:
        data = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("validation_outputs", "train_outputs", "class_weight", "probes", "inputs")
        }
        if self.class_weight is not None:
            data["class_weight"] = {repr(k): float(v) for k, v in self.class_weight.items()}
        data["validation_predictions"] = self.validation_outputs is not None
        data["weights_epoch"] = self.weights_epoch
        return data


# -- label helpers (pure numpy, shared by the adapter and the checks) -----------------


def label_encoding(y: Any) -> str:
    """Tell one-hot, multi-hot, binary, sparse and continuous labels apart."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.size == 0 or arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2):
        return "other"
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        return "continuous"
    if arr.ndim == 2:
        if not np.isin(arr, (0.0, 1.0)).all():
            return "continuous"
        return "one_hot" if np.all(arr.sum(axis=1) == 1) else "multi_hot"
    if not np.all(arr == np.round(arr)) or arr.min() < 0:
        return "continuous"
    return "binary" if arr.max() <= 1 else "sparse"


def label_indices(y: Any) -> np.ndarray | None:
    """Class index per row (argmax of one-hot), or None for labels that are not classes."""
    arr = np.asarray(y)
    encoding = label_encoding(arr)
    if encoding == "one_hot":
        return arr.argmax(axis=1).astype(np.int64)
    if encoding in ("binary", "sparse"):
        return np.round(arr.reshape(-1).astype(np.float64)).astype(np.int64)
    return None


def _counts(indices: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(indices, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}


def summarize_labels(
    y_train: Any,
    y_val: Any = None,
    output_units: int | None = None,
    y_all: Any = None,
) -> LabelSummary | None:
    """Count classes in the training (and validation) labels.

    ``y_all`` is the label array as passed to ``fit`` before ``validation_split`` cut it;
    it tells whether the rows were ordered by label.
    """
    train = np.asarray(y_train)
    encoding = label_encoding(train)
    if encoding in ("continuous", "multi_hot", "other"):
        return LabelSummary(encoding, int(train.shape[1]) if train.ndim == 2 else 0)
    idx = label_indices(train)
    if idx is None or idx.size == 0:
        return None
    val_idx = label_indices(y_val) if y_val is not None else None
    seen = idx if val_idx is None else np.concatenate([idx, val_idx])
    n_classes = int(train.shape[1]) if encoding == "one_hot" else max(int(seen.max()) + 1, 2)
    if output_units and output_units > 2 and encoding == "binary":
        encoding = "sparse"  # 0/1 labels read as class indices of a wider softmax
    ordered = False
    all_idx = label_indices(y_all) if y_all is not None else None
    if all_idx is not None and len(np.unique(all_idx)) > 1:
        ordered = _is_grouped(all_idx)
    return LabelSummary(
        encoding=encoding,
        n_classes=n_classes,
        train_counts=_counts(idx),
        val_counts=None if val_idx is None else _counts(val_idx),
        ordered=ordered,
    )


def _is_grouped(idx: np.ndarray) -> bool:
    """Each class occupies one contiguous block of rows (sorted or grouped data)."""
    changes = int(np.count_nonzero(idx[1:] != idx[:-1]))
    return changes == len(np.unique(idx)) - 1


def class_weight_keys(class_weight: Mapping[Any, float]) -> tuple[list[Any], list[int]]:
    """Split ``class_weight`` keys into those Keras can use (integers) and those it ignores.

    Keras looks weights up with ``class_weight.get(int(label), 1.0)``: a string key such
    as ``"1"`` never matches, so its weight is silently dropped.
    """
    unusable, usable = [], []
    for key in class_weight:
        whole = isinstance(key, (int, float, np.number)) and np.isfinite(key) and key == int(key)
        if whole:
            usable.append(int(key))
        else:
            unusable.append(key)
    return unusable, usable

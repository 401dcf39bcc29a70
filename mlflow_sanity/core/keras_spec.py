"""Plain descriptions of a compiled Keras model and of one ``fit`` call.

The autolog adapter translates Keras objects into these dataclasses, so that every
training check is a pure function of numbers and strings and can be unit-tested on
hand-written specs. Nothing here imports Keras, TensorFlow or MLflow. The labels'
description is ``core/labels.py``, the probes' ``core/probe_spec.py`` (re-exported here).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlflow_sanity.core.labels import (
    LabelSummary,
    class_weight_keys,
    label_encoding,
    label_indices,
    summarize_labels,
)
from mlflow_sanity.core.probe_spec import (
    ColumnStats,
    DeadUnits,
    GradientProbe,
    InputStats,
    LabelValues,
    NonFiniteEvent,
    ProbeSpec,
    input_stats,
    label_values,
)

__all__ = [  # the specs, and the label and probe names kept importable from here
    "ACCURACY_VARIANTS",
    "BINARY_CE",
    "CATEGORICAL_CE",
    "CROSSENTROPY",
    "HINGE_LOSSES",
    "PASS_THROUGH_LAYERS",
    "REGRESSION_LOSSES",
    "SPARSE_CE",
    "STOCHASTIC_LAYERS",
    "THRESHOLD_METRICS",
    "CallbackSpec",
    "ColumnStats",
    "DeadUnits",
    "FitSpec",
    "GradientProbe",
    "InputStats",
    "LabelSummary",
    "LabelValues",
    "LayerSpec",
    "MetricSpec",
    "ModelSpec",
    "NonFiniteEvent",
    "Predictions",
    "ProbeSpec",
    "canonical_name",
    "class_weight_keys",
    "input_stats",
    "label_encoding",
    "label_indices",
    "label_values",
    "summarize_labels",
]

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
    # The other outputs of a multi-output model (a head's spec): their layers are outputs,
    # not hidden layers of this head.
    sibling_outputs: tuple[str, ...] = ()
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
        before = (
            self.layers[: names.index(self.output_layer)]
            if self.output_layer in names
            else self.layers[:-1]
        )
        # another output of a multi-output model is not a hidden layer of this one
        return tuple(layer for layer in before if layer.name not in self.sibling_outputs)

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
    # What the training causes checks read (``checks/causes/``): None when not measured.
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

"""After fit: what the cause checks read besides the probes (input statistics, labels)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from mlflow_sanity.adapters.keras import shim
from mlflow_sanity.adapters.keras.inputs import FitCall
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    InputStats,
    input_stats,
    label_values,
)

_log = logging.getLogger(__name__)

_RELU = frozenset({"relu", "relu6"})


_WEIGHTED = ("Dense", "EinsumDense", "Conv", "SeparableConv", "DepthwiseConv")
_RECURRENT = ("LSTM", "GRU", "SimpleRNN")
_NORMALIZERS = frozenset(
    {"Normalization", "Rescaling", "BatchNormalization", "LayerNormalization", "GroupNormalization"}
)


def input_layers(model: Any) -> tuple[str | None, str | None]:
    """The class of the first layer with weights, and a normalising layer in front of it."""
    layers = shim.all_layers(model)
    normalizer = None
    for layer in layers:
        if isinstance(layer, keras.Model):
            continue
        name = type(layer).__name__
        if name in _NORMALIZERS:
            normalizer = normalizer or f"{layer.name} ({name})"
        elif name.startswith(_WEIGHTED) or name in _RECURRENT or layer.weights:
            return name, normalizer
    return None, normalizer


def _input_stats(x: Any, first: str | None, normalizer: str | None) -> InputStats | None:
    """Column statistics of one input array, or of every numeric entry of a dict of named
    inputs (a multi-input model: raw minutes and ages each reach the network), columns
    named ``input[i]``."""
    if not isinstance(x, Mapping):
        arr = x.to_numpy() if hasattr(x, "to_numpy") else x
        return input_stats(arr, first, normalizer)
    parts = []
    for name, value in x.items():
        arr = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
        if arr.dtype.kind not in "biuf":
            continue
        one = input_stats(arr.reshape(-1, 1) if arr.ndim == 1 else arr, first, normalizer)
        if one is not None:
            cols = tuple(
                replace(c, name=f"{name}[{c.name}]" if one.columns[1:] else str(name))
                for c in one.columns
            )
            parts.append(replace(one, columns=cols))
    if not parts:
        return None
    kind = "columns" if all(p.kind == "columns" for p in parts) else "channels"
    columns = tuple(c for p in parts for c in p.columns)
    return InputStats(kind, parts[0].n_rows, columns, first, normalizer)


def with_cause_data(fit: FitSpec, model: Any, call: FitCall, x: Any, y: Any) -> FitSpec:
    """``fit`` with the probe results, the input statistics and the raw label values."""
    probes = inputs = labels = None
    probe = getattr(call, "probe", None)
    with Caught(Origin.OUTSIDE) as caught:  # the other checks do not need these
        if probe is not None:
            probes = probe.spec()
        if x is not None and not isinstance(x, (list, tuple)):
            first, normalizer = input_layers(model)
            inputs = _input_stats(x, first, normalizer)
        if y is not None:
            labels = label_values(y)
    if caught.failed:
        _log.info("mlflow-sanity: training causes not measured: %s", caught.error)
    return replace(fit, probes=probes, inputs=inputs, label_values=labels)

"""The tool's own forward pass: the model's outputs on rows it has already read.

One place turns a model and its inputs into NumPy outputs (by output name for several
outputs), cheaply: plain calls over large chunks rather than ``model.predict``'s traced
loop, strings left for Keras to convert, nothing cast that the model would not see.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import pandas as pd

from mlflow_sanity.adapters.keras import shim
from mlflow_sanity.adapters.keras.inputs import take_rows
from mlflow_sanity.core.metrics import InputError

_log = logging.getLogger(__name__)

_FORWARD_CHUNK_ROWS = 8192  # when the model's activation sizes are unknown
_FORWARD_MAX_ROWS = 65_536
_FORWARD_CHUNK_BYTES = 32 * 2**20  # of input rows per call
_FORWARD_ACTIVATION_BYTES = 128 * 2**20  # of the widest layer output per call


def predict_outputs(model: Any, x: Any, batch_size: int | None) -> np.ndarray:
    """The model's outputs on ``x`` in inference mode (a single-output model)."""
    out = _predict(model, x, batch_size)
    if isinstance(out, dict):
        raise InputError("multi-output model: predictions not checked")
    return out


def predict_heads(model: Any, x: Any, batch_size: int | None) -> dict[str, np.ndarray]:
    """The outputs of a multi-output model on ``x``, by output name."""
    out = _predict(model, x, batch_size)
    if not isinstance(out, dict):
        raise InputError("expected several outputs, the model returned one")
    return out


def output_mask(model: Any, x: Any) -> np.ndarray | None:
    """The mask Keras attaches to a single-output model's outputs on ``x`` (True: a real
    token), None when the model masks nothing. Its own plain forward pass, so the
    outputs' values still come from ``predict_outputs``."""
    arrays = _as_arrays(x)
    n = arrays.shape[0] if hasattr(arrays, "shape") else None
    if n is None:
        return None
    masks = []
    for start in range(0, n, _FORWARD_CHUNK_ROWS):
        mask = shim.keras_mask(
            model(take_rows(arrays, slice(start, start + _FORWARD_CHUNK_ROWS)), training=False)
        )
        if mask is None:
            return None
        masks.append(np.asarray(keras.ops.convert_to_numpy(mask)).astype(bool))
    return np.concatenate(masks, axis=0)


def _predict(model: Any, x: Any, batch_size: int | None) -> np.ndarray | dict[str, np.ndarray]:
    """Plain forward passes over large chunks when the model uses the standard predict step
    (no ``tf.function`` tracing: this runs once per call and must stay cheap); otherwise,
    or if that fails, ``model.predict``. Several outputs come back by output name."""
    if type(model).predict_step is keras.Model.predict_step:
        try:
            return _forward(model, x)
        except Exception as exc:  # unusual inputs: let Keras' data adapters handle them
            _log.debug("direct forward pass failed, using model.predict: %s", exc)
    batch = max(batch_size or 32, 256)
    return _by_name(model, model.predict(string_tensors(x), batch_size=batch, verbose=0))


def _is_text(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "OSU"


def string_tensors(x: Any) -> Any:
    """``x`` with its string arrays as string tensors: Keras' array adapters reject NumPy
    string and object arrays (``Invalid dtype: object``) but take ``tf.string`` tensors,
    which is what a ``tf.data`` pipeline feeds the model. The values are not changed."""
    if isinstance(x, Mapping):
        return {k: string_tensors(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and all(hasattr(v, "shape") for v in x):
        return [string_tensors(v) for v in x]
    if isinstance(x, np.ndarray) and _is_text(x) and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.constant(x)
    return x


def _forward(model: Any, x: Any) -> np.ndarray | dict[str, np.ndarray]:
    arrays = _as_arrays(x)
    first = next(iter(arrays.values())) if isinstance(arrays, dict) else arrays
    n = first.shape[0]
    row_bytes = max(1, first[:1].nbytes)
    step = int(max(1, min(_chunk_rows(model), _FORWARD_CHUNK_BYTES // row_bytes)))
    chunks = []
    for start in range(0, n, step):
        part = take_rows(arrays, slice(start, start + step))
        chunks.append(_by_name(model, model(part, training=False)))
    if isinstance(chunks[0], dict):
        return {k: np.concatenate([c[k] for c in chunks], axis=0) for k in chunks[0]}
    return np.concatenate(chunks, axis=0)


def _chunk_rows(model: Any) -> int:
    """Rows per forward call: as many as keep the widest layer output (float32) within
    ``_FORWARD_ACTIVATION_BYTES`` (fewer calls are cheaper: 50,000 rows of a small MLP in
    one eager call take about two thirds of the time of seven); 8,192 when the layer
    sizes are unknown."""
    try:
        widest = max(
            math.prod(int(d) for d in layer.output.shape[1:])
            for layer in model.layers
            if hasattr(layer, "output")
        )
    except Exception:  # subclassed or unbuilt models: no symbolic outputs to measure
        return _FORWARD_CHUNK_ROWS
    return int(max(1, min(_FORWARD_MAX_ROWS, _FORWARD_ACTIVATION_BYTES // (4 * max(1, widest)))))


def _by_name(model: Any, out: Any) -> np.ndarray | dict[str, np.ndarray]:
    if isinstance(out, dict):
        return {str(k): np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        names = list(getattr(model, "output_names", None) or range(len(out)))
        return {
            str(k): np.asarray(keras.ops.convert_to_numpy(v))
            for k, v in zip(names, out, strict=False)
        }
    return np.asarray(keras.ops.convert_to_numpy(out))


def _as_arrays(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _as_arrays(v) for k, v in x.items()}
    if isinstance(x, (pd.DataFrame, pd.Series)):
        x = x.to_numpy()
    arr = np.asarray(x)
    if _is_text(arr):  # raw strings for StringLookup / TextVectorization: as they are
        return arr
    if arr.dtype.kind not in "biuf":
        raise InputError(f"non-numeric model input ({arr.dtype})")
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr

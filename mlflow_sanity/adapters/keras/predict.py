"""The tool's own forward pass: the model's outputs on rows it has already read.

One place turns a model and its inputs into NumPy outputs (by output name for several
outputs), cheaply: plain calls over large chunks rather than ``model.predict``'s traced
loop, strings left for Keras to convert, nothing cast that the model would not see.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import keras
import numpy as np
import pandas as pd

from mlflow_sanity.adapters.keras import shim
from mlflow_sanity.adapters.keras.inputs import take_rows
from mlflow_sanity.core.boundary import Caught, Origin, attempt
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
        # unusual inputs: let Keras' data adapters handle them
        with Caught(Origin.OUTSIDE, "direct forward pass (model.predict next)"):
            return _forward(model, x)
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
    widest = attempt(  # subclassed or unbuilt models: no symbolic outputs to measure
        lambda: max(
            math.prod(int(d) for d in layer.output.shape[1:])
            for layer in model.layers
            if hasattr(layer, "output")
        ),
        None,
        Origin.OUTSIDE,
    )
    if widest is None:
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


# -- Keras' own evaluate pass, its outputs kept -------------------------------------------
#
# ``model.evaluate`` computes every row's outputs once, batch by batch, inside the compiled
# ``test_function`` Keras caches on the model; the checks need the same outputs. Where
# that function is Keras' standard one (TensorFlow backend, the standard ``test_step``,
# one step per execution, no distribution strategy, in-memory rows read in order),
# ``evaluate_outputs`` runs ``evaluate`` with an equivalent function of our own, built by
# Keras' own ``_make_function`` around Keras' own ``test_step``, that also returns the
# batch's outputs. What the user's code sees is unchanged: the same ``test_step`` computes
# the same losses and metrics, callbacks receive the same logs (the outputs are kept
# aside, not added to them), ``evaluate`` returns the same numbers, and the model's cached
# ``test_function`` is put back afterwards (ours is cached beside it, per compile).
# Everything else (other backends, custom ``test_step``, ``steps_per_execution > 1``,
# datasets and generators, a call that stopped early) predicts once more, as before.


class Captured:
    """The outputs of each batch of one ``evaluate`` pass, in order."""

    def __init__(self) -> None:
        self.batches: list[Any] = []

    def outputs(self, n_rows: int) -> np.ndarray | None:
        """All rows' outputs, or None when they do not cover exactly ``n_rows`` rows (a
        callback stopped the pass, ``steps`` cut it short) or are not one array."""
        if not self.batches or not all(hasattr(b, "shape") for b in self.batches):
            return None
        out = np.concatenate([np.asarray(keras.ops.convert_to_numpy(b)) for b in self.batches])
        return out if out.shape[0] == n_rows else None


# Our test function, cached on the model it belongs to (a private attribute, set past
# Keras' attribute tracking): it refers to the model, so a cache outside the model would
# keep every evaluated model alive; on the model, the two are freed together.
_CACHE_ATTR = "_mlflow_sanity_capturing"
# The batch's outputs ride in the step's logs under this key (no metric is named so).
_OUTPUTS_KEY = "__mlflow_sanity_outputs__"


def capturable(model: Any, x: Any, steps: Any) -> bool:
    """Whether ``evaluate_outputs`` can keep Keras' own outputs for this call."""
    if keras.backend.backend() != "tensorflow" or steps is not None:
        return False
    if not isinstance(x, (np.ndarray, pd.DataFrame)) or x.ndim < 1:
        return False
    return (
        type(model).test_step is keras.Model.test_step
        and "compute_metrics" not in vars(model)
        and shim.makes_step_functions(model)
        and int(getattr(model, "steps_per_execution", 1) or 1) == 1
    )


@contextlib.contextmanager
def evaluate_outputs(model: Any, x: Any, steps: Any = None) -> Iterator[Captured | None]:
    """Run the body (``evaluate``) with a test function that keeps each batch's outputs;
    yields None (nothing kept, nothing changed) when the call is not ``capturable``."""
    step = _capturing_function(model) if capturable(model, x, steps) else None
    if step is None:
        yield None
        return
    captured = Captured()

    def test_function(iterator: Any) -> Any:
        logs = step(iterator)
        captured.batches.append(logs.pop(_OUTPUTS_KEY))  # the logs Keras sees, as they were
        return logs

    previous = model.test_function
    model.test_function = test_function
    try:
        yield captured
    finally:
        model.test_function = previous


def _capturing_function(model: Any) -> Any:
    """Keras' ``_make_function`` around ``test_step`` that also returns the outputs, once
    per model and compile (``compile`` makes new loss and metric containers)."""
    token = (
        *shim.compiled_containers(model),
        model.jit_compile,
        model.run_eagerly,
    )
    cached = vars(model).get(_CACHE_ATTR)
    if cached is not None and all(a is b for a, b in zip(cached[0], token, strict=True)):
        return cached[1]

    def step(data: Any) -> Any:
        # Python runs this while TensorFlow traces the step (each batch when eager): the
        # outputs ``test_step`` hands to ``compute_metrics`` become a second result
        seen: list[Any] = []
        own = model.compute_metrics

        def compute_metrics(x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            seen.append(y_pred)
            return own(x, y, y_pred, sample_weight=sample_weight)

        object.__setattr__(model, "compute_metrics", compute_metrics)  # no layer tracking
        try:
            logs = model.test_step(data)
        finally:
            object.__delattr__(model, "compute_metrics")
        # one more entry of the logs (popped before Keras reads them): TensorFlow returns
        # a dict of tensors more cheaply than a (logs, outputs) pair, a third of the cost
        return {**logs, _OUTPUTS_KEY: seen[-1]}

    function = shim.make_step_function(model, step)
    object.__setattr__(model, _CACHE_ATTR, (token, function))  # no layer tracking
    return function

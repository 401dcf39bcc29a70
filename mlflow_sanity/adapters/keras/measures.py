"""What a probe measures on one batch: loss gradients per layer, dead ReLU units, weights.

The backend-specific part is one function, ``gradient_norms``: TensorFlow uses
``tf.GradientTape`` on the compiled loss (resolved here for one or several outputs);
other backends are reported as not implemented. Everything else uses backend-neutral
``keras.ops`` in inference mode, so measuring never changes training.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from mlflow_sanity.adapters.keras import shim
from mlflow_sanity.adapters.keras.describe import as_numpy
from mlflow_sanity.core.keras_spec import (
    DeadUnits,
)

_log = logging.getLogger(__name__)

_RELU = frozenset({"relu", "relu6"})


# -- the backend interface ----------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """Copies of a model's variable values at one moment of training (``stateless_call``
    order: trainable, then non-trainable)."""

    trainable: tuple[np.ndarray, ...]
    non_trainable: tuple[np.ndarray, ...]
    kernel_norm: float | None = None  # ``GradientProbe.weight_norm`` at that moment

    @classmethod
    def of(cls, model: Any) -> Weights:
        return cls(
            tuple(np.array(as_numpy(v)) for v in model.trainable_variables),
            tuple(np.array(as_numpy(v)) for v in model.non_trainable_variables),
            weights_report(model)[0],
        )


def gradient_norms(
    model: Any, x: Any, y: Any, weights: Weights | None = None
) -> tuple[list[tuple[str, float]], float]:
    """L2 norm of the loss gradient per layer with a kernel (input side first), and the loss;
    with ``weights``, at those values instead of the model's current ones.

    Raises ``NotImplementedError`` for backends without an implementation here.
    """
    backend = keras.backend.backend()
    impl = _GRADIENTS.get(backend)
    if impl is None:
        raise NotImplementedError(f"gradient probes are not implemented for backend {backend}")
    return impl(model, x, y, weights)


def _tf_gradient_norms(
    model: Any, x: Any, y: Any, weights: Weights | None
) -> tuple[list[tuple[str, float]], float]:
    import tensorflow as tf

    loss_fn = _loss_fn(model)
    groups = _kernel_groups(model)
    variables = [v for _, vs in groups for v in vs]
    if weights is None:
        with tf.GradientTape() as tape:
            y_pred = model(x, training=False)
            loss = tf.reduce_mean(loss_fn(y, y_pred))
        grads = tape.gradient(loss, variables)
    else:  # a past moment: the same computation on copies, the model is not touched
        position = {id(v): i for i, v in enumerate(model.trainable_variables)}
        values = [tf.convert_to_tensor(a) for a in weights.trainable]
        with tf.GradientTape() as tape, _quiet_structure():
            tape.watch(values)
            y_pred, _ = model.stateless_call(
                values, list(weights.non_trainable), _tensors(x), training=False
            )
            loss = tf.reduce_mean(loss_fn(y, y_pred))
        every = tape.gradient(loss, values)
        grads = [every[position[id(v)]] for v in variables]
    norms, i = [], 0
    for name, vs in groups:
        total = 0.0
        for g in grads[i : i + len(vs)]:
            if isinstance(g, tf.IndexedSlices):  # embeddings: the touched rows
                g = g.values
            if g is not None:
                total += float(tf.reduce_sum(tf.square(tf.cast(g, tf.float32))))
        i += len(vs)
        norms.append((name, math.sqrt(total) if math.isfinite(total) else float("nan")))
    return norms, float(loss)


_GRADIENTS: dict[
    str, Callable[[Any, Any, Any, Weights | None], tuple[list[tuple[str, float]], float]]
] = {
    "tensorflow": _tf_gradient_norms,
}


# -- backend-neutral helpers --------------------------------------------------------------


class LossNotResolved(Exception):
    """The compiled losses of a multi-output model are resolved by its first training step:
    a probe before it is measured after ``fit``, on a copy of the weights."""


def _loss_fn(model: Any) -> Callable[[Any, Any], Any]:
    """The compiled loss, called directly (the compile wrapper may update trackers; before
    the first step it is not built yet, so ``model.loss`` is resolved instead). Several
    outputs: the sum of each output's loss times its ``loss_weights`` entry, as Keras
    trains on."""
    flat = shim.compiled_losses(model)
    if len(flat) == 1:
        return flat[0].loss
    if flat:
        return _weighted_sum(model, flat)
    if model.loss is None:
        raise NotImplementedError("gradient probes need a compiled loss")
    if isinstance(model.loss, (list, tuple, dict)):
        raise LossNotResolved()
    fn = keras.losses.get(model.loss)
    if isinstance(fn, keras.losses.Loss):
        return fn

    def aligned(y: Any, y_pred: Any) -> Any:  # what a Loss object does with (n,) vs (n, 1)
        if len(y.shape) == len(y_pred.shape) - 1 and y_pred.shape[-1] == 1:
            y = keras.ops.expand_dims(y, -1)
        return fn(y, y_pred)

    return aligned


def _weighted_sum(model: Any, flat: list[Any]) -> Callable[[Any, Any], Any]:
    names = [str(n) for n in (getattr(model, "output_names", None) or [])]

    def total(y: Any, y_pred: Any) -> Any:
        y = _shaped_like(y, y_pred, names)
        value = None
        for path, loss, weight, _ in flat:
            term = keras.ops.mean(loss(_at(y, path), _at(y_pred, path)))
            term = term * weight if weight is not None else term
            value = term if value is None else value + term
        return value

    return total


def _shaped_like(y: Any, y_pred: Any, names: list[str]) -> Any:
    """Labels given by output name or in output order, in the structure of the outputs."""
    if isinstance(y_pred, Mapping) and isinstance(y, (list, tuple)):
        return dict(zip(names or list(y_pred), y, strict=False))
    if isinstance(y_pred, (list, tuple)) and isinstance(y, Mapping):
        return [y[n] for n in names] if names and all(n in y for n in names) else list(y.values())
    return y


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key if not isinstance(obj, Mapping) else _key(obj, key)]
    return obj


def _key(obj: Mapping[Any, Any], key: Any) -> Any:
    return key if key in obj else str(key)


@contextlib.contextmanager
def _quiet_structure() -> Iterator[None]:
    """A one-input Functional model warns about ``[input]`` vs ``input`` when called other
    than through ``model(x)`` (``stateless_call``, a sub-model): our call, not the user's
    concern, so not shown to them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The structure of `inputs`", UserWarning)
        yield


def itemsize(variable: Any) -> int:
    try:
        return int(np.dtype(str(variable.dtype)).itemsize)
    except TypeError:  # bfloat16 and the like: count them wide
        return 8


def _tensors(x: Any) -> Any:
    """Inputs as tensors (strings as string tensors) for ``stateless_call``, which does not
    convert NumPy arrays the way ``model(x)`` does."""
    if isinstance(x, Mapping):
        return {k: _tensors(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_tensors(v) for v in x]
    arr = np.asarray(x)
    if arr.dtype.kind in "OSU":
        import tensorflow as tf

        return tf.constant(arr)
    return keras.ops.convert_to_tensor(arr)


def _owner(variable: Any) -> str:
    path = str(getattr(variable, "path", "") or getattr(variable, "name", ""))
    return path.rsplit("/", 1)[0] if "/" in path else path


def _kernel_groups(model: Any) -> list[tuple[str, list[Any]]]:
    """Trainable variables grouped by layer, for layers that own a kernel (Dense, Conv...)."""
    groups: dict[str, list[Any]] = {}
    for v in model.trainable_variables:
        groups.setdefault(_owner(v), []).append(v)
    return [
        (name.rsplit("/", 1)[-1], vs)
        for name, vs in groups.items()
        if any(str(getattr(v, "name", "")).endswith(("kernel", "embeddings")) for v in vs)
    ]


def weights_report(model: Any) -> tuple[float, list[str]]:
    """The global kernel norm and the layers holding a NaN/inf weight."""
    total, bad = 0.0, []
    for name, vs in _kernel_groups(model):
        finite = True
        for v in vs:
            arr = as_numpy(v)
            if not np.isfinite(arr).all():
                finite = False
            elif str(getattr(v, "name", "")).endswith("kernel"):
                total += float(np.sum(np.square(arr, dtype=np.float64)))
        if not finite:
            bad.append(name)
    return (math.sqrt(total) if not bad else math.nan), bad


def _is_relu(layer: Any) -> bool:
    if type(layer).__name__ == "ReLU":
        return not getattr(layer, "negative_slope", 0.0) and not getattr(layer, "threshold", 0.0)
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) in _RELU


def dead_units(model: Any, x: Any) -> list[DeadUnits]:
    """Per ReLU layer: units (channels) that output 0 for every row of ``x``."""
    layers = [
        layer
        for layer in shim.all_layers(model)
        if _is_relu(layer) and not isinstance(layer, keras.Model)
    ]
    if not layers:
        return []
    if isinstance(model, keras.Sequential):
        outputs, h = [], x
        for layer in model.layers:
            h = layer(h, training=False)
            if layer in layers:
                outputs.append(h)
    else:
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
        with _quiet_structure():
            outputs = probe(x, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    found = []
    for layer, out in zip(layers, outputs, strict=False):
        arr = as_numpy(out)
        if arr.ndim < 2:
            continue
        alive = (arr.reshape(-1, arr.shape[-1]) > 0).any(axis=0)
        found.append(DeadUnits(layer.name, int(alive.size), int((~alive).sum())))
    return found

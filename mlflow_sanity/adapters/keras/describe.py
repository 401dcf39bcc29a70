"""Describing a compiled Keras model and its callbacks as plain ``keras_spec`` data."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from mlflow_sanity.adapters.keras import shim
from mlflow_sanity.core.boundary import Origin, attempt
from mlflow_sanity.core.keras_spec import (
    CallbackSpec,
    LayerSpec,
    MetricSpec,
    ModelSpec,
)
from mlflow_sanity.core.predictions import layer_activation, output_layer_index
from mlflow_sanity.core.splits import NormalizationStats


def as_numpy(value: Any) -> np.ndarray:
    """A Keras variable or tensor as a NumPy array, without the DeprecationWarning that
    ``np.array(variable)`` (what ``keras.ops.convert_to_numpy`` does) raises on TensorFlow:
    it passes NumPy 2's ``copy`` keyword to an ``__array__`` that has none. The backend's
    own ``numpy()`` is used where there is one."""
    inner = getattr(value, "value", value)  # a Keras variable holds a backend tensor
    numpy = getattr(inner, "numpy", None)
    if callable(numpy):
        return np.asarray(numpy())
    return np.asarray(keras.ops.convert_to_numpy(inner))


def _scalar(value: Any) -> float:
    return float(as_numpy(value))


def describe_model(model: Any, output_shape: tuple[int | None, ...] | None = None) -> ModelSpec:
    """A ``ModelSpec`` of a compiled Keras model (best after ``fit``, when metrics are built)."""
    layers = tuple(_layer_specs(model))
    n_outputs, shape = 1, output_shape
    try:
        outputs = model.outputs
        n_outputs = len(outputs)
        shape = tuple(outputs[0].shape)
    except (AttributeError, TypeError, ValueError, IndexError):
        pass  # subclassed model: use the shape of its predictions, if given
    rank = len(shape) if shape is not None else None
    units = None
    if shape is not None:
        units = int(shape[-1]) if rank and rank >= 2 and shape[-1] is not None else 1
    output_layer, activation = _output_activation(layers)
    loss, from_logits = _loss(model)
    optimizer = getattr(model, "optimizer", None)
    lr = attempt(lambda: _scalar(optimizer.learning_rate), None, Origin.OUTSIDE)  # schedules
    return ModelSpec(
        layers=layers,
        output_units=units,
        output_activation=activation,
        output_rank=rank,
        output_layer=output_layer,
        n_outputs=n_outputs,
        loss=loss,
        from_logits=from_logits,
        metrics=tuple(_metric_specs(model)),
        optimizer=type(optimizer).__name__ if optimizer is not None else None,
        learning_rate=lr if lr is None or math.isfinite(lr) else None,
        default_learning_rate=default_learning_rate(optimizer),
        custom_loop=custom_loop(model, loss),
        mask=mask_layer(model),
    )


def custom_loop(model: Any, loss: str | None) -> str:
    """Why the history's ``loss`` may not be the training loss (empty: a standard fit).

    A model whose class overrides ``train_step`` reports whatever that step returns or
    updates (Keras' loss tracker only when the step updates it); one without a compiled
    loss trains on what ``call`` adds with ``add_loss``."""
    for method in ("train_step", "compute_loss"):
        if getattr(type(model), method, None) is not getattr(keras.Model, method, None):
            return f"the model overrides {method}"
    if loss is not None:
        return ""
    # an unbuilt or unusual model raising here: no evidence of an added loss
    if attempt(lambda: bool(model.losses), False, Origin.MODEL):
        return "the loss is added in call (add_loss), not compiled"
    return ""


def mask_layer(model: Any) -> str:
    """The layer that masks padded positions, in words ("" when there is none)."""
    for layer in shim.all_layers(model):
        name = type(layer).__name__
        if name == "Embedding" and getattr(layer, "mask_zero", False):
            return "a mask_zero Embedding"
        if name == "Masking":
            return "a Masking layer"
    return ""


def default_learning_rate(optimizer: Any) -> float | None:
    """The default ``learning_rate`` of the optimizer's class (its ``__init__``
    signature: no instance is built), None when it has none."""
    import inspect

    try:
        value = inspect.signature(type(optimizer).__init__).parameters["learning_rate"].default
        return float(value) if isinstance(value, (int, float)) and value > 0 else None
    except (KeyError, TypeError, ValueError):
        return None


def describe_heads(model: Any) -> dict[str | None, ModelSpec]:
    """One ``ModelSpec`` per output of a multi-output model, named by its output name:
    each head's own activation, units, loss and metrics; ``{None: spec}`` for one output
    (or outputs that cannot be told apart by name)."""
    whole = describe_model(model)
    try:
        names, outputs = list(model.output_names), list(model.outputs)
    except (AttributeError, TypeError, ValueError):
        return {None: whole}
    if len(outputs) < 2 or len(names) != len(outputs):
        return {None: whole}
    losses = _head_losses(model)
    heads: dict[str | None, ModelSpec] = {}
    for name, output in zip(names, outputs, strict=True):
        shape = tuple(output.shape)
        try:
            activation = layer_activation(model.get_layer(name))
        except (ValueError, AttributeError):
            activation = None
        loss, from_logits = losses.get(name, (None, False))
        heads[name] = replace(
            whole,
            output_units=int(shape[-1]) if len(shape) >= 2 and shape[-1] is not None else 1,
            output_activation=activation,
            output_rank=len(shape),
            output_layer=name,
            sibling_outputs=tuple(other for other in names if other != name),
            n_outputs=1,
            loss=loss,
            from_logits=from_logits,
            metrics=tuple(m for m in whole.metrics if m.name.startswith(f"{name}_")),
        )
    return heads


def _head_losses(model: Any) -> dict[str, tuple[str | None, bool]]:
    found = {}
    for flat in shim.compiled_losses(model):
        name = getattr(flat, "name", None)
        if name:
            found[str(name)] = _loss_of(flat.loss)
    return found


def _layer_specs(model: Any, prefix: str = "") -> Iterable[LayerSpec]:
    for layer in getattr(model, "layers", []) or []:
        inner = getattr(layer, "layers", None)
        if inner and isinstance(layer, keras.Model):
            yield from _layer_specs(layer, f"{prefix}{layer.name}/")
            continue
        units = getattr(layer, "units", None) or getattr(layer, "filters", None)
        yield LayerSpec(
            name=f"{prefix}{layer.name}",
            class_name=type(layer).__name__,
            activation=layer_activation(layer),
            units=int(units) if isinstance(units, int) else None,
        )


def _output_activation(layers: tuple[LayerSpec, ...]) -> tuple[str | None, str | None]:
    i = output_layer_index([layer.class_name for layer in layers])
    return (layers[i].name, layers[i].activation) if i is not None else (None, None)


def _loss(model: Any) -> tuple[str | None, bool]:
    flat = shim.compiled_losses(model)
    return _loss_of(flat[0].loss if len(flat) == 1 else getattr(model, "loss", None))


def _loss_of(obj: Any) -> tuple[str | None, bool]:
    if isinstance(obj, (list, tuple, dict)):
        return None, False
    if isinstance(obj, str):
        try:
            obj = keras.losses.get(obj)
        except (ValueError, TypeError):
            return obj or None, False
    fn = getattr(obj, "fn", None)
    name = getattr(fn, "__name__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    kwargs = shim.wrapped(obj).kwargs
    from_logits = bool(getattr(obj, "from_logits", False) or kwargs.get("from_logits", False))
    return name, from_logits  # ModelSpec keeps it by its canonical name


def _metric_threshold(metric: Any, kwargs: dict[str, Any]) -> float | None:
    if "threshold" in kwargs:
        return float(kwargs["threshold"])
    thresholds = getattr(metric, "thresholds", None)
    if isinstance(thresholds, (int, float)):
        return float(thresholds)
    if isinstance(thresholds, (list, tuple)) and len(thresholds) == 1:
        return float(thresholds[0])
    return None


def _metric_specs(model: Any) -> Iterable[MetricSpec]:
    """Compiled metrics under the names Keras logs them (mirrors CompileMetrics.result)."""
    groups = shim.compiled_metric_groups(model)
    if groups is None:
        return []
    specs: list[MetricSpec] = []
    seen: dict[str, int] = {}
    for weighted, lists, requested in groups:
        requested = list(requested) if isinstance(requested, (list, tuple)) else [requested]
        for mls in lists:
            if not mls:
                continue
            for i, m in enumerate(mls.metrics):
                name = f"{mls.output_name}_{m.name}" if mls.output_name else m.name
                if name in seen:
                    seen[name] += 1
                    name = f"weighted_{name}" if weighted else f"{name}_{seen[name] - 1}"
                seen.setdefault(name, 1)
                asked = requested[i] if i < len(requested) else m.name
                inner = shim.wrapped(m)
                specs.append(
                    MetricSpec(
                        name=name,
                        requested=asked if isinstance(asked, str) else type(asked).__name__,
                        variant=getattr(inner.fn, "__name__", None) or type(m).__name__,
                        weighted=weighted,
                        threshold=_metric_threshold(m, inner.kwargs),
                        from_logits=inner.from_logits,
                    )
                )
    return specs


def callback_specs(
    callbacks: Iterable[Any], initial_epoch: int
) -> tuple[tuple[CallbackSpec, ...], tuple[str, ...]]:
    selecting, others = [], []
    for cb in callbacks:
        name = type(cb).__name__
        if isinstance(cb, keras.callbacks.EarlyStopping):
            best = getattr(cb, "best_epoch", None)
            stopped = getattr(cb, "stopped_epoch", 0) or 0
            restored = bool(cb.restore_best_weights) and cb.best_weights is not None
            selecting.append(
                CallbackSpec(
                    name,
                    monitor=cb.monitor,
                    restore_best_weights=bool(cb.restore_best_weights),
                    best_epoch=None if best is None or cb.best is None else best - initial_epoch,
                    stopped_epoch=stopped - initial_epoch if stopped > 0 else None,
                    restored=restored,
                )
            )
        elif isinstance(cb, keras.callbacks.ModelCheckpoint):
            # Only a best-only checkpoint selects a model by its monitor.
            best_only = bool(cb.save_best_only)
            selecting.append(
                CallbackSpec(
                    name, monitor=cb.monitor if best_only else None, save_best_only=best_only
                )
            )
        elif name not in ("History", "ProgbarLogger", "MlflowCallback", "SanityCallback"):
            others.append(name)
    return tuple(selecting), tuple(others)


def sibling_callbacks(callback: Any) -> list[Any]:
    """The callbacks fit runs next to ``callback``, read from the calling CallbackList.

    A Keras callback is never told about its siblings; SanityCallback needs them to see
    EarlyStopping/ModelCheckpoint. Best effort: an empty list if the caller is unusual.
    """
    for frame in shim.caller_frames(1, 4):
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            return list(owner.callbacks)
    return []


def keras_normalization_stats(model: Any) -> NormalizationStats | None:
    """Mean and variance of the first ``Normalization`` layer that normalises the input
    features one by one (plain numbers, so the check stays free of Keras)."""
    for layer in shim.all_layers(model):
        if type(layer).__name__ != "Normalization" or getattr(layer, "invert", False):
            continue
        mean, variance = getattr(layer, "mean", None), getattr(layer, "variance", None)
        if mean is None or variance is None:
            continue
        try:
            return NormalizationStats.of(mean, variance, str(layer.name))
        except (TypeError, ValueError):
            continue
    return None

"""The one place for Keras' and TensorFlow's private names.

mlflow-sanity reads a few things Keras does not expose: every layer of a nested model,
the compiled metrics under the names Keras logs them, the CallbackList that runs a
callback, and a ``tf.data`` pipeline's graph. Each private name is read here, with a
fallback where one exists, so that a Keras release that moves one breaks one function
(and its test), not a check. (``adapters/rng.py`` keeps the random-state internals it
restores; ``tracking/shim.py`` is the same idea for MLflow.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

from mlflow_sanity.core.boundary import Origin, attempt


def all_layers(model: Any) -> list[Any]:
    """Every layer inside ``model``, nested models' layers included (``model.layers``
    alone when Keras' private walk is not there)."""
    walked = attempt(  # Keras' private walk changed: the public top-level layers still count
        lambda: list(model._flatten_layers(include_self=False, recursive=True)),
        None,
        Origin.OUTSIDE,
    )
    return walked if walked is not None else list(getattr(model, "layers", []))


def compiled_metric_groups(model: Any) -> tuple[tuple[bool, Any, Any], ...] | None:
    """``(weighted, per-output metric lists, what the user asked for)`` for the plain and
    the weighted metrics of a compiled, built model; None before the first fit/evaluate."""
    cm = getattr(model, "_compile_metrics", None)
    if cm is None or not getattr(cm, "built", False):
        return None
    return (
        (False, cm._flat_metrics, cm._user_metrics),
        (True, cm._flat_weighted_metrics, cm._user_weighted_metrics),
    )


def keras_mask(tensor: Any) -> Any:
    """The mask Keras propagated to a layer's output (a ``mask_zero`` Embedding, a
    ``Masking`` layer), None when there is none: ``keras.src.backend.get_keras_mask``
    where it exists, else the ``_keras_mask`` attribute it sets on tensors."""
    try:
        from keras.src.backend import get_keras_mask
    except ImportError:  # older Keras 3: the attribute only
        return getattr(tensor, "_keras_mask", None)
    return get_keras_mask(tensor)


class Wrapped(NamedTuple):
    """What a Keras loss or metric wrapper keeps privately: the function a metric wraps
    (``MeanMetricWrapper``; None for others), the keyword arguments the wrapper passes to
    its function (``from_logits``, ``threshold``, ...), and whether a metric was built with
    ``from_logits=True``."""

    fn: Any
    kwargs: dict[str, Any]
    from_logits: bool


def wrapped(obj: Any) -> Wrapped:
    """``obj``'s ``Wrapped`` parts, read in one place."""
    return Wrapped(
        getattr(obj, "_fn", None),
        dict(getattr(obj, "_fn_kwargs", None) or {}),
        bool(getattr(obj, "_from_logits", False)),
    )


def caller_frames(skip: int, depth: int) -> Iterator[Any]:
    """Up to ``depth`` frames of the caller's callers, ``skip`` frames up from here."""
    frame = sys._getframe(skip + 1)
    for _ in range(depth):
        if frame is None:
            return
        yield frame
        frame = frame.f_back


def dataset_inputs(ds: Any) -> list[Any]:
    """The datasets a ``tf.data`` dataset reads from (its graph's parents)."""
    return list(ds._inputs())


def dataset_graph(ds: Any, policy: Any) -> bytes:
    """A ``tf.data`` dataset's serialised graph (what ``DatasetFromGraph`` rebuilds)."""
    return ds._as_serialized_graph(external_state_policy=policy).numpy()


def dataset_tensors(ds: Any) -> list[Any]:
    """The tensors a ``tf.data`` dataset holds in memory (``from_tensor_slices``)."""
    return list(getattr(ds, "_tensors", None) or [])


def compiled_losses(model: Any) -> list[Any]:
    """The compiled model's per-output loss wrappers (``.name``, ``.loss``), in output
    order; empty before compile or when Keras keeps them elsewhere."""
    compiled = getattr(model, "_compile_loss", None)
    return list(getattr(compiled, "_flat_losses", None) or [])


def makes_step_functions(model: Any) -> bool:
    """Whether Keras builds this model's step functions the standard way (its private
    ``_make_function``, no distribution strategy): the outputs of its own evaluate pass
    can then be kept (``predict.evaluate_outputs``)."""
    return hasattr(model, "_make_function") and getattr(model, "_distribute_strategy", None) is None


def make_step_function(model: Any, step: Any) -> Any:
    """Keras' own wrapper (``tf.function``, ``jit_compile``) around a step function."""
    return model._make_function(step)


def compiled_containers(model: Any) -> tuple[Any, Any]:
    """The compiled loss and metric containers: ``compile`` makes new ones, so they tell
    whether a function built for an earlier compile is stale."""
    return getattr(model, "_compile_loss", None), getattr(model, "_compile_metrics", None)

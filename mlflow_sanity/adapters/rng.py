"""Leave the user's random state as the tool found it.

Turning mlflow-sanity on must not change the user's next model. Draws hide in ordinary
work: MLflow names a new run with ``random.choice``/``random.randint``, Keras draws the
seed of every initializer built without one from Python's global ``random`` (so
``clone_model`` in a cause experiment draws), unseeded ``keras.random`` calls advance the
global ``SeedGenerator``, and TensorFlow hands out op seeds from its eager context's own
``random.Random`` once a global seed is set. Everything the tool does around a user's
``fit``/``evaluate`` runs inside :func:`preserved_random_state`, which puts each of these
back on the way out.

Frameworks are only looked at when the user already imported them: checking a pyfunc
model must not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from mlflow_sanity.core.boundary import Caught, Origin

Restore = Callable[[], None]


def _python_and_numpy() -> Restore:
    py_state = random.getstate()
    np_state = np.random.get_state()

    def restore() -> None:
        random.setstate(py_state)
        np.random.set_state(np_state)

    return restore


def _keras_seed_generator() -> Restore | None:
    """The global SeedGenerator used by unseeded ``keras.random`` calls: the object (the
    tool may create one where there was none) and the value of its state variable."""
    if "keras" not in sys.modules:
        return None
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    name = seed_generator.GLOBAL_SEED_GENERATOR
    gen = global_state.get_global_attribute(name)
    value = None if gen is None else np.array(gen.state.value)

    def restore() -> None:
        global_state.set_global_attribute(name, gen)
        if gen is not None:
            gen.state.assign(value)

    return restore


def _tensorflow_op_seeds() -> Restore | None:
    """TensorFlow's eager op-seed source, a ``random.Random`` that exists once
    ``tf.random.set_seed`` (or ``keras.utils.set_random_seed``) was called."""
    if "tensorflow" not in sys.modules:
        return None
    from tensorflow.python.eager import context

    ctx = context.context()
    rng = getattr(ctx, "_rng", None)
    if rng is None:
        return None
    state = rng.getstate()

    def restore() -> None:
        if getattr(ctx, "_rng", None) is rng:
            rng.setstate(state)

    return restore


def _torch() -> Restore | None:
    if "torch" not in sys.modules:
        return None
    import torch

    state = torch.random.get_rng_state()
    return lambda: torch.random.set_rng_state(state)


_SOURCES: tuple[Callable[[], Restore | None], ...] = (
    _python_and_numpy,
    _keras_seed_generator,
    _tensorflow_op_seeds,
    _torch,
)


def _each(calls: Iterable[Callable[[], Any]], what: str) -> list[Any]:
    """What each of ``calls`` returned. A framework internal that moved in a new release
    costs that framework's guarantee, never the user's fit: the others still run."""
    done = []
    for call in calls:
        with Caught(Origin.OUTSIDE, what):
            done.append(call())
    return done


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Run the tool's own work; on the way out (even on error) every global random
    source is as it was on the way in."""
    restores = [r for r in _each(_SOURCES, "saving a random state") if r is not None]
    try:
        yield
    finally:
        _each(restores, "restoring a random state")


def keeps_random_state(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator form of :func:`preserved_random_state`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with preserved_random_state():
            return fn(*args, **kwargs)

    return wrapper

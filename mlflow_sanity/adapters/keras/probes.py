"""Cheap probes of a training run: gradient norms, dead ReLU units, non-finite values.

One internal callback (``ProbeCallback``), injected by the ``fit`` wrapper into a copy of
the user's callback list, measures on one probe batch (at most ``PROBE_ROWS`` training
rows) at a handful of moments: before training, after a few spread-out epochs and at
train end. No per-batch hooks. Every hook is failure-safe: an exception is remembered
and reported (``ProbeSpec.errors``), never raised into ``fit``.

Where the probe batch comes from: arrays, frames and tensors are sliced during ``fit``.
A ``tf.data`` dataset or ``PyDataset`` is never read during ``fit``: iterating a dataset
once more advances its shuffle seed generator (measured on TF 2.x: an extra pass changes
the order of every later epoch, for ``shuffle(seed=...)`` too unless
``reshuffle_each_iteration=False``), and Keras' own pass cannot be observed from a
callback. So for those fits the callback keeps copies of the weights at the probed
moments (within ``SNAPSHOT_BYTES``), and ``complete`` measures gradients, loss and dead
units on the rows the checks read after ``fit`` (``FitData``), with the weights of each
moment (``stateless_call``: the model itself is not touched). The same happens for a
multi-output model whose compiled losses are only resolved by its first training step.

The backend-specific part is one function, ``gradient_norms``: TensorFlow uses
``tf.GradientTape`` on the compiled loss; other backends are reported as not implemented.
Everything else uses backend-neutral ``keras.ops``. The probes run in inference mode
(``training=False``): no dropout draw and no batch-norm update, so training is unchanged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

from mlflow_sanity.adapters.keras.describe import as_numpy
from mlflow_sanity.adapters.keras.guard import Guard
from mlflow_sanity.adapters.keras.inputs import FitCall, is_readable, n_rows, take_rows
from mlflow_sanity.adapters.keras.measures import (
    LossNotResolved,
    Weights,
    dead_units,
    gradient_norms,
    itemsize,
    weights_report,
)
from mlflow_sanity.core.boundary import Origin, attempt
from mlflow_sanity.core.keras_spec import (
    DeadUnits,
    GradientProbe,
    NonFiniteEvent,
    ProbeSpec,
)

_log = logging.getLogger(__name__)

PROBE_ROWS = 256  # training rows in the probe batch
MAX_PROBES = 4  # gradient probes after epochs (plus one before training)
SNAPSHOT_BYTES = 256 * 2**20  # weight copies kept for probes measured after fit
_RELU = frozenset({"relu", "relu6"})


def _probe_batch(call: FitCall) -> tuple[Any, Any] | None:
    """At most ``PROBE_ROWS`` training rows, spread over the rows Keras trains on."""
    if not (is_readable(call.x) and is_readable(call.y)):
        return None
    n = n_rows(call.x)
    if call.validation_split and call.validation_data is None:
        n = math.floor(n * (1.0 - call.validation_split))
    return spread_rows(call.x, call.y, n)


def spread_rows(x: Any, y: Any, n: int) -> tuple[Any, Any] | None:
    """At most ``PROBE_ROWS`` of the first ``n`` rows, evenly spread."""
    if n <= 0:
        return None
    rows = np.unique(np.linspace(0, n - 1, min(n, PROBE_ROWS)).astype(np.int64))
    return _floats(take_rows(x, rows)), _floats(take_rows(y, rows))


def _floats(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_floats(v) for v in obj]
    arr = np.asarray(obj.to_numpy() if hasattr(obj, "to_numpy") else obj)
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr


def _learning_rate(model: Any) -> float | None:
    # a schedule or no optimizer: the probes go on without the rate
    value = attempt(lambda: float(as_numpy(model.optimizer.learning_rate)), None, Origin.OUTSIDE)
    return value if value is not None and math.isfinite(value) else None


def probe_epochs(epochs: int) -> set[int]:
    """The completed-epoch counts after which gradients are probed: first, spread, last."""
    if epochs <= 0:
        return set()
    spread = {round(epochs * k / (MAX_PROBES - 1)) for k in range(1, MAX_PROBES - 1)}
    return {e for e in {1, *spread, epochs} if 1 <= e <= epochs}


# -- the callback -----------------------------------------------------------------------


class ProbeCallback(keras.callbacks.Callback):
    """Measures a few numbers during ``fit``; ``spec()`` returns them as a ``ProbeSpec``."""

    def __init__(self, call: FitCall) -> None:
        super().__init__()
        self._call = call
        self._batch: tuple[Any, Any] | None = None
        self._plan: set[int] = set()
        self._epochs_done = 0
        self._probed: set[int] = set()
        self._gradients: list[GradientProbe] = []
        self._gradients_note = ""
        self._dead: tuple[DeadUnits, ...] | None = None
        self._events: list[NonFiniteEvent] = []
        self._lr_start: float | None = None
        self._lr_end: float | None = None
        self._updates: int | None = None
        self._n_params: int | None = None
        self._guard = Guard("probes")  # each hook's failure is a note in ProbeSpec.errors
        self._first_nan_seen = False
        self._ended = False
        self._source = ""  # where the probe batch came from
        self._pending: list[tuple[int, Weights | None]] = []  # measured after fit
        self._dead_pending = False
        self._snapshots_note = ""

    # Keras hooks: each one catches everything.

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._safe("train begin", self._begin)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._safe("epoch end", lambda: self._epoch_end(dict(logs or {})))

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.finish()

    def finish(self) -> None:
        """The train-end probes, once (a report built before our own hook calls it)."""
        if not self._ended and self.model is not None:
            self._ended = True
            self._safe("train end", self._end)

    def _safe(self, what: str, fn: Callable[[], None]) -> None:
        with self._guard.noted(what):  # never break training
            fn()

    def _begin(self) -> None:
        params = self.params or {}
        epochs = int(params.get("epochs") or self._call.epochs or 0) - self._call.initial_epoch
        self._plan = probe_epochs(epochs)
        self._lr_start = _learning_rate(self.model)
        self._batch = _probe_batch(self._call)
        if self._batch is not None:
            self._source = "the arrays given to fit"
        if getattr(self.model, "built", False) and self.model.trainable_variables:
            self._probe_gradients(0)  # an unbuilt model is left for fit to build

    def _epoch_end(self, logs: dict[str, Any]) -> None:
        self._epochs_done += 1
        bad = [k for k, v in logs.items() if _non_finite(v)]
        for key in bad:
            self._events.append(NonFiniteEvent(self._epochs_done, "logs", key))
        if bad and not self._first_nan_seen:
            self._first_nan_seen = True
            self._scan_weights()
        if self._epochs_done in self._plan:
            self._probe_gradients(self._epochs_done)

    def _end(self) -> None:
        self._lr_end = _learning_rate(self.model)
        self._n_params = int(sum(int(np.prod(v.shape)) for v in self.model.trainable_variables))
        # an optimizer without a step counter: never break training
        model = self.model
        self._updates = attempt(
            lambda: int(as_numpy(model.optimizer.iterations)), None, Origin.OUTSIDE
        )
        if self._epochs_done and self._epochs_done not in self._probed:
            self._probe_gradients(self._epochs_done)
        if not self._first_nan_seen:
            self._scan_weights()
        if not any(e.where == "weights" for e in self._events):
            if self._batch is not None:
                self._dead = tuple(dead_units(self.model, self._batch[0]))
            else:
                self._dead_pending = True

    def _scan_weights(self) -> None:
        _, bad = weights_report(self.model)
        seen = {e.name for e in self._events if e.where == "weights"}
        for name in bad:
            if name not in seen:
                self._events.append(NonFiniteEvent(max(self._epochs_done, 1), "weights", name))

    def _probe_gradients(self, epoch: int) -> None:
        if self._gradients_note:
            return
        self._probed.add(epoch)
        if self._batch is None:  # no rows during fit: measure after fit, at these weights
            self._keep(epoch)
            return
        try:
            norms, loss = gradient_norms(self.model, *self._batch)
        except NotImplementedError as exc:
            self._gradients_note = str(exc)
            return
        except LossNotResolved:
            self._keep(epoch)
            return
        weight_norm, _ = weights_report(self.model)
        self._gradients.append(GradientProbe(epoch, tuple(norms), weight_norm, loss))

    def _keep(self, epoch: int) -> None:
        """Remember this moment for ``complete``: train end uses the final weights, earlier
        moments a copy of them when it fits in ``SNAPSHOT_BYTES`` (all planned copies)."""
        if self._ended:
            self._pending.append((epoch, None))
            return
        size = sum(int(np.prod(v.shape)) * itemsize(v) for v in self.model.weights)
        if size * (len(self._plan) + 1) > SNAPSHOT_BYTES:
            self._snapshots_note = (
                f"gradients during training not probed: copies of the weights ({size} bytes "
                "each) are too large to keep until the rows are read after fit"
            )
            self._probed.discard(epoch)  # the last epoch is still probed at train end
            return
        self._pending.append((epoch, Weights.of(self.model)))

    def complete(self, x: Any, y: Any) -> None:
        """Measure what waited for rows (see the module docstring) on the training rows the
        checks read after ``fit``; with none, say why the gradients were not probed."""
        if self.model is None:
            return
        self.finish()  # an explicit SanityCallback drives us: train end may not have run yet
        if not (self._pending or self._dead_pending):
            return
        pending, self._pending = self._pending, []
        self._safe("after fit", lambda: self._complete(pending, x, y))

    def _complete(self, pending: list[tuple[int, Weights | None]], x: Any, y: Any) -> None:
        batch = self._batch
        if batch is None:
            batch = spread_rows(x, y, n_rows(x)) if x is not None and y is not None else None
            if batch is None:
                self._gradients_note = "the training rows could not be read: no probe batch"
                return
            self._batch, self._source = batch, "training rows read after fit"
        if self._dead_pending:
            self._dead_pending = False
            self._dead = tuple(dead_units(self.model, batch[0]))
        for epoch, weights in pending:
            try:
                norms, loss = gradient_norms(self.model, *batch, weights)
            except NotImplementedError as exc:
                self._gradients_note = str(exc)
                return
            if weights is None:  # train end: the model's own (final) weights
                weight_norm, _ = weights_report(self.model)
            else:
                weight_norm = weights.kernel_norm
            self._gradients.append(GradientProbe(epoch, tuple(norms), weight_norm, loss))
        self._gradients.sort(key=lambda p: p.epoch)

    def spec(self) -> ProbeSpec:
        self.finish()
        if (self._pending or self._dead_pending) and not self._gradients_note:
            self._gradients_note = "the training rows were not read: no probe batch"
        note = self._gradients_note or self._snapshots_note
        steps = (self.params or {}).get("steps")
        terminated = any(
            isinstance(cb, keras.callbacks.TerminateOnNaN) for cb in self._call.callbacks
        ) and any(e.where == "logs" for e in self._events)
        return ProbeSpec(
            backend=keras.backend.backend(),
            gradients=tuple(self._gradients),
            gradients_note=note,
            dead_units=self._dead,
            probe_rows=0 if self._batch is None else n_rows(self._batch[0]),
            non_finite=tuple(self._events),
            terminated_on_nan=terminated,
            learning_rate_start=self._lr_start,
            learning_rate_end=self._lr_end,
            updates=self._updates,
            steps_per_epoch=int(steps) if isinstance(steps, int) else None,
            n_params=self._n_params,
            errors=tuple(self._guard.notes),
            probe_rows_from=self._source,
        )


def _non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def with_probe(callbacks: Any, probe: ProbeCallback) -> list[Any] | None:
    """A new callback list with ``probe`` added (the user's list is never mutated);
    None when the callbacks are a ``CallbackList`` that must be passed as it is."""
    if callbacks is None:
        return [probe]
    if isinstance(callbacks, (list, tuple)):
        return [*callbacks, probe]
    return None


def complete_probe(call: FitCall, x: Any, y: Any) -> None:
    """Hand the training rows read after ``fit`` to the fit's probe (if it waits for them)."""
    probe = getattr(call, "probe", None)
    if isinstance(probe, ProbeCallback):
        probe.complete(x, y)

"""Reading what ``fit`` and ``evaluate`` were given, without disturbing Keras.

``FitCall``/``EvaluateCall`` keep references to the arguments; ``read_rows`` turns any
Keras input kind into rows: arrays, frames and tensors as they are; a finite
``tf.data.Dataset`` or a ``keras.utils.PyDataset`` read once more, up to ``ROW_CAP`` rows
(Keras' own pass is untouched: datasets are re-iterable, PyDatasets indexable; a shuffled
dataset through a copy with its own seed generator, see ``_unshared_shuffle``); an
infinite dataset or a Python generator never (it would be consumed), with a note
saying why. ``FitData`` splits the rows into training and validation exactly as Keras
did (``validation_split`` takes the last rows).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.adapters.keras import shim
from mlflow_sanity.checks import CheckOptions
from mlflow_sanity.core.boundary import Caught, Origin, attempt

_log = logging.getLogger(__name__)

ROW_CAP = 100_000  # rows read from a dataset or PyDataset for predictions and fingerprints
COPY_MAX_BYTES = 32 * 2**20  # in-memory tensors up to which a shuffled dataset is copied


@dataclass
class FitCall:
    """References to what ``fit`` received (nothing is copied or consumed)."""

    x: Any = None
    y: Any = None
    sample_weight: Any = None
    validation_data: Any = None
    validation_split: float = 0.0
    class_weight: Mapping[Any, float] | None = None
    callbacks: list[Any] = field(default_factory=list)
    epochs: int | None = None
    initial_epoch: int = 0
    batch_size: int | None = None
    validation_freq: int = 1
    validation_steps: int | None = None
    source: str = "autolog"
    note: str = ""
    config: CheckOptions | None = None
    probe: Any = None  # the ProbeCallback the fit wrapper added, if any
    seconds: float | None = None  # how long the user's fit took (benchmarks; never a verdict)

    @classmethod
    def from_arguments(
        cls,
        fit: Callable[..., Any],
        model: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        config: CheckOptions,
    ) -> FitCall:
        bound = _signature(fit).bind(model, *args, **kwargs)
        a = bound.arguments
        callbacks = a.get("callbacks")
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            callbacks = getattr(callbacks, "callbacks", [callbacks])
        return cls(
            x=a.get("x"),
            y=a.get("y"),
            sample_weight=a.get("sample_weight"),
            validation_data=a.get("validation_data"),
            validation_split=float(a.get("validation_split") or 0.0),
            class_weight=a.get("class_weight"),
            callbacks=list(callbacks or []),
            epochs=a.get("epochs", 1),
            initial_epoch=int(a.get("initial_epoch") or 0),
            batch_size=a.get("batch_size"),
            validation_freq=a.get("validation_freq")
            if isinstance(a.get("validation_freq"), int)
            else 1,
            validation_steps=a.get("validation_steps"),
            config=config,
        )


@dataclass
class EvaluateCall:
    """References to what ``evaluate`` received."""

    x: Any = None
    y: Any = None
    sample_weight: Any = None
    batch_size: int | None = None
    steps: int | None = None
    callbacks: list[Any] = field(default_factory=list)

    @classmethod
    def from_arguments(
        cls, evaluate: Callable[..., Any], model: Any, args: tuple[Any, ...], kwargs: Any
    ) -> EvaluateCall:
        a = _signature(evaluate).bind(model, *args, **kwargs).arguments
        callbacks = a.get("callbacks")
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            callbacks = getattr(callbacks, "callbacks", [callbacks])
        return cls(
            a.get("x"),
            a.get("y"),
            a.get("sample_weight"),
            a.get("batch_size"),
            a.get("steps"),
            list(callbacks or []),
        )


@functools.cache
def _signature(fit: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fit)


@dataclass
class Rows:
    """Features, labels and weights as plain arrays (or a frame / dict of arrays)."""

    x: Any
    y: np.ndarray | None
    sample_weight: np.ndarray | None = None


def read_rows(
    x: Any, y: Any = None, sample_weight: Any = None, *, cap: int = ROW_CAP
) -> tuple[Rows | None, str]:
    """The rows behind any Keras input, and a note (why nothing was read, or the cap)."""
    if is_readable(x):
        if y is not None and not is_readable(y):
            return None, f"the labels are a {kind_name(y)} and were not read"
        return Rows(x, to_numpy(y), to_numpy(sample_weight)), ""
    if x is None:
        return None, ""
    if _is_tf_dataset(x):
        return _read_batches(_dataset_batches(x), cap, "the tf.data dataset")
    if _is_py_dataset(x):
        batches = _py_dataset_batches(x)
        if batches is None:
            return None, "the PyDataset has no length (infinite); it was not read"
        return _read_batches(batches, cap, "the PyDataset")
    if inspect.isgenerator(x) or hasattr(x, "__next__"):
        return None, (
            "a Python generator cannot be read without consuming it; pass a tf.data.Dataset "
            "or a keras.utils.PyDataset to have the data checked"
        )
    return None, f"the data is a {kind_name(x)}, which mlflow-sanity cannot read"


def _is_tf_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("tensorflow") and hasattr(obj, "element_spec")


def _is_py_dataset(obj: Any) -> bool:
    return any(c.__name__ == "PyDataset" for c in type(obj).__mro__) and hasattr(obj, "__getitem__")


def _dataset_batches(ds: Any) -> Any:
    if int(ds.cardinality()) == -1:  # tf.data.INFINITE_CARDINALITY
        return None
    return iter(_unshared_shuffle(ds))


def _unshared_shuffle(ds: Any) -> Any:
    """``ds``, or a copy of it whose ``shuffle`` has a seed generator of its own.

    Every new iterator of a reshuffling ``shuffle`` draws its seeds from a generator that
    belongs to the dataset (the graph captures it as a resource), so one more pass by the
    checks would move the epoch order of the user's *next* pass over the same object, a
    later ``fit`` on it included, even with ``shuffle(seed=...)``. The copy (the dataset's
    graph with a fresh ``DummySeedGenerator`` in each ``ShuffleDatasetV3``) yields the
    same rows and leaves the user's generator where Keras left it. Datasets without a
    shuffle are read as they are (no copy); if the copy cannot be made, too, and when the
    graph holds more than ``COPY_MAX_BYTES`` of in-memory tensors (``from_tensor_slices``
    of large arrays: copying the graph costs ~25 ms per MB, measured on 188 MB).
    """
    if not _has_shuffle(ds) or _held_bytes(ds) > COPY_MAX_BYTES:
        return ds
    # a graph that cannot be serialised: read it as it is
    return attempt(lambda: _with_fresh_seeds(ds), ds, Origin.OUTSIDE, "copying a dataset")


def _with_fresh_seeds(ds: Any) -> Any:
    """The dataset's graph rebuilt with a fresh seed generator in each shuffle."""
    import tensorflow as tf

    policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(shim.dataset_graph(ds, policy))
    swapped = 0
    for node in list(graph.node):
        if node.op == "ShuffleDatasetV3" and len(node.input) >= 5:
            fresh = graph.node.add()
            fresh.name, fresh.op = (
                f"{node.name}/mlflow_sanity_seed_generator",
                "DummySeedGenerator",
            )
            node.input[4] = fresh.name
            swapped += 1
    if not swapped:
        return ds
    variant = tf.raw_ops.DatasetFromGraph(graph_def=graph.SerializeToString())
    return tf.data.experimental.from_variant(variant, ds.element_spec)


def _held_bytes(ds: Any, depth: int = 0) -> int:
    """Bytes of the tensors a dataset graph holds in memory (``from_tensor_slices``)."""
    total = 0
    for t in shim.dataset_tensors(ds):
        with Caught(Origin.OUTSIDE):  # not a dense tensor: count nothing
            width = 64 if t.dtype.name == "string" else t.dtype.size
            total += int(t.shape.num_elements() or 0) * width
    # an unknown graph: count what is known, read the dataset directly
    inputs = attempt(lambda: shim.dataset_inputs(ds) if depth < 100 else [], [], Origin.OUTSIDE)
    return total + sum(_held_bytes(d, depth + 1) for d in inputs)


def _has_shuffle(ds: Any, depth: int = 0) -> bool:
    if "Shuffle" in type(ds).__name__:
        return True
    # unknown structure: assume a shuffle, the copy falls back safely
    inputs = attempt(lambda: shim.dataset_inputs(ds) if depth < 100 else [], None, Origin.OUTSIDE)
    if inputs is None:
        return True
    return any(_has_shuffle(d, depth + 1) for d in inputs)


def _py_dataset_batches(ds: Any) -> Any:
    try:
        n = ds.num_batches if getattr(ds, "num_batches", None) is not None else len(ds)
    except TypeError:
        return None
    return (ds[i] for i in range(int(n)))


def _read_batches(batches: Any, cap: int, what: str) -> tuple[Rows | None, str]:
    if batches is None:
        return None, f"{what} repeats forever; it was not read"
    xs, ys, ws, n, capped = [], [], [], 0, False
    for element in batches:
        x, y, w = _split_element(element)
        xs.append(_arrays(x))
        ys.append(None if y is None else _arrays(y))
        ws.append(None if w is None else _arrays(w))
        n += n_rows(xs[-1])
        if n >= cap:
            capped = True
            break
    if not xs:
        return None, f"{what} is empty"
    x = _concat(xs)
    y = None if any(v is None for v in ys) else _concat(ys)
    w = None if any(v is None for v in ws) else _concat(ws)
    note = f"{what} was read up to its first {n} rows (cap {cap})" if capped else ""
    return Rows(x, y, w), note


def _split_element(element: Any) -> tuple[Any, Any, Any]:
    if isinstance(element, tuple) and len(element) in (2, 3):
        return element[0], element[1], element[2] if len(element) == 3 else None
    if isinstance(element, tuple) and len(element) == 1:
        return element[0], None, None
    return element, None, None


def _arrays(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: np.asarray(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [np.asarray(v) for v in x]
    return np.asarray(x)


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in first}
    if isinstance(first, list):
        return [np.concatenate([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate([np.atleast_1d(p) for p in parts])


def unpack_pair(data: Any) -> tuple[Any, Any]:
    if data is None:
        return None, None
    if isinstance(data, (list, tuple)) and len(data) in (2, 3):
        return data[0], data[1]
    return data, None


def is_readable(obj: Any) -> bool:
    """Arrays, pandas and eager tensors can be read without consuming anything."""
    if obj is None:
        return False
    if isinstance(obj, (np.ndarray, pd.DataFrame, pd.Series)):
        return True
    if isinstance(obj, Mapping):
        return bool(obj) and all(is_readable(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(
            is_readable(v) or isinstance(v, (int, float, np.number, list, tuple)) for v in obj
        )
    shape = getattr(obj, "shape", None)
    return hasattr(obj, "__array__") and shape is not None and len(shape) > 0


def kind_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def n_rows(obj: Any) -> int:
    if isinstance(obj, Mapping):
        return n_rows(next(iter(obj.values())))
    if isinstance(obj, (list, tuple)) and obj and all(hasattr(v, "shape") for v in obj):
        return n_rows(obj[0])  # one array per model input
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return len(obj)
    return int(np.shape(obj)[0])


def take_rows(obj: Any, rows: slice | np.ndarray) -> Any:
    """Rows of an array, frame, tensor or a dict/list of them (multi-input models)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return {k: take_rows(v, rows) for k, v in obj.items()}
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.iloc[rows]
    if isinstance(obj, (list, tuple)) and all(hasattr(v, "shape") for v in obj):
        return [take_rows(v, rows) for v in obj]
    return np.asarray(obj)[rows]


def to_numpy(obj: Any) -> Any:
    """Arrays as NumPy; labels by output name (a multi-output model) stay a dict."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return {str(k): to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.to_numpy()
    return np.asarray(obj)


@dataclass
class FitData:
    """Training/validation rows as ``fit`` used them, and why some could not be read."""

    x_train: Any = None
    y_train: np.ndarray | None = None
    x_val: Any = None
    y_val: np.ndarray | None = None
    sw_val: np.ndarray | None = None
    y_all: np.ndarray | None = None
    validation: str = "none"
    train_readable: bool = False
    val_readable: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_call(cls, call: FitCall, history: Mapping[str, Any]) -> FitData:
        data = cls()
        train = data._read(call.x, call.y, call.sample_weight, "training")
        x, y = (train.x, train.y) if train is not None else (None, None)
        data.train_readable = train is not None
        if call.validation_data is not None:
            data.validation = "validation_data"
            if isinstance(call.validation_data, (list, tuple)):
                xv, yv = unpack_pair(call.validation_data)
                sw = call.validation_data[2] if is_triple(call.validation_data) else None
                val = data._read(xv, yv, sw, "validation")
            else:  # a dataset or PyDataset yielding (x, y[, w])
                val = data._read(call.validation_data, None, None, "validation")
            if val is not None:
                data.x_val, data.y_val, data.sw_val = val.x, val.y, val.sample_weight
                data.val_readable = True
        elif call.validation_split and train is not None:
            data.validation = "validation_split"
            n = n_rows(x)
            split_at = math.floor(n * (1.0 - call.validation_split))  # as Keras
            data.y_all = y
            data.x_val, data.y_val = (
                take_rows(x, slice(split_at, n)),
                take_rows(y, slice(split_at, n)),
            )
            if train.sample_weight is not None:
                data.sw_val = train.sample_weight[split_at:]
            x, y = take_rows(x, slice(0, split_at)), take_rows(y, slice(0, split_at))
            data.val_readable = True
        elif any(k.startswith("val_") for k in history):
            data.validation = "unknown"
        data.x_train, data.y_train = x, y
        if call.note:
            data.notes.append(call.note)
        return data

    def _read(self, x: Any, y: Any, sw: Any, role: str) -> Rows | None:
        """``read_rows`` for one role; anything not read (or capped) becomes a note."""
        rows, note = read_rows(x, y, sw)
        if rows is not None and rows.y is None and x is not None:
            rows, note = None, f"fit got no {role} labels (y)"
        if note:
            self.notes.append(f"{role} data: {note}")
        return rows

    @property
    def readable(self) -> bool:
        return self.train_readable and (self.val_readable or self.validation == "none")


def is_triple(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and len(data) == 3

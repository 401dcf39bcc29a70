"""Reading what ``fit`` was given: arrays, frames and tensors, without copying or consuming.

``FitCall`` keeps references to the arguments; ``FitData`` splits them into the training
and validation rows exactly as Keras did (``validation_split`` takes the last rows).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.checks import CheckOptions


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


@functools.cache
def _signature(fit: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fit)


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


def to_numpy(obj: Any) -> np.ndarray | None:
    if obj is None:
        return None
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
        has_val_history = any(k.startswith("val_") for k in history)
        data.train_readable = is_readable(call.x) and is_readable(call.y)
        if call.x is not None and not data.train_readable:
            if not is_readable(call.x):
                data.notes.append(
                    f"the training data is a {kind_name(call.x)}; mlflow-sanity does not consume "
                    "input pipelines"
                )
            elif call.y is None:
                data.notes.append("fit got no separate labels (y)")
            else:
                data.notes.append(
                    f"the training labels are a {kind_name(call.y)} and were not read"
                )
        x, y = (call.x, to_numpy(call.y)) if data.train_readable else (None, None)
        if call.validation_data is not None:
            data.validation = "validation_data"
            xv, yv = unpack_pair(call.validation_data)
            sw = call.validation_data[2] if is_triple(call.validation_data) else None
            data.val_readable = is_readable(xv) and is_readable(yv)
            if data.val_readable:
                data.x_val, data.y_val, data.sw_val = xv, to_numpy(yv), to_numpy(sw)
            else:
                data.notes.append(
                    f"the validation data is a {kind_name(call.validation_data)}; it was not read"
                )
        elif call.validation_split and (call.x is not None):
            data.validation = "validation_split"
            if data.train_readable:
                n = n_rows(call.x)
                split_at = math.floor(n * (1.0 - call.validation_split))  # as Keras
                data.y_all = y
                data.x_val, data.y_val = take_rows(x, slice(split_at, n)), y[split_at:]
                if call.sample_weight is not None:
                    data.sw_val = to_numpy(call.sample_weight)[split_at:]
                x, y = take_rows(x, slice(0, split_at)), y[:split_at]
                data.val_readable = True
        elif has_val_history:
            data.validation = "unknown"
        data.x_train, data.y_train = x, y
        if call.note:
            data.notes.append(call.note)
        return data

    @property
    def readable(self) -> bool:
        return self.train_readable and (self.val_readable or self.validation == "none")


def is_triple(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and len(data) == 3

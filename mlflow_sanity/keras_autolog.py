"""Keras autolog extension: check every ``fit`` and flag the run it trained.

Two entry points give the same report:

- ``autolog()`` wraps ``fit`` on the class in ``keras.Model.__mro__`` that defines it
  (the backend trainer). ``mlflow.keras.autolog()`` patches ``keras.Model.fit`` one level
  up, starts its run and calls down into this wrapper, so both log into the same run;
  ``mlflow.models.evaluate`` reverts and re-applies MLflow's patch, which leaves this one
  in place. Without MLflow autologging the wrapper uses the active run or starts one.
- ``SanityCallback`` for users who prefer explicit callbacks. It sees no data unless
  given ``validation_data=``/``training_data=``.

All work happens once, after training (no per-batch or per-epoch hooks), and a failure
inside mlflow-sanity never breaks ``fit``: it becomes one ``SanityWarning``.
This module is the Keras adapter: it turns Keras objects into ``keras_spec``
descriptions and the core does the judging.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import keras
import numpy as np
import pandas as pd

from mlflow_sanity.checks import REGISTRY, Context
from mlflow_sanity.core import build_report, outputs_to_proba
from mlflow_sanity.findings import Report
from mlflow_sanity.keras_spec import (
    PASS_THROUGH_LAYERS,
    CallbackSpec,
    FitSpec,
    LayerSpec,
    MetricSpec,
    ModelSpec,
    Predictions,
    canonical_name,
    label_indices,
    summarize_labels,
)
from mlflow_sanity.metrics import InputError, classify

_log = logging.getLogger(__name__)

Thresholds = Mapping[str, Mapping[str, float]]

_MLFLOW_PATCH_MARK = "_gorilla_active_patch_fit"  # set by MLflow's safe_patch on keras.Model
_TRAIN_SAMPLE_ROWS = 2000  # rows of training data re-predicted for the dropout note
_FORWARD_CHUNK_ROWS = 8192
_FORWARD_CHUNK_BYTES = 32 * 2**20


class SanityWarning(UserWarning):
    """mlflow-sanity could not check a fit. Training itself was not affected."""


@dataclass(frozen=True)
class _Config:
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    disable_checks: tuple[str, ...] = ()


def _make_config(thresholds: Thresholds | None, disable_checks: Iterable[str]) -> _Config:
    """Validate ids and threshold names now, not at the end of a long training run."""
    thresholds = {k: dict(v) for k, v in (thresholds or {}).items()}
    disabled = (disable_checks,) if isinstance(disable_checks, str) else tuple(disable_checks)
    unknown = (set(thresholds) | set(disabled)) - set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown finding id(s) {sorted(unknown)}; known: {sorted(REGISTRY)}")
    for check_id, values in thresholds.items():
        bad = set(values) - set(REGISTRY[check_id].defaults)
        if bad:
            raise ValueError(
                f"unknown threshold(s) {sorted(bad)} for {check_id}; "
                f"known: {sorted(REGISTRY[check_id].defaults)}"
            )
    return _Config(thresholds, disabled)


@dataclass
class _State:
    enabled: bool = False
    config: _Config = field(default_factory=_Config)
    owner: type | None = None
    original: Callable[..., Any] | None = None


_STATE = _State()
_LOCAL = threading.local()


# -- public API --------------------------------------------------------------------------


def autolog(
    disable: bool = False,
    *,
    thresholds: Thresholds | None = None,
    disable_checks: Iterable[str] = (),
) -> None:
    """Check every Keras ``fit`` and log the verdict to the run it trained in.

    Works next to ``mlflow.keras.autolog()`` (same run) and without it (the active run,
    or a new one). ``thresholds`` overrides documented defaults per finding id
    (``{"overfitting": {"max_gap": 0.05}}``), ``disable_checks`` skips finding ids, and
    ``disable=True`` removes the interception again.
    """
    if disable:
        _STATE.enabled = False
        _uninstall()
        _rebind_mlflow_patch()
        return
    _STATE.config = _make_config(thresholds, disable_checks)
    _install()
    _STATE.enabled = True
    _rebind_mlflow_patch()


class SanityCallback(keras.callbacks.Callback):
    """The explicit form of ``autolog()``: ``model.fit(..., callbacks=[SanityCallback()])``.

    A callback only sees the model and its history, so pass ``validation_data=(x, y)``
    (and ``training_data=(x, y)``) to get the validation-set checks, the metric
    recomputation and the label-shift test. With ``autolog()`` active, the callback
    receives everything ``fit`` was given and the wrapper steps aside, so a fit is never
    reported twice. The checks run once, in ``on_train_end``.
    """

    def __init__(
        self,
        validation_data: Any = None,
        training_data: Any = None,
        *,
        thresholds: Thresholds | None = None,
        disable_checks: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.validation_data = validation_data
        self.training_data = training_data
        self._config = _make_config(thresholds, disable_checks)
        self._explicit_config = bool(self._config.thresholds or self._config.disable_checks)
        self._adopted: _FitCall | None = None
        self._siblings: list[Any] = []

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            self._siblings = _sibling_callbacks(self)
        except Exception:  # introspection is best effort; the report just lacks monitors
            self._siblings = []

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        call, self._adopted = self._adopted, None
        try:
            self._restore_like_early_stopping()
            if call is None:
                call = self._call_from_arguments()
            config = self._config if self._explicit_config or call.config is None else call.config
            history = getattr(getattr(self.model, "history", None), "history", None) or {}
            with _run_for_logging() as run_id:
                _check_and_log(self.model, dict(history), call, config, run_id)
        except Exception as exc:
            _internal_error(exc)

    def _adopt(self, call: _FitCall) -> None:
        """Called by the ``autolog`` wrapper: the callback reports, with full data access."""
        self._adopted = call

    def _restore_like_early_stopping(self) -> None:
        """Judge the weights the user ends up with, even if EarlyStopping runs after us."""
        if self not in self._siblings:
            return
        later = self._siblings[self._siblings.index(self) + 1 :]
        for cb in later:
            if (
                isinstance(cb, keras.callbacks.EarlyStopping)
                and cb.restore_best_weights
                and getattr(cb, "best_weights", None) is not None
            ):
                self.model.set_weights(cb.best_weights)

    def _call_from_arguments(self) -> _FitCall:
        x, y = _unpack_pair(self.training_data)
        params = self.params or {}
        given = [
            name
            for name, v in (("training_data", x), ("validation_data", self.validation_data))
            if v is not None
        ]
        note = (
            ""
            if len(given) == 2
            else "SanityCallback was not given "
            + " or ".join(n for n in ("training_data", "validation_data") if n not in given)
            + "; pass them to run the data checks"
        )
        return _FitCall(
            x=x,
            y=y,
            validation_data=self.validation_data,
            callbacks=[cb for cb in self._siblings if cb is not self],
            epochs=params.get("epochs"),
            source="callback",
            note=note,
        )


# -- installing the wrapper ---------------------------------------------------------------


def _fit_owner() -> type:
    """The class whose own ``fit`` runs training (skipping MLflow's patch on keras.Model)."""
    for cls in keras.Model.__mro__:
        if "fit" in cls.__dict__ and _MLFLOW_PATCH_MARK not in cls.__dict__:
            return cls
    raise RuntimeError("no class in keras.Model.__mro__ defines fit")


def _install() -> None:
    owner = _fit_owner()
    current = owner.__dict__["fit"]
    if current is _fit_wrapper:
        return
    _STATE.owner, _STATE.original = owner, current
    functools.update_wrapper(_fit_wrapper, current)  # MLflow reads fit's signature
    owner.fit = _fit_wrapper


def _uninstall() -> None:
    owner = _STATE.owner
    if owner is not None and owner.__dict__.get("fit") is _fit_wrapper:
        owner.fit = _STATE.original


def _rebind_mlflow_patch() -> None:
    """Make MLflow's Keras patch call the current ``fit``.

    MLflow captures the method it patches over when ``mlflow.keras.autolog()`` runs; if
    that happened before ``mlflow_sanity.autolog()``, it would call the unwrapped ``fit``.
    Re-running MLflow's autolog with its stored configuration (what
    ``mlflow.models.evaluate`` does after an evaluation) makes it capture the wrapper.
    """
    if _MLFLOW_PATCH_MARK not in keras.Model.__dict__:
        return
    try:
        import mlflow.keras
        from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS
    except ImportError:
        return
    config = dict(AUTOLOGGING_INTEGRATIONS.get("keras") or {})
    if config and not config.get("disable", False):
        mlflow.keras.autolog(**config)


def _fit_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _STATE.original
    if original is None:  # pragma: no cover - only if the module state was reset
        raise RuntimeError("mlflow-sanity fit wrapper called without an original fit")
    if not _STATE.enabled or getattr(_LOCAL, "depth", 0):
        return original(self, *args, **kwargs)
    call: _FitCall | None = None
    run: _OwnedRun | None = None
    adopter: SanityCallback | None = None
    failure: BaseException | None = None  # at most one warning per fit
    try:
        call = _FitCall.from_arguments(original, self, args, kwargs, _STATE.config)
        adopter = next((cb for cb in call.callbacks if isinstance(cb, SanityCallback)), None)
        if adopter is not None:  # the explicit callback reports, with our data access
            adopter._adopt(call)
            call = None
        else:
            run = _OwnedRun.ensure()
    except Exception as exc:
        failure, call = exc, None
    _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
    try:
        history = original(self, *args, **kwargs)
    except BaseException:
        if adopter is not None:
            adopter._adopted = None
        if run is not None:
            run.end("FAILED", quiet=True)
        raise
    finally:
        _LOCAL.depth -= 1
    try:
        if call is not None and run is not None:
            hist = dict(getattr(history, "history", None) or {})
            _check_and_log(self, hist, call, _STATE.config, run.run_id)
    except Exception as exc:
        failure = failure or exc
    finally:
        if run is not None:
            try:
                run.end("FINISHED")
            except Exception as exc:
                failure = failure or exc
    if failure is not None:
        _internal_error(failure)
    return history


def _internal_error(exc: BaseException) -> None:
    _log.debug("mlflow-sanity failed", exc_info=exc)
    warnings.warn(
        f"mlflow-sanity could not check this fit ({type(exc).__name__}: {exc}); "
        "training and its History are not affected.",
        SanityWarning,
        stacklevel=2,  # our frame: MLflow reroutes warnings attributed to its own code
    )


@dataclass
class _OwnedRun:
    """The run to log into: the active one (MLflow's or the user's) or one we start."""

    run_id: str
    owned: bool

    @classmethod
    def ensure(cls) -> _OwnedRun:
        import mlflow

        active = mlflow.active_run()
        if active is not None:
            return cls(active.info.run_id, False)
        return cls(mlflow.start_run().info.run_id, True)

    def end(self, status: str, quiet: bool = False) -> None:
        """End the run if we started it and it is still the active one."""
        import mlflow

        if not self.owned:
            return
        try:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self.run_id:
                mlflow.end_run(status)
        except Exception:
            if not quiet:
                raise
            _log.debug("could not end run %s", self.run_id, exc_info=True)


@contextlib.contextmanager
def _run_for_logging() -> Iterator[str]:
    run = _OwnedRun.ensure()
    try:
        yield run.run_id
    finally:
        run.end("FINISHED")


# -- what fit was given --------------------------------------------------------------------


@dataclass
class _FitCall:
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
    config: _Config | None = None

    @classmethod
    def from_arguments(
        cls,
        fit: Callable[..., Any],
        model: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        config: _Config,
    ) -> _FitCall:
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


def _unpack_pair(data: Any) -> tuple[Any, Any]:
    if data is None:
        return None, None
    if isinstance(data, (list, tuple)) and len(data) in (2, 3):
        return data[0], data[1]
    return data, None


def _readable(obj: Any) -> bool:
    """Arrays, pandas and eager tensors can be read without consuming anything."""
    if obj is None:
        return False
    if isinstance(obj, (np.ndarray, pd.DataFrame, pd.Series)):
        return True
    if isinstance(obj, Mapping):
        return bool(obj) and all(_readable(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return bool(obj) and all(
            _readable(v) or isinstance(v, (int, float, np.number, list, tuple)) for v in obj
        )
    shape = getattr(obj, "shape", None)
    return hasattr(obj, "__array__") and shape is not None and len(shape) > 0


def _kind(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def _n_rows(obj: Any) -> int:
    if isinstance(obj, Mapping):
        return _n_rows(next(iter(obj.values())))
    if isinstance(obj, (list, tuple)) and obj and all(hasattr(v, "shape") for v in obj):
        return _n_rows(obj[0])  # one array per model input
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return len(obj)
    return int(np.shape(obj)[0])


def _take(obj: Any, rows: slice | np.ndarray) -> Any:
    """Rows of an array, frame, tensor or a dict/list of them (multi-input models)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return {k: _take(v, rows) for k, v in obj.items()}
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.iloc[rows]
    if isinstance(obj, (list, tuple)) and all(hasattr(v, "shape") for v in obj):
        return [_take(v, rows) for v in obj]
    return np.asarray(obj)[rows]


def _to_numpy(obj: Any) -> np.ndarray | None:
    if obj is None:
        return None
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.to_numpy()
    return np.asarray(obj)


@dataclass
class _Data:
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
    def from_call(cls, call: _FitCall, history: Mapping[str, Any]) -> _Data:
        data = cls()
        has_val_history = any(k.startswith("val_") for k in history)
        data.train_readable = _readable(call.x) and _readable(call.y)
        if call.x is not None and not data.train_readable:
            if not _readable(call.x):
                data.notes.append(
                    f"the training data is a {_kind(call.x)}; mlflow-sanity does not consume "
                    "input pipelines"
                )
            elif call.y is None:
                data.notes.append("fit got no separate labels (y)")
            else:
                data.notes.append(f"the training labels are a {_kind(call.y)} and were not read")
        x, y = (call.x, _to_numpy(call.y)) if data.train_readable else (None, None)
        if call.validation_data is not None:
            data.validation = "validation_data"
            xv, yv = _unpack_pair(call.validation_data)
            sw = call.validation_data[2] if _is_triple(call.validation_data) else None
            data.val_readable = _readable(xv) and _readable(yv)
            if data.val_readable:
                data.x_val, data.y_val, data.sw_val = xv, _to_numpy(yv), _to_numpy(sw)
            else:
                data.notes.append(
                    f"the validation data is a {_kind(call.validation_data)}; it was not read"
                )
        elif call.validation_split and (call.x is not None):
            data.validation = "validation_split"
            if data.train_readable:
                n = _n_rows(call.x)
                split_at = math.floor(n * (1.0 - call.validation_split))  # as Keras
                data.y_all = y
                data.x_val, data.y_val = _take(x, slice(split_at, n)), y[split_at:]
                if call.sample_weight is not None:
                    data.sw_val = _to_numpy(call.sample_weight)[split_at:]
                x, y = _take(x, slice(0, split_at)), y[:split_at]
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


def _is_triple(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and len(data) == 3


# -- describing the model ----------------------------------------------------------------


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
    try:
        lr = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # schedules, missing optimizer
        lr = None
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
    )


def _activation_name(layer: Any) -> str | None:
    if type(layer).__name__ == "Softmax":
        return "softmax"
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    name = getattr(act, "__name__", None) or type(act).__name__
    return canonical_name(name)


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
            activation=_activation_name(layer),
            units=int(units) if isinstance(units, int) else None,
        )


def _output_activation(layers: tuple[LayerSpec, ...]) -> tuple[str | None, str | None]:
    for layer in reversed(layers):
        if layer.class_name in PASS_THROUGH_LAYERS:
            continue
        return layer.name, layer.activation
    return None, None


def _loss(model: Any) -> tuple[str | None, bool]:
    compiled = getattr(model, "_compile_loss", None)
    flat = getattr(compiled, "_flat_losses", None) or []
    obj = flat[0].loss if len(flat) == 1 else getattr(model, "loss", None)
    if isinstance(obj, (list, tuple, dict)):
        return None, False
    if isinstance(obj, str):
        try:
            obj = keras.losses.get(obj)
        except (ValueError, TypeError):
            return canonical_name(obj), False
    fn = getattr(obj, "fn", None)
    name = getattr(fn, "__name__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    kwargs = getattr(obj, "_fn_kwargs", None) or {}
    from_logits = bool(getattr(obj, "from_logits", False) or kwargs.get("from_logits", False))
    return canonical_name(name), from_logits


def _metric_variant(metric: Any) -> str | None:
    fn = getattr(metric, "_fn", None)
    return canonical_name(getattr(fn, "__name__", None) or type(metric).__name__)


def _metric_threshold(metric: Any) -> float | None:
    kwargs = getattr(metric, "_fn_kwargs", None) or {}
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
    cm = getattr(model, "_compile_metrics", None)
    if cm is None or not getattr(cm, "built", False):
        return []
    specs: list[MetricSpec] = []
    seen: dict[str, int] = {}
    groups = (
        (False, cm._flat_metrics, cm._user_metrics),
        (True, cm._flat_weighted_metrics, cm._user_weighted_metrics),
    )
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
                specs.append(
                    MetricSpec(
                        name=name,
                        requested=asked if isinstance(asked, str) else type(asked).__name__,
                        variant=_metric_variant(m),
                        weighted=weighted,
                        threshold=_metric_threshold(m),
                        from_logits=bool(getattr(m, "_from_logits", False)),
                    )
                )
    return specs


def _callback_specs(
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


def _sibling_callbacks(callback: Any) -> list[Any]:
    """The callbacks fit runs next to ``callback``, read from the calling CallbackList.

    A Keras callback is never told about its siblings; SanityCallback needs them to see
    EarlyStopping/ModelCheckpoint. Best effort: an empty list if the caller is unusual.
    """
    frame = sys._getframe(1)
    for _ in range(4):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            return list(owner.callbacks)
        frame = frame.f_back
    return []


# -- checking and logging -----------------------------------------------------------------


def _predict(model: Any, x: Any, batch_size: int | None) -> np.ndarray:
    """The model's outputs on ``x`` in inference mode.

    Plain forward passes over large chunks when the model uses the standard predict step
    (no ``tf.function`` tracing: this runs once per fit and must stay cheap); otherwise,
    or if that fails, ``model.predict``.
    """
    if type(model).predict_step is keras.Model.predict_step:
        try:
            return _forward(model, x)
        except Exception as exc:  # unusual inputs: let Keras' data adapters handle them
            _log.debug("direct forward pass failed, using model.predict: %s", exc)
    out = model.predict(x, batch_size=max(batch_size or 32, 256), verbose=0)
    if isinstance(out, (list, tuple, dict)):
        raise InputError("multi-output model: predictions not checked")
    return np.asarray(out)


def _forward(model: Any, x: Any) -> np.ndarray:
    arrays = _as_arrays(x)
    first = next(iter(arrays.values())) if isinstance(arrays, dict) else arrays
    n = first.shape[0]
    row_bytes = max(1, first[:1].nbytes)
    step = int(max(1, min(_FORWARD_CHUNK_ROWS, _FORWARD_CHUNK_BYTES // row_bytes)))
    chunks = []
    for start in range(0, n, step):
        part = _take(arrays, slice(start, start + step))
        out = model(part, training=False)
        if isinstance(out, (list, tuple, dict)):
            raise InputError("multi-output model: predictions not checked")
        chunks.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(chunks, axis=0)


def _as_arrays(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {k: _as_arrays(v) for k, v in x.items()}
    if isinstance(x, (pd.DataFrame, pd.Series)):
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"non-numeric model input ({arr.dtype})")
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr


def analyse(
    model: Any, history: Mapping[str, list[float]], call: _FitCall, config: _Config
) -> tuple[Report, dict[str, bytes]]:
    """Describe, predict, check: the report and the artifact files for one finished fit."""
    from mlflow_sanity.report import classification_files, plots

    data = _Data.from_call(call, history)
    spec = describe_model(model)
    val_preds = train_preds = None
    try:
        if data.val_readable and spec.n_outputs == 1 and spec.is_classifier:
            outputs = _predict(model, data.x_val, call.batch_size)
            if spec.output_units is None:  # subclassed model: learn the shape from outputs
                units = int(outputs.shape[-1]) if outputs.ndim > 1 else 1
                spec = replace(spec, output_units=units, output_rank=outputs.ndim)
            val_preds = Predictions(data.y_val, outputs, data.sw_val)
        if data.train_readable and spec.stochastic_layers and spec.accuracy_metrics:
            n = _n_rows(data.x_train)
            rows = np.unique(np.linspace(0, n - 1, min(n, _TRAIN_SAMPLE_ROWS)).astype(np.int64))
            outputs = _predict(model, _take(data.x_train, rows), call.batch_size)
            train_preds = Predictions(data.y_train[rows], outputs)
    except Exception as exc:  # config and history checks do not need predictions
        _log.info("mlflow-sanity: predictions not checked: %s", exc)
        data.notes.append(f"the model's predictions could not be computed ({exc})")
    labels = None
    if data.y_train is not None:
        labels = summarize_labels(data.y_train, data.y_val, spec.output_units, data.y_all)
    elif data.y_val is not None:
        labels = summarize_labels(data.y_val, None, spec.output_units)
        labels = (
            replace(labels, train_counts={}, val_counts=labels.train_counts) if labels else None
        )
    callbacks, others = _callback_specs(call.callbacks, call.initial_epoch)
    epochs_run = len(history.get("loss", []))
    fit = FitSpec(
        n_train=_n_rows(data.x_train) if data.x_train is not None else None,
        n_val=_n_rows(data.x_val) if data.x_val is not None else None,
        validation=data.validation,
        validation_split=call.validation_split,
        validation_freq=call.validation_freq,
        validation_steps=call.validation_steps,
        class_weight=dict(call.class_weight) if call.class_weight else None,
        sample_weight=call.sample_weight is not None,
        callbacks=callbacks,
        other_callbacks=others,
        labels=labels,
        data_readable=data.readable,
        data_note="; ".join(data.notes),
        epochs=call.epochs,
        epochs_run=epochs_run,
        validation_outputs=val_preds,
        train_outputs=train_preds,
    )
    evaluation = _validation_classification(spec, fit, val_preds)
    ctx = Context(eval=evaluation, model=spec, history=history or None, fit=fit)
    inputs: dict[str, Any] = {
        "source": call.source,
        "model": spec.to_dict(),
        "fit": fit.to_dict(),
    }
    if fit.monitors:
        inputs["model_selection"] = {
            "monitors": fit.monitors,
            "callbacks": [cb.class_name for cb in fit.callbacks if cb.monitor],
        }
    report = build_report(
        ctx,
        thresholds=config.thresholds,
        disable=config.disable_checks,
        source="autolog",
        inputs=inputs,
    )
    if evaluation is not None:
        report.inputs["evaluated_on"] = "validation data"
    _add_training_metrics(report)
    files: dict[str, bytes] = {}
    if epochs_run:
        restored = fit.restored_epoch
        marks = {f"restored epoch {restored + 1}": restored + 1} if restored is not None else {}
        files["learning_curves.png"] = plots.learning_curves_png(history, marks)
    if evaluation is not None:
        files.update(classification_files(evaluation, prefix="validation_"))
    if data.train_readable:
        try:
            files.update(_fingerprint_files(data.x_train, data.y_train, data.x_val, data.y_val))
        except Exception as exc:  # a fingerprint is optional; the checks above still count
            _log.warning("mlflow-sanity: training fingerprint not logged: %s", exc)
            report.inputs["fingerprint"] = f"not computed: {type(exc).__name__}: {exc}"
    return report, files


def _validation_classification(spec: ModelSpec, fit: FitSpec, preds: Predictions | None) -> Any:
    """The evaluator's view of the validation predictions, so its checks run on them."""
    if preds is None or fit.labels is None or not fit.labels.is_single_label:
        return None
    y = label_indices(preds.y_true)
    if y is None:
        return None
    activation = "linear" if spec.outputs_logits else spec.output_activation
    proba = outputs_to_proba(preds.outputs, activation)
    try:
        return classify(y, proba=proba, labels=list(range(proba.shape[1])))
    except InputError as exc:
        _log.info("validation predictions not checked: %s", exc)
        return None


def _add_training_metrics(report: Report) -> None:
    for finding_id, key, metric in (
        ("overfitting", "gap", "train_val_accuracy_gap"),
        ("label_shift", "total_variation_distance", "label_shift_distance"),
    ):
        f = report.get(finding_id)
        value = f.evidence.get(key) if f is not None else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            report.metrics[metric] = float(value)


def _check_and_log(
    model: Any,
    history: Mapping[str, list[float]],
    call: _FitCall,
    config: _Config,
    run_id: str,
) -> Report:
    from mlflow_sanity.mlflow_log import log_report

    report, files = analyse(model, history, call, config)
    return log_report(run_id, report, files)


def _fingerprint_files(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> dict[str, bytes]:
    """``fingerprint_train.*``/``fingerprint_validation.*``: what later leakage checks
    (evaluator, ``validation_reuse``) compare against without the raw training data."""
    from mlflow_sanity import fingerprint

    files: dict[str, bytes] = {}
    for role, x, y in (("train", x_train, y_train), ("validation", x_val, y_val)):
        if x is not None:
            files.update(fingerprint.compute(x, y).to_files(role))
    return files

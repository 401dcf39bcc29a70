"""Installing the Keras hooks: ``autolog()`` wraps ``fit``, ``SanityCallback`` is the explicit form.

- ``autolog()`` wraps ``fit`` on the class in ``keras.Model.__mro__`` that defines it
  (the backend trainer). ``mlflow.keras.autolog()`` patches ``keras.Model.fit`` one level
  up, starts its run and calls down into this wrapper, so both log into the same run;
  ``mlflow.models.evaluate`` reverts and re-applies MLflow's patch, which leaves this one
  in place. Without MLflow autologging the wrapper uses the active run or starts one.
- ``SanityCallback`` for users who prefer explicit callbacks. It sees no data unless
  given ``validation_data=``/``training_data=``.

The checks run once, after training; during it only the probe callback
(``probes.ProbeCallback``: a few gradient probes on 256 rows, NaN watch on epoch logs, no
per-batch hooks) runs, added to a copy of the callback list. A failure inside
mlflow-sanity never breaks ``fit``: it becomes one ``SanityWarning``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from mlflow_sanity.adapters.keras import proofs
from mlflow_sanity.adapters.keras.analyse import (
    Begun,
    analyse_evaluate,
    begin_evaluate,
    returned_metrics,
)
from mlflow_sanity.adapters.keras.describe import sibling_callbacks
from mlflow_sanity.adapters.keras.guard import (
    EVALUATE_UNAFFECTED,
    Guard,
    SanityWarning,
    busy,
    inside,
)
from mlflow_sanity.adapters.keras.inputs import EvaluateCall, FitCall, _signature, unpack_pair
from mlflow_sanity.adapters.keras.memory import recall, remember_evaluated
from mlflow_sanity.adapters.keras.predict import Captured, evaluate_outputs
from mlflow_sanity.adapters.keras.probes import ProbeCallback, with_probe
from mlflow_sanity.adapters.keras.record import check_and_log
from mlflow_sanity.checks import CheckOptions, Thresholds
from mlflow_sanity.checks.cause_rule import relink_fit_causes
from mlflow_sanity.core.boundary import Caught, Origin, attempt, on_error
from mlflow_sanity.core.findings import Report
from mlflow_sanity.tracking import shim
from mlflow_sanity.tracking.publish import Target, publish
from mlflow_sanity.tracking.runs import OwnedRun, finish_run, open_fit_run, tracking_uri

_log = logging.getLogger(__name__)

__all__ = ["SanityCallback", "SanityWarning", "autolog"]


@dataclass
class _Hook:
    """One wrapped Keras method: the class that defines it and the method we replaced."""

    owner: type | None = None
    original: Callable[..., Any] | None = None


@dataclass
class _State:
    enabled: bool = False
    silent: bool = False
    config: CheckOptions = field(default_factory=CheckOptions)
    hooks: dict[str, _Hook] = field(default_factory=lambda: {"fit": _Hook(), "evaluate": _Hook()})


_STATE = _State()
# ``label_names``: names by class/tag index, or output name -> such names
LabelNamesArg = Sequence[str] | Mapping[str, Sequence[str]]


# -- public API --------------------------------------------------------------------------


def autolog(
    disable: bool = False,
    *,
    thresholds: Thresholds | None = None,
    disable_checks: Iterable[str] = (),
    silent: bool = False,
    prove_causes: str | bool | None = None,
    proof_budget: tuple[float, float] | None = None,
    label_names: LabelNamesArg | None = None,
) -> None:
    """Check every Keras ``fit`` and ``evaluate`` and log the verdict to the model's run.

    Works next to ``mlflow.keras.autolog()`` (same run) and without it (the active run,
    or a new one). ``thresholds`` overrides documented defaults per finding id
    (``{"overfitting": {"max_gap": 0.05}}``), ``disable_checks`` skips finding ids,
    ``silent=True`` keeps the console summary of flagged calls quiet, and
    ``disable=True`` removes the interception again. ``prove_causes`` (``"auto"``,
    ``True``, ``False``; default ``$MLFLOW_SANITY_PROVE_CAUSES`` or ``"auto"``) and
    ``proof_budget=(share of the fit's work, safety-stop seconds)`` (default
    ``(1.0, 300)``; work counted in steps, rows and parameters, never in seconds) decide
    when a cause is tested by experiment (``adapters/keras/proofs.py``). ``label_names``
    names the classes/tags (index i -> ``names[i]``; output name -> names for a
    multi-output model): a tagger with BIO/IOB names gets its entity F1
    (``sanity/entity_f1``). Validated here: a wrong value raises.
    """
    if disable:
        _STATE.enabled = False
        _uninstall()
        shim.reapply_mlflow_keras_autolog(keras.Model)
        return
    _STATE.config = CheckOptions.of(thresholds, disable_checks, label_names)
    proofs.configure(prove_causes, proof_budget)
    _STATE.silent = silent
    _install()
    _STATE.enabled = True
    shim.reapply_mlflow_keras_autolog(keras.Model)


class SanityCallback(keras.callbacks.Callback):
    """The explicit form of ``autolog()``: ``model.fit(..., callbacks=[SanityCallback()])``.

    A callback only sees the model and its history, so pass ``validation_data=(x, y)``
    (and ``training_data=(x, y)``) to get the validation-set checks, the metric
    recomputation and the label-shift test. With ``autolog()`` active, the callback
    receives everything ``fit`` was given and the wrapper steps aside, so a fit is never
    reported twice. The checks run once, in ``on_train_end``.

    Passed to ``model.evaluate(..., callbacks=[SanityCallback((x, y))])`` it checks that
    evaluation (the rows given as ``validation_data``; with ``autolog()`` active, the rows
    ``evaluate`` received), in ``on_test_end``; validation inside ``fit`` is left to fit.
    ``thresholds``, ``disable_checks`` and ``label_names`` are ``autolog()``'s options.
    """

    def __init__(
        self,
        validation_data: Any = None,
        training_data: Any = None,
        *,
        thresholds: Thresholds | None = None,
        disable_checks: Iterable[str] = (),
        label_names: LabelNamesArg | None = None,
    ) -> None:
        super().__init__()
        self.validation_data = validation_data
        self.training_data = training_data
        self._config = CheckOptions.of(thresholds, disable_checks, label_names)
        c = self._config
        self._explicit_config = bool(c.thresholds or c.disable or c.label_names)
        self._adopted: FitCall | None = None
        self._siblings: list[Any] = []
        self._probe: ProbeCallback | None = None
        self._training = False
        self._evaluate_handled = False

    def adopt(self, call: FitCall) -> None:
        """Called by the ``autolog`` wrapper: the callback reports, with full data access."""
        self._adopted = call

    def release(self) -> None:
        """Called by the ``autolog`` wrapper when the adopted fit raised: nothing to report."""
        self._adopted = None

    def leave_evaluate_to_wrapper(self) -> None:
        """Called by the ``autolog`` wrapper, which sees the data: it reports this evaluate."""
        self._evaluate_handled = True

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        handled, self._evaluate_handled = self._evaluate_handled, False
        if self._training or handled:  # fit's validation, or the autolog wrapper reports
            return
        guard = Guard("evaluate", EVALUATE_UNAFFECTED)
        with guard.ours():
            x, y = unpack_pair(self.validation_data)
            returned = {k: float(v) for k, v in (logs or {}).items()}
            _check_evaluate(self.model, EvaluateCall(x, y), returned, self._config)
        guard.close()

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._training = True
        self._started = time.perf_counter()
        # introspection is best effort; the report just lacks monitors
        self._siblings = attempt(lambda: sibling_callbacks(self), [], Origin.OUTSIDE)
        self._probe = None
        if self._adopted is None:  # alone: probe what training_data shows (the wrapper's
            x, y = unpack_pair(self.training_data)  # probe serves an adopted fit)
            self._probe = ProbeCallback(FitCall(x=x, y=y, epochs=(self.params or {}).get("epochs")))
            self._probe.set_model(self.model)
            self._probe.set_params(self.params)
            self._probe.on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._probe is not None:
            self._probe.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._training = False
        call, self._adopted = self._adopted, None
        guard = Guard()
        with guard.ours():
            self._report_fit(call)
        guard.close()

    def _report_fit(self, call: FitCall | None) -> None:
        self._restore_like_early_stopping()
        if call is None:
            call = self._call_from_arguments()
            call.probe = self._probe
        if call.seconds is None and getattr(self, "_started", None) is not None:
            call.seconds = time.perf_counter() - self._started
        config = self._config if self._explicit_config or call.config is None else call.config
        history = getattr(getattr(self.model, "history", None), "history", None) or {}
        run = open_fit_run()
        try:
            report = check_and_log(self.model, dict(history), call, config, run.run_id)
            _announce(report, run.run_id, "fit")
        finally:
            finish_run(run)

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

    def _call_from_arguments(self) -> FitCall:
        x, y = unpack_pair(self.training_data)
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
        return FitCall(
            x=x,
            y=y,
            validation_data=self.validation_data,
            callbacks=[cb for cb in self._siblings if cb is not self],
            epochs=params.get("epochs"),
            source="callback",
            note=note,
        )


# -- installing the wrapper ---------------------------------------------------------------


def _owner(method: str) -> type:
    """The class whose own ``method`` does the work (skipping MLflow's patch on keras.Model)."""
    for cls in keras.Model.__mro__:
        if method in cls.__dict__ and shim.MLFLOW_PATCH_MARK not in cls.__dict__:
            return cls
    raise RuntimeError(f"no class in keras.Model.__mro__ defines {method}")


def _install() -> None:
    for method, wrapper in (("fit", _fit_wrapper), ("evaluate", _evaluate_wrapper)):
        owner = _owner(method)
        current = owner.__dict__[method]
        if current is wrapper:
            continue
        _STATE.hooks[method] = _Hook(owner, current)
        functools.update_wrapper(wrapper, current)  # MLflow reads fit's signature
        setattr(owner, method, wrapper)


def _uninstall() -> None:
    for method, wrapper in (("fit", _fit_wrapper), ("evaluate", _evaluate_wrapper)):
        hook = _STATE.hooks[method]
        if hook.owner is not None and hook.owner.__dict__.get(method) is wrapper:
            setattr(hook.owner, method, hook.original)


def _original(method: str) -> Callable[..., Any]:
    original = _STATE.hooks[method].original
    if original is None:  # pragma: no cover - only if the module state was reset
        raise RuntimeError(f"mlflow-sanity {method} wrapper called without an original")
    return original


def _fit_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _original("fit")
    if not _STATE.enabled or busy():
        return original(self, *args, **kwargs)
    guard = Guard()  # at most one warning per fit
    call: FitCall | None = None
    run: OwnedRun | None = None
    adopter: SanityCallback | None = None
    with guard.ours():  # creating a run draws its name from `random`
        call = FitCall.from_arguments(original, self, args, kwargs, _STATE.config)
        args, kwargs = _with_probe(original, self, args, kwargs, call)
        adopter = next((cb for cb in call.callbacks if isinstance(cb, SanityCallback)), None)
        if adopter is not None:  # the explicit callback reports, with our data access
            adopter.adopt(call)
            call = None
        else:
            run = open_fit_run()
    if guard.failure is not None:
        call = None
    started = time.perf_counter()

    def failed(_: BaseException) -> None:  # the user's own error passes through, untouched
        if adopter is not None:
            adopter.release()
        if run is not None:
            with Caught(Origin.OUTSIDE, "ending the run"):  # the user's error is the one to see
                finish_run(run, "FAILED")

    with on_error(failed), inside():
        history = original(self, *args, **kwargs)
    if call is not None and run is not None:
        call.seconds = time.perf_counter() - started
        with guard.ours():
            hist = dict(getattr(history, "history", None) or {})
            with inside():  # the cause experiments' own fits are not the user's
                report = check_and_log(self, hist, call, _STATE.config, run.run_id)
            _announce(report, run.run_id, "fit")
    if run is not None:
        with guard.ours():
            finish_run(run)
    guard.close()
    return history


def _with_probe(
    original: Callable[..., Any],
    model: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    call: FitCall,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """fit's arguments with our probe callback added to a new callbacks list (the user's
    list is never mutated); unchanged when that is not possible."""
    with Caught(Origin.OURS, "adding the probes"):  # optional; fit runs as called
        bound = _signature(original).bind(model, *args, **kwargs)
        probe = ProbeCallback(call)
        callbacks = with_probe(bound.arguments.get("callbacks"), probe)
        if callbacks is None:
            return args, kwargs
        bound.arguments["callbacks"] = callbacks
        call.probe = probe
        return tuple(bound.args[1:]), dict(bound.kwargs)
    return args, kwargs


def _evaluate_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``model.evaluate``, then the checks on the evaluated rows; Keras' return value is
    passed through untouched. Evaluations inside ``fit`` (validation) are fit's business."""
    original = _original("evaluate")
    if not _STATE.enabled or busy():
        return original(self, *args, **kwargs)
    guard = Guard("evaluate", EVALUATE_UNAFFECTED)
    call: EvaluateCall | None = None
    begun: Begun | None = None
    with guard.ours():
        call = EvaluateCall.from_arguments(original, self, args, kwargs)
        for cb in call.callbacks:  # the wrapper, which sees the data, reports
            if isinstance(cb, SanityCallback):
                cb.leave_evaluate_to_wrapper()
        begun = begin_evaluate(call, _STATE.config, recall(self))  # beside Keras' pass

    def failed(_: BaseException) -> None:  # the user's error passes through
        if begun is not None:
            begun.close()

    with on_error(failed), inside(), _kept_outputs(self, call) as captured:
        result = original(self, *args, **kwargs)
    if call is not None:
        with guard.ours():
            returned = returned_metrics(self, result)
            _check_evaluate(self, call, returned, _STATE.config, captured, begun)
    if begun is not None:
        begun.close()  # joined already when the checks ran; a no-op then
    guard.close()
    return result


@contextlib.contextmanager
def _kept_outputs(model: Any, call: EvaluateCall | None) -> Iterator[Captured | None]:
    """Keras' own evaluate pass with its outputs kept for the checks (one forward pass
    instead of two, ``predict.evaluate_outputs``); nothing kept when that is not possible
    or fails to set up (Keras' evaluate then runs exactly as without us)."""
    captured = None
    with contextlib.ExitStack() as stack:
        if call is not None:
            with Caught(Origin.OURS, "keeping the evaluate outputs"):  # strict: raises
                captured = stack.enter_context(evaluate_outputs(model, call.x, call.steps))
        yield captured


def _check_evaluate(
    model: Any,
    call: EvaluateCall,
    returned: dict[str, float],
    config: CheckOptions,
    captured: Captured | None = None,
    begun: Begun | None = None,
) -> None:
    """Log to the run of the model's last fit (reopened: MLflow accepts writes to a
    finished run), else the active run, else a run of its own."""
    memory = recall(model)
    found = analyse_evaluate(model, call, returned, config, memory, captured, begun)
    if memory is not None:
        remember_evaluated(model, memory, found.fingerprints.get("evaluate"))
        if memory.causes:  # a symptom the fit did not show: its causes lead it here
            found.report.findings = relink_fit_causes(found.report.findings, memory.causes)
    if memory is not None and memory.run_id:
        target = Target(memory.run_id, memory.model_id)
        publish(found.report, found.files, target, what="evaluate", scope="evaluate")
        _announce(found.report, memory.run_id, "evaluate")
        return
    run = open_fit_run()
    try:
        publish(found.report, found.files, Target(run.run_id), what="evaluate", scope="evaluate")
        _announce(found.report, run.run_id, "evaluate")
    finally:
        finish_run(run)


def _announce(report: Report, run_id: str, what: str) -> None:
    """Say a flagged verdict where the number was printed (nothing for a clean pass)."""
    if _STATE.silent or not report.flagged:
        return
    from mlflow_sanity.report.console import announce

    announce(report, run_id, what, tracking_uri())

"""Running one seed: seeding, thread caps, calling ``train_fn``, turning its result into metrics.

This module runs inside worker processes (and in-process for ``executor="sequential"``).
It imports neither MLflow nor TensorFlow at module level: thread limits must be in the
environment before TensorFlow starts, and TensorFlow is only imported when the training
function uses Keras. Workers never talk to MLflow; they return a ``SeedOutcome`` and the
parent logs it, so parallel seeds cannot lock a SQLite store.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import pickle
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_sanity.core.boundary import Caught, Origin, UserModelError, describe
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.task import SINGLE_LABEL, Task, TaskDecision, decide_task

# Metrics of a (model, x, y) evaluation that describe the data or one run's own
# uncertainty rather than the model; aggregating them over seeds means nothing.
_NOT_AGGREGATED = {
    "n_rows",
    "n_classes",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "accuracy_vs_baseline_p_value",
}


@dataclass
class SeedOutcome:
    """What one seed produced: metrics, or the error that stopped it."""

    seed: int
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    start_ms: int = 0
    end_ms: int = 0
    train_s: float = 0.0  # seconds in train_fn and evaluating its model (not seeding)
    repeat: bool = False  # the built-in second run of a seed (determinism check)
    pid: int = 0
    ignored: list[str] = field(default_factory=list)  # returned keys that were not numbers
    task: str = ""  # what a (model, x, y) result was judged as (core.task); "" for a dict

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class WorkerConfig:
    """How to prepare a process for training; ``threads=None`` leaves thread pools alone."""

    deterministic: bool = False
    keras: bool | None = None  # None: seed Keras when it is imported by the training code
    threads: int | None = None


_STATE: dict[str, Any] = {}


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps BLAS/OpenMP and TensorFlow pools at ``threads`` per process."""
    n = str(threads)
    return {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n,
        "TF_NUM_INTEROP_THREADS": "1",
    }


def cap_threads(threads: int) -> None:
    """Cap thread pools so N workers on N cores do not oversubscribe the CPU."""
    os.environ.update(thread_env(threads))
    try:  # BLAS libraries already loaded (numpy came with the package import)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def uses_keras(flag: bool | None) -> bool:
    return flag if flag is not None else ("keras" in sys.modules or "tensorflow" in sys.modules)


def prepare_keras(threads: int | None, deterministic: bool) -> None:
    """Import Keras (and its TensorFlow backend) once, size thread pools, set determinism."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # runtime already started; the environment caps still apply
            pass
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def seed_everything(seed: int, cfg: WorkerConfig) -> None:
    """Seed Python, NumPy's global RNG and (when used) Keras/TensorFlow."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if uses_keras(cfg.keras):
        import keras

        keras.utils.set_random_seed(seed)
        if cfg.deterministic:
            prepare_keras(None, True)


def run_seed(
    fn: Callable[[int], Any], seed: int, cfg: WorkerConfig, repeat: bool = False
) -> SeedOutcome:
    """Seed, train, evaluate; an exception becomes a failed outcome instead of propagating."""
    out = SeedOutcome(seed=seed, repeat=repeat, pid=os.getpid(), start_ms=now_ms())
    t0 = None
    # the user's train_fn failed: a failed seed (its error is the seed's data), the rest go on
    with Caught(Origin.MODEL) as caught:
        seed_everything(seed, cfg)
        t0 = time.perf_counter()
        out.metrics, out.ignored, out.task = evaluated(fn(seed))
    if isinstance(caught.error, UserModelError):
        out.error = describe(caught.error)
        out.traceback = "".join(traceback.format_exception(caught.error.error))
    out.train_s = time.perf_counter() - t0 if t0 is not None else 0.0
    out.end_ms = now_ms()
    return out


def to_metrics(result: Any) -> tuple[dict[str, float], list[str]]:
    """A dict of numbers, or ``(model, x, y)`` evaluated with the core's metrics."""
    if isinstance(result, tuple) and len(result) == 3:
        return evaluate_model(*result), []
    if not isinstance(result, Mapping):
        raise TypeError(
            "train_fn must return a dict of metrics or a (model, x, y) tuple, "
            f"got {type(result).__name__}"
        )
    metrics: dict[str, float] = {}
    ignored: list[str] = []
    for key, value in result.items():
        number = _number(value)
        if isinstance(key, str) and number is not None:
            metrics[key] = number
        else:
            ignored.append(str(key))
    if not metrics:
        raise ValueError(f"train_fn returned no numeric metrics (keys: {sorted(map(str, result))})")
    return metrics, ignored


def evaluate_model(model: Any, x: Any, y: Any) -> dict[str, float]:
    """Accuracy-like metrics of a fitted classifier (scikit-learn or Keras) on ``x``, ``y``."""
    import numpy as np

    from mlflow_sanity.core.outputs import OutputFacts, classify_outputs
    from mlflow_sanity.core.predictions import output_activation

    y = np.asarray(y)
    if _is_keras(model):
        return _keras_metrics(model, x, y)
    task = model_task(model, y)
    if task.task is Task.REGRESSION:
        return _regression_metrics(model, x, y)
    if task.task not in SINGLE_LABEL:
        raise InputError(f"seed sweeps cannot judge this model yet: {task.task.value} ({task.why})")
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot targets
        y = y.argmax(axis=1)
    if hasattr(model, "predict_proba"):
        out = model.predict_proba(x)
        facts = OutputFacts(classes=getattr(model, "classes_", None))
    else:
        try:
            out = model.predict(x, verbose=0)
        except TypeError:  # predict without Keras' verbose argument
            out = model.predict(x)
        facts = OutputFacts(activation=output_activation(model))
    c = classify_outputs(y, out, facts)
    return {k: v for k, v in c.metrics.items() if k not in _NOT_AGGREGATED}


# A regressor's per-seed figures (R² and errors; the interval and the p-value are one run's).
_REGRESSION_AGGREGATED = ("r2", "mae", "rmse", "baseline_mae", "prediction_std")


def _regression_metrics(model: Any, x: Any, y: Any) -> dict[str, float]:
    """R², MAE, RMSE and the constant baseline's MAE of a fitted regressor on ``x``, ``y``
    (the baseline: the evaluation targets' median; a seed's training targets are not
    returned by ``train_fn``)."""
    from mlflow_sanity.core.regression import regress

    try:
        out = model.predict(x, verbose=0)
    except TypeError:  # predict without Keras' verbose argument
        out = model.predict(x)
    m = regress(y, out).metrics
    return {k: m[k] for k in _REGRESSION_AGGREGATED if k in m}


def _keras_metrics(model: Any, x: Any, y: Any) -> dict[str, float]:
    """A Keras model's metrics read the way autolog reads them (the task rule, then
    ``heads.evaluation_of``, a tagger's mask included), whatever its task."""
    from mlflow_sanity.adapters.keras.describe import describe_model
    from mlflow_sanity.adapters.keras.heads import evaluation_of, evidence_field, head_task
    from mlflow_sanity.adapters.keras.predict import predict_outputs
    from mlflow_sanity.adapters.keras.task_heads import with_mask
    from mlflow_sanity.core.keras_spec import Predictions

    spec = describe_model(model)
    task = head_task(spec, y)
    if not task.judged:
        raise InputError(f"seed sweeps cannot judge this model: {task.why}")
    preds = with_mask(model, x, Predictions(y, predict_outputs(model, x, None)))
    evidence = evaluation_of(task.task, spec, preds, None).get(evidence_field(task.task))
    if evidence is None:
        raise InputError(f"the seed's predictions could not be judged as {task.task.value}")
    keep = _REGRESSION_AGGREGATED if task.task is Task.REGRESSION else None
    return {
        k: float(v)
        for k, v in evidence.metrics.items()
        if (k in keep if keep else k not in _NOT_AGGREGATED)
    }


def _is_keras(model: Any) -> bool:
    return any(c.__module__.split(".")[0] == "keras" for c in type(model).__mro__)


def evaluated(result: Any) -> tuple[dict[str, float], list[str], str]:
    """``to_metrics`` plus the task a ``(model, x, y)`` result was judged as ("" for a
    dict of metrics: the user's numbers, whatever they measure)."""
    if isinstance(result, tuple) and len(result) == 3:
        task = model_task(result[0], result[2]).task.value
        return evaluate_model(*result), [], task
    return (*to_metrics(result), "")


def model_task(model: Any, y: Any) -> TaskDecision:
    """The task a seed's fitted model is judged on (``core.task.decide_task``): a
    scikit-learn estimator says its type, a Keras model its compiled loss and output
    (read as autolog reads them), anything else its targets."""
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    if isinstance(model, BaseEstimator) and (is_classifier(model) or is_regressor(model)):
        kind = "classifier" if is_classifier(model) else "regressor"
        return decide_task(model_type=kind, targets=y)
    if _is_keras(model):
        from mlflow_sanity.adapters.keras.describe import describe_model
        from mlflow_sanity.adapters.keras.heads import head_task

        return head_task(describe_model(model), y)
    return decide_task(targets=y)


# --- process-pool worker -------------------------------------------------------------


def init_worker(fn_bytes: bytes, cfg: WorkerConfig, started: Any) -> None:
    """Once per worker process: caps, then load ``train_fn`` (and TensorFlow) a single time.

    ``train_fn`` arrives pickled so that it is unpickled (importing its module, maybe
    TensorFlow) only after the thread caps are in the environment.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _STATE.clear()
    _STATE.update(cfg=cfg, started=started)
    if cfg.threads:
        cap_threads(cfg.threads)
    _load(fn_bytes, cfg)


def run_task(seed: int, repeat: bool) -> SeedOutcome:
    """One seed in a pool worker; announces the start so a dying worker can be blamed."""
    started = _STATE.get("started")
    if started is not None:
        started.put((seed, repeat))
    return _run_loaded(seed, repeat, _STATE["cfg"])


def ray_task(fn_bytes: bytes, seed: int, repeat: bool, cfg: WorkerConfig) -> SeedOutcome:
    """One seed in a Ray worker; the caps and the unpickled function are kept per process."""
    key = hashlib.sha1(fn_bytes).hexdigest()
    if _STATE.get("ray_key") != key:
        if cfg.threads and not _STATE.get("capped"):
            cap_threads(cfg.threads)
            _STATE["capped"] = True
        _STATE["ray_key"] = key
        _load(fn_bytes, cfg)
    return _run_loaded(seed, repeat, cfg)


def _load(fn_bytes: bytes, cfg: WorkerConfig) -> None:
    """Unpickle ``train_fn`` and prepare Keras, keeping any error for every task to report.

    Raising here instead would only surface as a "broken pool" without the cause.
    """
    _STATE.update(fn=None, error=None)
    with Caught(Origin.OUTSIDE) as caught:
        _STATE["fn"] = pickle.loads(fn_bytes)
        if uses_keras(cfg.keras):
            prepare_keras(cfg.threads, cfg.deterministic)
    if caught.error is not None:
        _STATE["error"] = _load_error(caught.error)


def _run_loaded(seed: int, repeat: bool, cfg: WorkerConfig) -> SeedOutcome:
    if _STATE["error"]:
        return SeedOutcome(seed=seed, repeat=repeat, pid=os.getpid(), error=_STATE["error"])
    return run_seed(_STATE["fn"], seed, cfg, repeat)


def _load_error(exc: BaseException) -> str:
    return (
        f"train_fn could not be loaded in the worker process ({type(exc).__name__}: {exc}). "
        "Define it at module level in an importable module (not a lambda, closure or "
        "notebook cell), or use executor='sequential'."
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if getattr(value, "ndim", None) == 0 or getattr(value, "shape", None) in ((), (1,)):
        try:  # numpy 0-d arrays, TensorFlow scalar tensors
            return float(value)
        except (TypeError, ValueError):
            return None
    return None

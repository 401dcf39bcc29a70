"""Causes proven by experiment: train the model again with the named fix, and without it.

When a fit's report flags a symptom (accuracy at the baseline, a collapse, a flat
accuracy curve) and a cause finding explains it (or the learning rate is far from its
optimizer's default: a suspect the loss curve alone could not pin down), one bounded
counterfactual per cause decides: two fresh copies of the model (``clone_model``, new
weights, an optimizer rebuilt from the compile config) are trained with the same seed,
batch size and epochs on the same capped training rows, one unchanged (the control) and
one with the remedy the finding names, and both are scored by balanced accuracy on the
validation rows (or a held-out slice of the training rows). ``core/proofs.py`` turns the
two scores into a verdict; the registry (``judge_causes``) grades the finding by it, so a
confirmed cause leads with ``Proven: with <remedy>, balanced accuracy 0.50 → 0.91 ...``
and one that did not help drops to ``info``.

Remedies: ``unscaled_inputs``: the inputs standardised with the training rows' mean and
standard deviation (what a ``Normalization`` layer adapted on them does);
``learning_rate``: the optimizer's default rate when the rate is 10-fold or more off it,
else 10x in the direction the finding says; ``dead_units``: ``he_normal`` kernels and
``leaky_relu`` for the ReLU layers; ``vanishing_gradients``: ``relu`` with ``he_normal``
for the saturating hidden layers; ``undertrained``: three times the epochs.

Budget (``autolog(prove_causes=..., proof_budget=(share, seconds))``, or the variables
``MLFLOW_SANITY_PROVE_CAUSES`` = ``auto``/``true``/``false``, ``MLFLOW_SANITY_PROOF_SHARE``,
``MLFLOW_SANITY_PROOF_SECONDS``): ``auto`` runs the experiments while their estimated
cost fits ``min(max(share x the fit's own time, MIN_SECONDS), seconds)`` (defaults: share
1.0, ``MIN_SECONDS`` 10 s so that a short stuck fit still gets its answer, cap 60 s),
``True`` runs them within ``seconds`` alone, ``False`` never. A healthy fit runs none (nothing
to explain), so its cost is unchanged.

Nothing of the user's is touched: the copies get their own weights and optimizer, the
data are read (capped copies), the user's callbacks are not passed, MLflow autologging
and the tool's own wrappers are off for these fits, and the global random state
(Python, NumPy, Keras, TensorFlow) is restored afterwards.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from mlflow_sanity.adapters.keras.inputs import FitCall, FitData, n_rows
from mlflow_sanity.adapters.keras.remedies import (
    REBALANCED,
    SEED,
    Remedy,
    Rows,
    as_float_arrays,
    balanced_weights,
    experiment_rows,
    remedy_for,
    standardiser,
)
from mlflow_sanity.adapters.rng import preserved_random_state
from mlflow_sanity.checks import REGISTRY, CheckOptions, Context, run_checks
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.findings import Finding, Report
from mlflow_sanity.core.keras_spec import label_indices
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.predictions import outputs_to_proba
from mlflow_sanity.core.proofs import Arm, Proof, not_run
from mlflow_sanity.core.task import SINGLE_LABEL

_log = logging.getLogger(__name__)

MODE_ENV = "MLFLOW_SANITY_PROVE_CAUSES"
SHARE_ENV = "MLFLOW_SANITY_PROOF_SHARE"
SECONDS_ENV = "MLFLOW_SANITY_PROOF_SECONDS"
MAX_EPOCHS = 5  # epochs per arm (undertrained's remedy: 3x)
MIN_SECONDS = 10.0  # "auto" allows at least this much (tracing alone costs ~1 s an arm)
_ARM_OVERHEAD_S = 1.0  # building, compiling and tracing one copy (measured on CPU)
PROVABLE = ("learning_rate", "unscaled_inputs", "dead_units", "vanishing_gradients", "undertrained")


@dataclass(frozen=True)
class ProofSettings:
    """When experiments run: ``mode`` ``"auto"``/True/False, and the budget."""

    mode: str | bool = "auto"
    share: float = 1.0
    seconds: float = 60.0

    @classmethod
    def of(
        cls, mode: str | bool | None = None, budget: tuple[float, float] | None = None
    ) -> ProofSettings:
        """From ``autolog``'s arguments, falling back on the environment, then defaults;
        invalid values raise at once (before any training)."""
        if mode is None:
            env = os.environ.get(MODE_ENV, "auto").strip().lower()
            mode = {"1": True, "true": True, "0": False, "false": False}.get(env, env)
        if mode not in ("auto", True, False):
            raise ValueError(f'prove_causes must be "auto", True or False, got {mode!r}')
        if budget is None:
            budget = (_env_float(SHARE_ENV, cls.share), _env_float(SECONDS_ENV, cls.seconds))
        share, seconds = (float(v) for v in budget)
        if not (share >= 0 and seconds >= 0):
            raise ValueError("proof_budget must be (share >= 0, seconds >= 0)")
        return cls(mode, share, seconds)

    def allowed(self, fit_seconds: float | None) -> float:
        """Seconds the experiments of one fit may take (0: none)."""
        if self.mode is False:
            return 0.0
        if self.mode is True:
            return self.seconds
        if fit_seconds is None:
            return 0.0  # the fit's own time unknown: auto cannot size the share
        return min(max(self.share * fit_seconds, MIN_SECONDS), self.seconds)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


SETTINGS = ProofSettings()


def configure(mode: str | bool | None = None, budget: tuple[float, float] | None = None) -> None:
    """Set how ``autolog`` proves causes (see the module docstring)."""
    global SETTINGS
    SETTINGS = ProofSettings.of(mode, budget)


# -- which causes to test ----------------------------------------------------------------


def candidates(report: Report, call: FitCall | None = None) -> list[Finding]:
    """Cause findings worth an experiment: a flagged cause that explains a flagged symptom,
    and a suspect learning rate (far from the default) next to a flagged symptom; and a
    collapse onto one class when the fit weighted nothing (``class_weight``/
    ``sample_weight``), where rebalancing is the fix to test."""
    flagged = {f.id for f in report.findings if f.severity.flagged}
    weighted = call is not None and (
        call.class_weight is not None or call.sample_weight is not None
    )
    out = []
    for f in report.findings:
        if f.id == REBALANCED and f.severity.flagged and not weighted:
            out.append(f)
            continue
        chk = REGISTRY.get(f.id)
        if f.id not in PROVABLE or chk is None:
            continue
        symptom = any(s in flagged for s in chk.explains)
        if (f.explains and f.severity.flagged) or (symptom and f.evidence.get("suspect")):
            out.append(f)
    return out


# -- training one arm ---------------------------------------------------------------------


class _Deadline(keras.callbacks.Callback):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.hit = False

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if time.perf_counter() > self.deadline:
            self.hit = True
            self.model.stop_training = True


def _copy(model: Any, remedy: Remedy | None) -> Any:
    """A fresh copy of ``model`` (new weights), compiled like it, with ``remedy`` applied."""
    clone_fn = None
    if remedy is not None and remedy.layer_config is not None:
        change = remedy.layer_config

        def clone_fn(layer: Any) -> Any:
            cfg = layer.get_config()
            new = change(dict(cfg))
            return type(layer).from_config(new if new is not None else cfg)

    # Both arms start from the same draw: initializers built without a seed (and dropout's
    # seed generators) draw from Python's `random`. Not keras.utils.set_random_seed: it
    # would also set TensorFlow's global seed and Keras' seed attribute, which the
    # user's program may read afterwards (`preserved_random_state` restores the rest).
    random.seed(SEED)
    np.random.seed(SEED)
    clone = keras.models.clone_model(model, clone_function=clone_fn)
    config = copy.deepcopy(model.get_compile_config())
    if remedy is not None and remedy.learning_rate is not None:
        config["optimizer"]["config"]["learning_rate"] = float(remedy.learning_rate)
    clone.compile_from_config(config)
    return clone


def train_arm(
    name: str,
    model: Any,
    rows: Rows,
    remedy: Remedy | None,
    epochs: int,
    batch_size: int,
    deadline: float,
    spec: Any,
) -> Arm:
    """Train one copy and score it; any failure is the arm's ``error``, never raised."""
    start = time.perf_counter()
    # a copy the user's model cannot train: the arm says so, fit stands
    with Caught(Origin.MODEL, f"experiment arm {name}") as caught:
        x_train, x_eval = as_float_arrays(rows.x_train), as_float_arrays(rows.x_eval)
        if remedy is not None and remedy.standardise:
            scale = standardiser(x_train)
            x_train, x_eval = scale(x_train), scale(x_eval)
        clone = _copy(model, remedy)
        stop = _Deadline(deadline)
        weights = balanced_weights(rows.y_train) if remedy is not None and remedy.balanced else None
        clone.fit(  # rows shuffled once, by a private generator: the same order in both arms
            x_train,
            rows.y_train,
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            shuffle=False,
            callbacks=[stop],
            class_weight=weights,
        )
        if stop.hit:
            return Arm(
                name, epochs=epochs, seconds=time.perf_counter() - start, error="time budget"
            )
        from mlflow_sanity.adapters.keras.predict import predict_outputs

        outputs = predict_outputs(clone, x_eval, batch_size)
        proba = outputs_to_proba(outputs, spec.output_activation, from_logits=spec.outputs_logits)
        y = label_indices(rows.y_eval)
        scored = classify(y, proba=proba, labels=list(range(proba.shape[1])))
        loss = clone.evaluate(x_eval, rows.y_eval, batch_size=batch_size, verbose=0)
        loss = float(np.asarray(loss[0] if isinstance(loss, (list, tuple)) else loss))
        ba = float(scored.metrics.get("balanced_accuracy", math.nan))
        return Arm(name, ba, loss, epochs, time.perf_counter() - start)
    exc = caught.raised
    _log.info("mlflow-sanity: experiment arm %s failed: %s", name, exc, exc_info=exc)
    return Arm(name, epochs=epochs, seconds=time.perf_counter() - start, error=str(exc)[:200])


# -- the whole step -----------------------------------------------------------------------


def _clonable(model: Any) -> str:
    """Why ``model`` cannot be copied for an experiment ('' when it can)."""
    with Caught(Origin.OUTSIDE) as caught:  # cannot serialise: no experiment, said so
        model.get_config()
        model.get_compile_config()
    if caught.raised is not None:
        name = type(caught.raised).__name__
        return f"the model cannot be cloned ({name}: a subclassed model without get_config)"
    if getattr(model, "optimizer", None) is None:
        return "the model is not compiled"
    return ""


def prove(
    model: Any,
    call: FitCall,
    data: FitData | None,
    ctx: Context | None,
    report: Report,
    config: CheckOptions,
    run_id: str | None,
    settings: ProofSettings | None = None,
) -> Report:
    """Run the experiments the report calls for, and re-judge its findings by them.

    Returns ``report`` untouched when there is nothing to prove (a healthy fit) or the
    budget allows nothing; otherwise a report whose cause findings carry
    ``evidence["proof"]``. The user's random state is restored whatever happens.
    """
    settings = settings or SETTINGS
    todo = candidates(report, call)
    if not todo or ctx is None or settings.mode is False:
        return report
    if ctx.task is not None and ctx.task not in SINGLE_LABEL:
        return report  # the arms are scored by balanced accuracy: single-label fits only
    # the report stands without its experiments (a bug of ours: strict re-raises)
    with Caught(Origin.OURS, "cause experiments") as caught, preserved_random_state():
        proofs = _run(model, call, data, ctx, todo, run_id, settings)
    if (exc := caught.error) is not None:
        _log.warning("mlflow-sanity: cause experiments failed: %s", exc, exc_info=exc)
        proofs = {
            f.id: not_run(f.id, f"the experiment failed ({type(exc).__name__})") for f in todo
        }
    if not proofs:
        return report
    ctx.proofs = proofs
    report.findings = run_checks(ctx, config, "autolog")
    report.inputs["proofs"] = {fid: p.get("verdict") for fid, p in proofs.items()}
    return report


def _run(
    model: Any,
    call: FitCall,
    data: FitData | None,
    ctx: Context,
    todo: list[Finding],
    run_id: str | None,
    settings: ProofSettings,
) -> dict[str, dict[str, Any]]:
    from mlflow_sanity.tracking.proofs import log_arms, quiet_autologging

    fit_seconds = getattr(call, "seconds", None)
    allowed = settings.allowed(fit_seconds)
    why = _clonable(model)
    rows = experiment_rows(data) if data is not None and not why else None
    if not why and rows is None:
        why = "the training rows could not be read (or hold no class labels)"
    if not why and allowed <= 0:
        why = "the fit's own time is unknown" if fit_seconds is None else "the time budget is 0"
    if why:
        return {f.id: not_run(f.id, why) for f in todo}
    spec = ctx.model
    epochs_run = len((ctx.history or {}).get("loss", [])) or 1
    epochs = max(1, min(epochs_run, MAX_EPOCHS))
    batch = int(call.batch_size or 32)
    n_train = n_rows(rows.x_train)
    per_epoch = None
    if fit_seconds and ctx.fit is not None and ctx.fit.n_train:
        per_epoch = fit_seconds / epochs_run * min(1.0, n_train / ctx.fit.n_train)
    start = time.perf_counter()
    deadline = start + allowed
    lr = spec.learning_rate if spec is not None else None

    def estimate(e: int) -> float:
        return _ARM_OVERHEAD_S + (per_epoch or 0.0) * e

    out: dict[str, dict[str, Any]] = {}
    control: Arm | None = None
    with quiet_autologging():
        for f in todo:
            remedy = remedy_for(f, model, lr)
            if remedy is None:
                out[f.id] = not_run(f.id, "no remedy the experiment can apply")
                continue
            r_epochs = epochs * remedy.epochs_factor
            cost = estimate(r_epochs) + (0 if control is not None else estimate(epochs))
            left = deadline - time.perf_counter()
            if cost > left:
                out[f.id] = not_run(
                    f.id,
                    f"the time budget ({allowed:.1f} s, {max(left, 0):.1f} s left) is too "
                    f"small for it (estimated {cost:.1f} s; see proof_budget)",
                )
                continue
            if control is None:
                control = train_arm("control", model, rows, None, epochs, batch, deadline, spec)
            remedied = train_arm("remedy", model, rows, remedy, r_epochs, batch, deadline, spec)
            proof = Proof(
                f.id,
                remedy.text,
                control,
                remedied,
                n_train,
                len(rows.y_eval),
                rows.eval_on,
            )
            runs, note = log_arms(run_id, f.id, _arm_records(proof, batch))
            out[f.id] = proof.with_runs(runs, note).to_dict()
    return out


def _arm_records(proof: Proof, batch: int) -> list[tuple[str, dict[str, str], dict[str, float]]]:
    records = []
    for arm in (proof.control, proof.remedied):
        params = {
            "remedy": "none (control)" if arm is proof.control else proof.remedy,
            "epochs": str(arm.epochs),
            "batch_size": str(batch),
            "train_rows": str(proof.train_rows),
            "eval_rows": str(proof.eval_rows),
            "eval_on": proof.eval_on,
            "seed": str(SEED),
        }
        metrics = {
            k: v
            for k, v in (("balanced_accuracy", arm.balanced_accuracy), ("loss", arm.loss))
            if v is not None and math.isfinite(v)
        }
        metrics["seconds"] = round(arm.seconds, 3)
        records.append((arm.name, params, metrics))
    return records

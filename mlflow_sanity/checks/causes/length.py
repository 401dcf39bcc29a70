"""``undertrained``: training stopped while the loss was still falling, or too few updates."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.checks.causes.common import _raw
from mlflow_sanity.checks.keras_semantics import accuracy_key, rounded
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    FitSpec,
)
from mlflow_sanity.core.task import ALL_TASKS

# -- undertrained -------------------------------------------------------------------------


def _final_accuracy(ctx: Context) -> float | None:
    key = accuracy_key(ctx.history or {}, ctx.model)
    if key is None:
        return None
    for k in (f"val_{key}", key):
        values = _raw(ctx.history, k)
        if values is not None and np.isfinite(values[-1]):
            return float(values[-1])
    return None


@check(
    "undertrained",
    tasks=ALL_TASKS,
    flags=(
        "fewer than `min_updates` optimizer steps (epochs × steps per epoch), or training "
        "stopped (no EarlyStopping) while the validation (else training) loss still fell ≥ "
        "`steep_drop` per epoch over the last `window` epochs, at ≥ half its average rate: "
        "warn while the final (validation, else training) accuracy is below `done_accuracy` "
        "or unknown, info below `perfect_accuracy`, nothing above (separable data); a "
        "still-falling loss alone warns only while the accuracy is within `baseline_margin` "
        "of the majority baseline, else it is info (advice)"
    ),
    requires=["fit", "history"],
    reads=["model", "eval"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Train longer (more epochs, EarlyStopping(patience=...) to stop when it is "
    "done) or with a larger learning rate / smaller batches for more updates.",
    min_updates=50,
    steep_drop=0.05,
    window=3,
    done_accuracy=0.95,
    perfect_accuracy=0.99,
    baseline_margin=0.02,
)
def undertrained(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Too few weight updates, or training stopped while the loss was still falling steeply.

    Steep: the (validation, else training) loss fell by ``steep_drop`` or more per epoch
    over the last ``window`` epochs, at least half its average rate over the whole fit.
    Either sign is a warning while the final (validation, else training) accuracy is below
    ``done_accuracy`` (or unknown), ``info`` up to ``perfect_accuracy``, and nothing above
    it: more epochs cannot fix a model that is already right (separable data). A steep
    loss alone warns only while the accuracy is within ``baseline_margin`` of the majority
    baseline (the stuck number it explains); otherwise it is ``info``: advice, not alarm.
    """
    m = _measure_training(ctx)
    if m is None:
        return None
    evidence, acc, curve = dict(m.evidence), m.accuracy, m.curve
    severity = (
        Severity.WARN
        if acc is None or reaches(acc, t["done_accuracy"], below=True)
        else grade(acc, info=t["perfect_accuracy"], below=True)
    )
    done = f" (accuracy already {acc:.3f})" if severity is Severity.INFO else ""
    if m.updates is not None and reaches(m.updates, t["min_updates"], below=True):
        text = (
            f"Only {m.updates} weight updates ({m.epochs} epoch(s) x {m.steps or '?'} steps) "
            f"for a model with {m.params or 'unknown'} parameters: training stopped long "
            f"before the model could fit{done}."
        )
        if severity is not Severity.PASSED:
            return Outcome(severity, text, evidence, f"only {m.updates} weight updates happened")
    window = int(t["window"])
    slopes = _log_slopes(curve, window)
    if slopes is None:
        return passed("Enough weight updates.", evidence)
    recent, overall = slopes
    evidence |= {"recent_drop_per_epoch": rounded(recent), "mean_drop_per_epoch": rounded(overall)}
    if (
        not m.stopped
        and severity is not Severity.PASSED
        and reaches(recent, t["steep_drop"], inclusive=True)
        and reaches(recent, 0.5 * overall, inclusive=True)
    ):
        text = (
            f"Training stopped while {m.curve_key} was still falling "
            f"{1 - math.exp(-recent):.0%} per epoch over the last {window} epochs "
            f"(to {curve[-1]:.4g})"
            + (f" with accuracy {acc:.3f}" if acc is not None else "")
            + ": the model is undertrained; more epochs would help."
        )
        # A falling loss alone is advice; it is a warning when the accuracy has not left
        # the majority baseline yet (then it explains a stuck number).
        baseline = ctx.eval.metrics.get("majority_baseline_accuracy") if ctx.eval else None
        stuck = acc is None or baseline is None or acc <= baseline + t["baseline_margin"]
        if not stuck:
            severity = Severity.INFO
        return Outcome(severity, text, evidence, "training stopped while the loss was falling")
    return passed(f"{m.curve_key} had levelled off when training stopped.", evidence)


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class TrainingLength:
    """What ``undertrained`` grades: how much training happened and where the loss went."""

    epochs: int
    updates: int | None  # optimizer steps (probed, else steps per epoch x epochs)
    steps: int | None  # steps per epoch
    params: int | None  # trainable parameters
    curve_key: str  # "val_loss" when the fit validated, else "loss"
    curve: np.ndarray | None  # that loss per epoch
    accuracy: float | None  # the final (validation, else training) accuracy
    stopped: bool  # a callback (EarlyStopping) ended the fit
    evidence: Mapping[str, Any]


def _measure_training(ctx: Context) -> TrainingLength | None:
    """Count the updates and read the loss curve; None when the loss is missing or not
    finite (``non_finite_loss``'s business)."""
    fit: FitSpec = ctx.fit
    probes = fit.probes
    loss = _raw(ctx.history, "loss")
    if loss is None or not np.isfinite(loss).all():
        return None
    updates = probes.updates if probes is not None else None
    steps = probes.steps_per_epoch if probes is not None else None
    if updates is None and steps:
        updates = steps * len(loss)
    curve_key = "val_loss" if _raw(ctx.history, "val_loss") is not None else "loss"
    acc = _final_accuracy(ctx)
    params = probes.n_params if probes is not None else None
    evidence: dict[str, Any] = {
        "epochs": len(loss),
        "steps_per_epoch": steps,
        "updates": updates,
        "trainable_params": params,
        "curve": curve_key,
        "final_accuracy": rounded(acc) if acc is not None else None,
    }
    stopped = any(cb.stopped_epoch is not None for cb in fit.callbacks)
    curve = _raw(ctx.history, curve_key)
    return TrainingLength(
        len(loss), updates, steps, params, curve_key, curve, acc, stopped, evidence
    )


def _log_slopes(curve: np.ndarray | None, window: int) -> tuple[float, float] | None:
    """The mean log drop per epoch over the last ``window`` epochs and over the whole
    curve; None when the curve is too short, not finite or not positive."""
    if curve is None or not np.isfinite(curve).all() or len(curve) <= window or curve.min() <= 0:
        return None
    logs = np.log(curve)
    recent = float((logs[-window - 1] - logs[-1]) / window)  # mean log drop per epoch
    overall = float((logs[0] - logs[-1]) / (len(curve) - 1))
    return recent, overall

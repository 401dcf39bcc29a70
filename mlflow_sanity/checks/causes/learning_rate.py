"""``learning_rate``: a rate too high (divergence, dead units) or too low (no progress)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.checks.causes.common import _g, _probes, _raw
from mlflow_sanity.checks.keras_semantics import rounded
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, passed, reaches
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    ModelSpec,
    ProbeSpec,
)
from mlflow_sanity.core.task import ALL_TASKS

# -- learning_rate ------------------------------------------------------------------------


def _loss_trajectory(loss: np.ndarray) -> dict[str, Any]:
    finite = loss[np.isfinite(loss)]
    steps = np.diff(finite)
    rises = steps > 0
    rel = steps / np.maximum(np.abs(finite[:-1]), 1e-12) if finite.size > 1 else steps
    return {
        "loss_first": rounded(finite[0], 6) if finite.size else None,
        "loss_min": rounded(finite.min(), 6) if finite.size else None,
        "loss_last": rounded(finite[-1], 6) if finite.size else None,
        "epochs": int(loss.size),
        "non_finite_epochs": int((~np.isfinite(loss)).sum()),
        "rise_share": rounded(rises.mean()) if steps.size else 0.0,
        "largest_rise": rounded(float(rel.max())) if steps.size else 0.0,
    }


def _weight_growth(probes: ProbeSpec | None) -> float | None:
    norms = [p.weight_norm for p in probes.gradients] if probes is not None else []
    norms = [n for n in norms if n is not None]
    if len(norms) < 2 or not norms[0] or norms[0] <= 0 or not math.isfinite(norms[-1]):
        return None  # NaN weights are non_finite_loss's
    return float(norms[-1] / norms[0])


def _initial_loss(probes: ProbeSpec | None) -> float | None:
    """The probe batch's loss before the first update, when it was measured."""
    if probes is None or not probes.gradients or probes.gradients[0].epoch != 0:
        return None
    loss = probes.gradients[0].loss
    return loss if loss is not None and math.isfinite(loss) and loss > 0 else None


def _last_layer_grad(probes: ProbeSpec | None) -> float | None:
    if probes is None or not probes.gradients or not probes.gradients[-1].layer_norms:
        return None
    return float(probes.gradients[-1].layer_norms[-1][1])


@check(
    "learning_rate",
    tasks=ALL_TASKS,
    flags=(
        "warn, too high: the loss diverged (last ≥ `diverge_ratio` × first epoch), grew then "
        "became NaN, jumped in the first epoch to ≥ `jump_ratio` × its value before training "
        "and never got `min_progress` below it, oscillates (rose in ≥ `oscillation_share` of "
        "the epochs by ≥ `min_rise`, no net progress), or the kernels grew ≥ "
        "`max_weight_growth`-fold, or the rate is ≥ `suspect_factor`-fold above the "
        "optimizer's default and ≥ `dead_share` of a ReLU layer's units died; warn, too low: "
        "the loss fell < `min_drop` over ≥ "
        "`min_epochs` epochs while the last layer's gradient norm is ≥ `healthy_grad`; "
        "evidence: the learning rate at start and end (schedules resolved), loss trajectory "
        "statistics, a suggested rate (÷10 / ×10); info: a rate ≥ `suspect_factor`-fold off "
        "the optimizer's default (a suspect the experiment tests when accuracy is stuck)"
    ),
    requires=["fit", "history"],
    reads=["model"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Too high: lower the learning rate 10x (Adam: 1e-3, SGD: 0.01-0.1) or add "
    "clipnorm=1.0 / a decaying schedule; too low: raise it 10x (Adam's default 1e-3) or "
    "train longer.",
    diverge_ratio=1.5,
    jump_ratio=1.2,
    min_progress=0.05,
    oscillation_share=0.4,
    min_rise=0.1,
    max_weight_growth=100.0,
    min_drop=0.01,
    healthy_grad=1e-3,
    min_epochs=3,
    suspect_factor=10.0,
    dead_share=0.5,
)
def learning_rate(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The learning rate is too high (loss diverges or oscillates, weights blow up) or too
    low (the loss barely moves although the gradients are healthy).

    "Jumped": the first epoch's mean loss is ``jump_ratio`` times the probe batch's loss
    before training and the fit never got ``min_progress`` below that start (SGD at 5.0
    kills the ReLUs in a few steps and leaves the loss at the class prior).
    """
    m = _measure_rate(ctx)
    if m is None:
        return None
    evidence, lr, finite = dict(m.evidence), m.lr, m.finite
    high = _too_high(m, t)
    if high:
        evidence["direction"] = "high"  # what the remedy reads: divide, or multiply
        fix = f"; try {lr / 10:.3g}" if lr else ""
        text = f"The {m.label} is too high: {'; '.join(high)}{fix}."
        return Outcome(Severity.WARN, text, evidence, f"the {m.label} is too high")
    if not finite.size:
        return passed(
            "No finite loss to judge the learning rate on (see non_finite_loss).", evidence
        )
    evidence["loss_drop"] = rounded(m.drop) if m.drop is not None else None
    custom = ctx.model.custom_loop if ctx.model is not None else ""
    if custom and _too_low(m, t):  # a flat logged loss says nothing about a custom loop
        text = (
            f"The logged loss barely moved, but {custom}: the history may not hold its "
            "training loss, so the learning rate is not judged on it."
        )
        return Outcome(Severity.INFO, text, {**evidence, "custom_loop": custom})
    if _too_low(m, t):
        evidence["direction"] = "low"
        fix = f"; try {lr * 10:.3g}" if lr else ""
        text = (
            f"The {m.label} is too low: the loss moved {m.drop:.2%} in {finite.size} epochs "
            f"({finite[0]:.4g} to {finite[-1]:.4g}) although the gradients are healthy "
            f"(last layer gradient norm {m.grad:.3g}){fix}."
        )
        return Outcome(Severity.WARN, text, evidence, f"the {m.label} is too low")
    suspect = _far_from_default(lr, m.default, t["suspect_factor"])
    if suspect is not None:
        evidence["default_learning_rate"] = m.default
        evidence["suspect"] = suspect
        evidence["direction"] = "low" if lr is not None and lr < m.default else "high"
        whose = f"{m.optimizer}'s" if m.optimizer else "the optimizer's"
        text = (
            f"The {m.label} is {suspect} {whose} default ({_g(m.default)}); the loss curve "
            "alone does not show a problem, so it is a suspect only if accuracy is stuck "
            "(an experiment with the default rate decides)."
        )
        return Outcome(Severity.INFO, text, evidence, f"the {m.label} is {suspect} the default")
    return passed(f"The {m.label} moves the loss steadily.", evidence)


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class RateMeasurement:
    """What ``learning_rate`` grades: the rate, the loss curve and the probes' readings."""

    lr: float | None  # at the start of training (schedules resolved), else as compiled
    optimizer: str | None
    default: float | None  # the optimizer class's own default rate
    finite: np.ndarray  # the finite per-epoch losses, in order
    trajectory: Mapping[str, Any]  # ``_loss_trajectory`` of the whole curve
    start: float | None  # the probe batch's loss before the first update
    growth: float | None  # last / first weight norm over the probes
    dead: tuple[str, float] | None  # the ReLU layer with the largest dead share, and it
    grad: float | None  # the last layer's gradient norm at the last probe
    drop: float | None  # how far the loss fell below its first epoch, relative
    evidence: Mapping[str, Any]

    @property
    def label(self) -> str:
        """ "learning rate 0.5 (SGD)": how messages name the rate."""
        lr_text = f"learning rate {_g(self.lr)}"
        return lr_text + (f" ({self.optimizer})" if self.optimizer else "")


def _measure_rate(ctx: Context) -> RateMeasurement | None:
    """Read the rate, the loss curve and the probes; None without a loss history."""
    loss = _raw(ctx.history, "loss")
    if loss is None:
        return None
    probes = _probes(ctx)
    spec: ModelSpec | None = ctx.model
    lr = probes.learning_rate_start if probes is not None else None
    lr = lr if lr is not None else (spec.learning_rate if spec is not None else None)
    optimizer = spec.optimizer if spec is not None else None
    traj = _loss_trajectory(loss)
    growth = _weight_growth(probes)
    grad = _last_layer_grad(probes)
    start = _initial_loss(probes)
    finite = loss[np.isfinite(loss)]
    drop = (finite[0] - finite.min()) / abs(finite[0]) if finite.size and finite[0] else None
    evidence: dict[str, Any] = {
        "learning_rate": lr,
        "learning_rate_end": probes.learning_rate_end if probes is not None else None,
        "optimizer": optimizer,
        **traj,
        "weight_norm_growth": rounded(growth) if growth is not None else None,
        "last_layer_gradient_norm": rounded(grad, 8) if grad is not None else None,
        "loss_before_training": rounded(start, 6) if start is not None else None,
    }
    default = spec.default_learning_rate if spec is not None else None
    dead_layers = [d for d in (probes.dead_units or ()) if d.units] if probes else []
    worst = max(dead_layers, key=lambda d: d.share, default=None)
    dead = (worst.layer, worst.share) if worst is not None else None
    return RateMeasurement(
        lr, optimizer, default, finite, traj, start, growth, dead, grad, drop, evidence
    )


def _too_high(m: RateMeasurement, t: Mapping[str, float]) -> list[str]:
    """The signs of a rate that is too high, in words (empty: none)."""
    finite, start, traj = m.finite, m.start, m.trajectory
    high = []
    if traj["non_finite_epochs"] and finite.size >= 2 and finite.max() > finite[0]:
        high.append("the loss grew and then became NaN/inf")
    elif finite.size >= 2 and reaches(finite[-1], finite[0] * t["diverge_ratio"]):
        high.append(f"the loss diverged from {finite[0]:.4g} to {finite[-1]:.4g}")
    elif (
        start
        and finite.size
        and reaches(finite[0], start * t["jump_ratio"], inclusive=True)
        and not reaches(finite[-1], start * (1 - t["min_progress"]), below=True)
    ):
        high.append(
            f"the loss jumped from {start:.4g} before training to {finite[0]:.4g} in the "
            f"first epoch and never came back below its start (ending at {finite[-1]:.4g})"
        )
    if (
        finite.size > t["min_epochs"]
        and reaches(traj["rise_share"], t["oscillation_share"], inclusive=True)
        and reaches(traj["largest_rise"], t["min_rise"], inclusive=True)
        and not reaches(finite[-1], finite[0] * (1 - t["min_rise"]), below=True)
    ):
        high.append(
            f"the loss oscillates (it rose in {traj['rise_share']:.0%} of the epochs) "
            "without coming down"
        )
    if m.growth is not None and reaches(m.growth, t["max_weight_growth"], inclusive=True):
        high.append(f"the weights grew {m.growth:.3g}-fold")
    far = _far_from_default(m.lr, m.default, t["suspect_factor"])
    if not high and far and "above" in far and m.dead is not None:
        layer, share = m.dead
        if reaches(share, t["dead_share"], inclusive=True):
            high.append(
                f"it is {far} the optimizer's default and {share:.0%} of the ReLU units of "
                f"{layer} died (large steps push their inputs below zero for good)"
            )
    return high


def _too_low(m: RateMeasurement, t: Mapping[str, float]) -> bool:
    """The loss barely moved over enough epochs although the last layer's gradient is healthy."""
    return (
        m.drop is not None
        and m.finite.size >= t["min_epochs"]
        and reaches(m.drop, t["min_drop"], below=True)
        and m.grad is not None
        and reaches(m.grad, t["healthy_grad"], inclusive=True)
    )


def _far_from_default(lr: float | None, default: float | None, factor: float) -> str | None:
    """ "N-fold above/below the default" when ``lr`` is ``factor`` or more times off the
    optimizer's own default rate (None when either is unknown)."""
    if not lr or not default or lr <= 0 or default <= 0:
        return None
    ratio = lr / default
    if reaches(ratio, factor, inclusive=True):
        return f"{ratio:,.0f}-fold above"
    if reaches(ratio, 1 / factor, below=True, inclusive=True):
        return f"{1 / ratio:,.0f}-fold below"
    return None

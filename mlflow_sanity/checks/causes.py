"""Why is accuracy stuck? Checks that name a training cause and its fix.

They read what the Keras adapter measured during and after ``fit`` as plain data
(``FitSpec.probes``, ``FitSpec.inputs``, ``FitSpec.label_values``: see
``core/keras_spec.py``) and the per-epoch history; no Keras here. Each one ``explains``
the symptom findings (``accuracy_at_baseline``, ``loss_accuracy_divergence``,
``prediction_collapse``): when both flag, the report leads with the cause. The five
that only name a risk (``unscaled_inputs``, ``learning_rate``, ``dead_units``,
``vanishing_gradients``, ``undertrained``) are ``needs_symptom``: without a flagged
symptom the registry's one rule (``judge_causes``) makes them ``info``; an experiment
(``adapters/keras/proofs.py``) can confirm or refute them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.checks.keras_semantics import accuracy_key, rounded
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    BINARY_CE,
    CATEGORICAL_CE,
    SPARSE_CE,
    ColumnStats,
    FitSpec,
    GradientProbe,
    ModelSpec,
    ProbeSpec,
)
from mlflow_sanity.core.task import ALL_TASKS, CLASS_TASKS

_SCALE_SENSITIVE = (
    *("Dense", "EinsumDense", "Conv", "SeparableConv", "DepthwiseConv"),
    *("LSTM", "GRU", "SimpleRNN"),
)


def _probes(ctx: Context) -> ProbeSpec | None:
    fit: FitSpec | None = ctx.fit
    return fit.probes if fit is not None else None


def _probe_failed(probes: ProbeSpec) -> Outcome | None:
    """An ``info`` finding when a probe raised inside fit (caught: training went on)."""
    if not probes.errors:
        return None
    return Outcome(
        Severity.INFO,
        f"The training probe failed ({probes.errors[0]}); training itself was not affected.",
        {"probe_errors": list(probes.errors)},
    )


def _raw(history: Mapping[str, Sequence[float]] | None, key: str) -> np.ndarray | None:
    values = (history or {}).get(key)
    if values is None or len(values) == 0:
        return None
    return np.asarray(values, dtype=np.float64)


def _g(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g}"


# -- unscaled_inputs ----------------------------------------------------------------------


def _column_evidence(c: ColumnStats) -> dict[str, Any]:
    return {
        "column": c.name,
        "min": rounded(c.min),
        "max": rounded(c.max),
        "std": rounded(c.std),
        "scale": rounded(c.scale),
    }


@check(
    "unscaled_inputs",
    tasks=ALL_TASKS,
    flags=(
        "numeric inputs reach a Dense/Conv/RNN first layer with no "
        "`Normalization`/`Rescaling`/batch-normalisation layer in front: warn when a "
        "column's (image: channel's) root-mean-square scale ≥ `warn_scale` or the ranges "
        "(max − min) of the non-constant columns differ ≥ `warn_ratio`-fold, info at the "
        "`info_*` limits; evidence: per-column min/max/std of (a sample of ≤ 10,000) "
        "training rows, the 5 worst columns; the fix names `Rescaling(1/255)` for pixel "
        "values, else an adapted `Normalization`"
    ),
    requires=["fit"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Scale the inputs inside the model: keras.layers.Rescaling(1/255) as the first "
    "layer for pixel values 0-255, or norm = keras.layers.Normalization(); "
    "norm.adapt(x_train) for tabular columns (statistics from the training rows only).",
    info_scale=10.0,
    warn_scale=50.0,
    info_ratio=100.0,
    warn_ratio=1000.0,
)
def unscaled_inputs(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Numeric inputs far from unit scale reach a dense/conv network with no normalising layer.

    A column's scale is its root mean square (1 when standardised, ~0.5 for [0, 1]); the
    worst column's scale and the ratio between the largest and smallest non-zero ranges
    (max - min) are graded.
    """
    fit: FitSpec = ctx.fit
    stats = fit.inputs
    if stats is None or not stats.columns or not stats.first_layer:
        return None
    if not stats.first_layer.startswith(_SCALE_SENSITIVE):
        return None
    cols = sorted(stats.columns, key=lambda c: -c.scale)
    varying = [c.spread for c in cols if c.spread > 0]
    worst_scale = cols[0].scale
    ratio = max(varying) / min(varying) if varying and min(varying) > 0 else 1.0
    what = "column" if stats.kind == "columns" else "channel"
    evidence: dict[str, Any] = {
        "kind": stats.kind,
        f"n_{what}s": len(cols),
        "rows_measured_of": stats.n_rows,
        "first_layer": stats.first_layer,
        "normalizing_layer": stats.normalizer,
        "max_scale": rounded(worst_scale),
        "range_ratio": rounded(ratio, 1),
        f"worst_{what}s": [_column_evidence(c) for c in cols[:5]],
    }
    if stats.normalizer:
        return passed(f"The model normalises its inputs ({stats.normalizer}).", evidence)
    severity = max(
        grade(worst_scale, warn=t["warn_scale"], info=t["info_scale"], inclusive=True),
        grade(ratio, warn=t["warn_ratio"], info=t["info_ratio"], inclusive=True),
        key=lambda s: s.rank,
    )
    if severity is Severity.PASSED:
        return passed(
            f"Inputs are near unit scale (largest {what} scale {worst_scale:.3g}).", evidence
        )
    c = cols[0]
    pixels = c.min >= 0 and 100 <= max(x.max for x in cols) <= 256
    text = (
        f"The inputs reach the first {stats.first_layer} layer unscaled: {what} {c.name} "
        f"spans {c.min:.4g}..{c.max:.4g} (std {c.std:.3g})"
    )
    if reaches(ratio, t["info_ratio"], inclusive=True):
        text += f", and {what} ranges differ {ratio:.3g}-fold"
    fix = (
        "add keras.layers.Rescaling(1/255) as the first layer"
        if pixels
        else "add a keras.layers.Normalization layer adapted on the training data"
    )
    text += (
        "; no Normalization/Rescaling layer in front. Large inputs saturate or kill units "
        f"and force a tiny learning rate: {fix}."
    )
    because = f"the inputs are unscaled (values up to {max(abs(c.min), abs(c.max)):.4g})"
    return Outcome(severity, text, evidence, because)


# -- non_finite_loss ----------------------------------------------------------------------


@check(
    "non_finite_loss",
    tasks=ALL_TASKS,
    flags=(
        "fail: the loss, a metric (history) or a layer's weights became NaN/inf: which "
        "epoch, which layer; `TerminateOnNaN` stopping is named"
    ),
    requires=["fit"],
    reads=["history"],
    explains=SYMPTOMS,
    remedy="Lower the learning rate (10x) or clip gradients (optimizer clipnorm=1.0), scale "
    "the inputs, and compute cross-entropy on logits (linear output + from_logits=True) "
    "instead of log(0) on saturated probabilities.",
)
def non_finite_loss(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The loss, a metric or the weights became NaN/inf (``TerminateOnNaN`` stopping counts)."""
    probes = _probes(ctx)
    first: dict[str, int] = {}
    for key, values in (ctx.history or {}).items():
        arr = np.asarray(values, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            first[key] = int(bad[0]) + 1
    layers: dict[str, int] = {}
    if probes is not None:
        for e in probes.non_finite:
            if e.where == "weights":
                layers.setdefault(e.name, e.epoch)
            else:
                first.setdefault(e.name, e.epoch)
    if probes is None and not ctx.history:
        return None
    evidence: dict[str, Any] = {"non_finite_since_epoch": first, "non_finite_weights": layers}
    if probes is not None:
        evidence["terminated_on_nan"] = probes.terminated_on_nan
    if not first and not layers:
        return passed("Loss, metrics and weights stayed finite.", evidence)
    parts = []
    if first:
        key = "loss" if "loss" in first else min(first, key=first.get)
        others = sorted(k for k in first if k != key)
        parts.append(
            f"{key} became NaN/inf at epoch {first[key]}"
            + (f" ({', '.join(others)} too)" if others else "")
        )
    if layers:
        names = ", ".join(f"{n} (epoch {e})" for n, e in layers.items())
        parts.append(f"the weights of {names} are NaN/inf")
    text = "; ".join(parts)
    if probes is not None and probes.terminated_on_nan:
        text += "; TerminateOnNaN stopped training"
    text += (
        ": every later number is meaningless (typically a learning rate that is too high, "
        "unscaled inputs, or log(0) in the loss)."
    )
    return Outcome(Severity.FAIL, text[:1].upper() + text[1:], evidence, "the loss became NaN")


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


# -- dead_units ---------------------------------------------------------------------------


@check(
    "dead_units",
    tasks=ALL_TASKS,
    flags=(
        "share of a ReLU layer's units (channels) that output 0 for every row of the probe "
        "batch at train end (dying ReLU), per layer, layers with ≥ `min_units` units: fail "
        "when a whole layer is dead (that alarms on its own), warn ≥ `warn_share`, info ≥ "
        "`info_share`"
    ),
    requires=["fit"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Lower the learning rate, scale the inputs, initialise with he_normal, or use "
    "LeakyReLU/ELU or BatchNormalization before the activation.",
    info_share=0.25,
    warn_share=0.5,
    min_units=4,
)
def dead_units(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """A large share of a ReLU layer's units output 0 for every probe row (dying ReLU)."""
    probes = _probes(ctx)
    if probes is None:
        return None
    if probes.dead_units is None:
        return _probe_failed(probes)
    if not probes.dead_units:
        return None
    layers = [d for d in probes.dead_units if reaches(d.units, t["min_units"], inclusive=True)]
    evidence: dict[str, Any] = {
        "probe_rows": probes.probe_rows,
        "dead_per_layer": {d.layer: f"{d.dead}/{d.units}" for d in probes.dead_units},
    }
    if not layers:
        return passed("No ReLU layer wide enough to judge.", evidence)
    worst = max(layers, key=lambda d: d.share)
    evidence["worst_layer"], evidence["worst_share"] = worst.layer, rounded(worst.share)
    text = (
        f"Layer {worst.layer}: {worst.dead} of {worst.units} ReLU units ({worst.share:.0%}) "
        f"output 0 for all {probes.probe_rows} probe rows at the end of training; they get "
        "no gradient and no longer learn (dying ReLU)"
    )
    if worst.share >= 1.0:
        text += (
            ": everything after this layer sees a constant, so every row gets the same prediction."
        )
        because = f"every unit of {worst.layer} is dead"
        return Outcome(Severity.FAIL, text, evidence, because, alone=True)
    severity = grade(worst.share, warn=t["warn_share"], info=t["info_share"], inclusive=True)
    if severity is Severity.PASSED:
        return passed(f"At most {worst.share:.0%} dead ReLU units per layer.", evidence)
    because = f"{worst.share:.0%} of the ReLU units of {worst.layer} are dead"
    return Outcome(severity, text + ".", evidence, because)


# -- vanishing_gradients ------------------------------------------------------------------


def _ratio(probe: GradientProbe, floor: float) -> float | None:
    norms = [n for _, n in probe.layer_norms]
    if len(norms) < 2 or not all(math.isfinite(n) for n in norms) or norms[-1] <= floor:
        return None
    return norms[0] / norms[-1]


@check(
    "vanishing_gradients",
    tasks=ALL_TASKS,
    flags=(
        "median (over the probes) ratio of the first kernel layer's gradient norm to the "
        "last's, models with ≥ `min_layers` kernel layers: warn ≤ `warn_ratio` (vanishing), "
        'info ≤ `info_ratio`, warn ≥ `explode_ratio` (exploding); info "not implemented for '
        'backend X" off TensorFlow'
    ),
    requires=["fit"],
    explains=SYMPTOMS,
    needs_symptom=True,
    remedy="Use ReLU-family hidden activations with he_normal initialisation, add "
    "BatchNormalization, residual connections or fewer layers; for exploding gradients "
    "also clip (clipnorm=1.0) and lower the learning rate.",
    warn_ratio=1e-3,
    info_ratio=1e-2,
    explode_ratio=1e3,
    min_layers=3,
    min_last_norm=1e-12,
)
def vanishing_gradients(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The first layer's gradient norm is orders of magnitude below (or above) the last's.

    Judged on the median first/last ratio over the probed moments (before training, a
    few epochs, the end), on one probe batch of training rows.
    """
    probes = _probes(ctx)
    if probes is None:
        return None
    if probes.gradients_note and not probes.gradients:
        return Outcome(Severity.INFO, f"Gradients not probed: {probes.gradients_note}.")
    if not probes.gradients:
        return _probe_failed(probes)
    usable = [p for p in probes.gradients if len(p.layer_norms) >= t["min_layers"]]
    ratios = [(p, r) for p in usable if (r := _ratio(p, t["min_last_norm"])) is not None]
    if not ratios:
        return None
    median = float(np.median([r for _, r in ratios]))
    first, last = ratios[0][0].layer_norms[0][0], ratios[0][0].layer_norms[-1][0]
    evidence: dict[str, Any] = {
        "first_layer": first,
        "last_layer": last,
        "median_ratio": float(f"{median:.3g}"),
        "ratio_per_probe": {f"epoch {p.epoch}": float(f"{r:.3g}") for p, r in ratios},
        "norms_per_probe": {
            f"epoch {p.epoch}": {n: float(f"{v:.3g}") for n, v in p.layer_norms} for p, _ in ratios
        },
    }
    n = len(ratios[0][0].layer_norms)
    if reaches(median, t["explode_ratio"], inclusive=True):
        text = (
            f"Exploding gradients: the first layer's ({first}) gradient norm is {median:.3g} "
            f"times the last layer's ({last}) across {n} layers."
        )
        return Outcome(Severity.WARN, text, evidence, "the gradients explode")
    severity = grade(median, warn=t["warn_ratio"], info=t["info_ratio"], below=True, inclusive=True)
    if severity is Severity.PASSED:
        return passed(f"First/last layer gradient norm ratio {median:.3g}.", evidence)
    text = (
        f"Vanishing gradients: the first layer's ({first}) gradient norm is {median:.3g} "
        f"of the last layer's ({last}) across {n} layers, so the early layers hardly learn "
        "(saturating activations such as a deep sigmoid/tanh stack)."
    )
    return Outcome(severity, text, evidence, "the gradients vanish before the first layers")


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


# -- invalid_labels -----------------------------------------------------------------------


@check(
    "invalid_labels",
    tasks=CLASS_TASKS,
    flags=(
        "fail: non-integer class ids for sparse CE (labels divided by 255), ids outside "
        "0..units−1, values outside [0, 1] for binary CE, one-hot width ≠ output units, one "
        "class in the training labels; warn: multi-hot targets with a softmax and "
        "categorical CE"
    ),
    requires=["fit", "model"],
    explains=SYMPTOMS,
    remedy="Give sparse_categorical_crossentropy integer class ids 0..k-1 (not scaled "
    "labels), binary_crossentropy 0/1 labels, categorical_crossentropy one-hot rows as wide "
    "as the output; multi-label targets need a sigmoid output with binary_crossentropy; "
    "check the training split holds every class.",
)
def invalid_labels(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Labels that cannot fit the loss (non-integer sparse ids, values outside [0, 1],
    multi-hot with softmax, one-hot width != output units, a single training class)."""
    m = _measure_labels(ctx)
    if m is None:
        return None
    if m.fails:
        text = "; ".join(m.fails) + "."
        return Outcome(
            Severity.FAIL, text[:1].upper() + text[1:], m.evidence, "the labels do not fit the loss"
        )
    if m.warns:
        text = "; ".join(m.warns) + "."
        return Outcome(
            Severity.WARN,
            text[:1].upper() + text[1:],
            m.evidence,
            "the labels do not fit the output",
        )
    return passed("The labels fit the loss.", m.evidence)


@dataclass(frozen=True)
class LabelFit:
    """What ``invalid_labels`` grades: each way the labels cannot fit, by how bad it is."""

    fails: tuple[str, ...]  # the loss cannot learn from these labels
    warns: tuple[str, ...]  # the output cannot express them
    evidence: Mapping[str, Any]


def _measure_labels(ctx: Context) -> LabelFit | None:
    """Compare the training label values with the loss and the output layer; None for
    a multi-output model, a non-classifier or labels that were not read."""
    fit: FitSpec = ctx.fit
    spec: ModelSpec = ctx.model
    lv = fit.label_values
    if lv is None or spec.n_outputs != 1 or not spec.is_classifier:
        return None
    loss, units = spec.loss, spec.output_units
    evidence: dict[str, Any] = {
        "loss": loss,
        "output_units": units,
        "label_min": rounded(lv.min),
        "label_max": rounded(lv.max),
        "label_width": lv.width,
        "integer": lv.integer,
        "distinct_values": lv.n_distinct,
    }
    fails, warns = [], []
    if loss in SPARSE_CE and lv.width == 1:
        if not lv.integer:
            fails.append(
                f"sparse categorical cross-entropy got non-integer labels ({lv.min:.4g} to "
                f"{lv.max:.4g}): Keras truncates them to integer class ids, so most rows "
                "become class 0 (labels divided by 255?)"
            )
        elif lv.min < 0 or (units and lv.max >= units):
            fails.append(
                f"class ids {lv.min:.0f}..{lv.max:.0f} do not fit {units} output units "
                f"(0..{(units or 1) - 1})"
            )
    if loss in BINARY_CE and (lv.min < 0 or lv.max > 1):
        fails.append(
            f"binary cross-entropy needs labels in [0, 1], got {lv.min:.4g} to {lv.max:.4g}"
        )
    if loss in CATEGORICAL_CE and lv.width > 1:
        if units and lv.width != units:
            fails.append(f"one-hot labels are {lv.width} wide but the output has {units} units")
        if (
            lv.max_row_sum is not None
            and lv.max_row_sum > 1 + 1e-6
            and spec.output_activation == "softmax"
        ):
            warns.append(
                "multi-hot targets (rows with several 1s) with a softmax output: softmax makes "
                "the classes compete, so it cannot say yes to several"
            )
    labels = fit.labels
    if labels is not None and labels.is_single_label and len(labels.train_counts) == 1:
        only = next(iter(labels.train_counts))
        fails.append(f"the training labels hold one class ({only}): there is nothing to learn")
    return LabelFit(tuple(fails), tuple(warns), evidence)

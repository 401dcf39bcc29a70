"""``dead_units`` and ``vanishing_gradients``: what the probes saw inside the network."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_sanity.checks.causes.common import _probe_failed, _probes
from mlflow_sanity.checks.keras_semantics import rounded
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import GradientProbe
from mlflow_sanity.core.task import ALL_TASKS

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

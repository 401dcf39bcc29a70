"""``non_finite_loss``: the loss, a metric or the weights became NaN/inf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_sanity.checks.causes.common import _probes
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, passed
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.task import ALL_TASKS

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

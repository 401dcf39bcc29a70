"""What the predictions say about a claim the history makes.

A Keras history is a log of what ``fit`` reported, not a measurement of the model: a
custom ``train_step`` that does not update Keras' loss tracker logs a loss of 0 at every
epoch while the model learns. A history-based verdict ("nothing was learned", "stuck at
the baseline", "collapsed") is checked here against the model's own predictions (the
evaluated, validation or training rows) where both exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlflow_sanity.checks.keras_semantics import History, series
from mlflow_sanity.checks.registry import Context
from mlflow_sanity.core.metrics import Classification


@dataclass(frozen=True)
class Learned:
    """The predictions against the majority baseline (one-sided binomial test)."""

    accuracy: float
    baseline: float
    p_value: float
    n: int
    where: str

    def shows(self, alpha: float) -> bool:
        """Accuracy significantly above the baseline: the model learned something."""
        return self.accuracy > self.baseline and self.p_value < alpha

    @property
    def text(self) -> str:
        return (
            f"the model's predictions on {self.n} {self.where} rows score accuracy "
            f"{self.accuracy:.3f} against a majority baseline of {self.baseline:.3f} "
            f"(binomial p={self.p_value:.2g})"
        )

    def evidence(self) -> dict[str, float | int | str]:
        return {
            "predicted_accuracy": round(self.accuracy, 4),
            "majority_baseline": round(self.baseline, 4),
            "baseline_p_value": float(self.p_value),
            "predicted_on": self.where,
        }


def predictions_vs_baseline(ctx: Context) -> Learned | None:
    """The evaluated predictions' accuracy vs the majority baseline (a multi-label head's
    pooled cells); None without predictions or a baseline to compare."""
    c: Classification | None = ctx.eval
    if c is None and ctx.multilabel is not None:
        c = ctx.multilabel.pooled
    if c is None or "accuracy_vs_baseline_p_value" not in c.metrics:
        return None
    m = c.metrics
    where = {"evaluation": "evaluated", "validation": "validation", "training": "training"}
    return Learned(
        m["accuracy"],
        m["majority_baseline_accuracy"],
        m["accuracy_vs_baseline_p_value"],
        c.n,
        where.get(ctx.eval_on, ctx.eval_on),
    )


def flat_loss(history: History, zero: float) -> str | None:
    """How the logged training loss says nothing: "0 at every one of the 5 epochs" or
    "constant at 0.6931 over 5 epochs"; None when it moves (or has fewer than 2 epochs)."""
    loss = series(history, "loss")
    if loss is None:
        return None
    if float(np.abs(loss).max()) <= zero:
        return f"0 at every one of the {len(loss)} epochs"
    if len(loss) >= 2 and float(loss.max() - loss.min()) <= zero:
        return f"constant at {loss[0]:.4g} over {len(loss)} epochs"
    return None

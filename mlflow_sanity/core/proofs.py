"""Causes proven by experiment: the comparison of a control and a remedied training run.

A cause finding names a fix; the experiment trains two fresh copies of the model on the
same (capped) training rows with the same seed and budget, one unchanged (the control)
and one with the fix (the remedy), and compares them on the same held-out rows by
balanced accuracy. Pure: the adapter (``adapters/keras/proofs.py``) trains the arms and
hands the numbers here; the verdict and its wording are decided in one place.

A remedy is ``confirmed`` when its balanced accuracy beats the control's by more than
the noise of two estimates on ``n`` rows (two standard errors of the difference) and
at least ``MIN_GAIN``; ``not_confirmed`` when it does not; ``inconclusive`` when an arm
could not be trained or evaluated (an error, the time budget, a non-finite score).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

CONFIRMED = "confirmed"
NOT_CONFIRMED = "not_confirmed"
INCONCLUSIVE = "inconclusive"
METRIC = "balanced_accuracy"
MIN_GAIN = 0.02  # below two points a "better" arm is not worth a warning, however many rows


@dataclass(frozen=True)
class Arm:
    """One training run of the experiment, scored on the held-out rows."""

    name: str  # "control" or "remedy"
    balanced_accuracy: float | None = None
    loss: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    error: str = ""  # why it has no score (an exception, the time budget)

    @property
    def scored(self) -> bool:
        return self.balanced_accuracy is not None and math.isfinite(self.balanced_accuracy)


@dataclass(frozen=True)
class Proof:
    """The experiment behind one cause finding (``evidence["proof"]``)."""

    finding: str
    remedy: str
    control: Arm
    remedied: Arm
    train_rows: int = 0
    eval_rows: int = 0
    eval_on: str = "validation rows"
    runs: tuple[str, ...] = ()
    note: str = ""
    verdict: str = field(init=False)
    gain: float | None = field(init=False)

    def __post_init__(self) -> None:
        verdict, gain = judge(self.control, self.remedied, self.eval_rows)
        object.__setattr__(self, "verdict", verdict)
        object.__setattr__(self, "gain", gain)

    @property
    def summary(self) -> str:
        """``with <remedy>, balanced accuracy 0.50 → 0.91 in 5 epochs (control 0.50)``."""
        c, r = self.control, self.remedied
        if not (c.scored and r.scored):
            why = r.error or c.error or "no score"
            return f"with {self.remedy}, no comparison ({why})"
        return (
            f"with {self.remedy}, balanced accuracy {c.balanced_accuracy:.2f} → "
            f"{r.balanced_accuracy:.2f} in {r.epochs} epochs (control "
            f"{c.balanced_accuracy:.2f}, {self.train_rows} training rows, {self.eval_rows} "
            f"{self.eval_on})"
        )

    def with_runs(self, runs: tuple[str, ...], note: str = "") -> Proof:
        return Proof(
            self.finding,
            self.remedy,
            self.control,
            self.remedied,
            self.train_rows,
            self.eval_rows,
            self.eval_on,
            runs,
            note or self.note,
        )

    def to_dict(self) -> dict[str, Any]:
        """The contract form (``evidence["proof"]``, docs/architecture.md "Public contract"):
        remedy, metric, control, remedied, verdict, runs; plus the losses, gain and sizes."""
        data: dict[str, Any] = {
            "remedy": self.remedy,
            "metric": METRIC,
            "control": _round(self.control.balanced_accuracy),
            "remedied": _round(self.remedied.balanced_accuracy),
            "verdict": self.verdict,
            "runs": list(self.runs),
            "gain": _round(self.gain),
            "control_loss": _round(self.control.loss),
            "remedied_loss": _round(self.remedied.loss),
            "epochs": {"control": self.control.epochs, "remedy": self.remedied.epochs},
            "seconds": round(self.control.seconds + self.remedied.seconds, 2),
            "train_rows": self.train_rows,
            "eval_rows": self.eval_rows,
            "eval_on": self.eval_on,
            "summary": self.summary,
        }
        if self.note:
            data["note"] = self.note
        return data


def not_run(finding: str, why: str) -> dict[str, Any]:
    """The ``evidence["proof"]`` of an experiment that could not run (say why)."""
    return {
        "remedy": None,
        "metric": METRIC,
        "control": None,
        "remedied": None,
        "verdict": INCONCLUSIVE,
        "runs": [],
        "summary": f"not run: {why}",
        "finding": finding,
    }


def margin(control: float, remedied: float, n: int) -> float:
    """The gain that counts: two standard errors of the difference of two proportions
    measured on ``n`` rows each, and at least ``MIN_GAIN``."""
    if n <= 0:
        return math.inf
    se = math.sqrt(max(control * (1 - control), 0.0) / n + max(remedied * (1 - remedied), 0.0) / n)
    return max(MIN_GAIN, 2 * se)


def judge(control: Arm, remedied: Arm, n: int) -> tuple[str, float | None]:
    """``(verdict, gain)`` of one experiment (see the module docstring)."""
    if not (control.scored and remedied.scored):
        return INCONCLUSIVE, None
    c, r = float(control.balanced_accuracy), float(remedied.balanced_accuracy)  # type: ignore[arg-type]
    gain = r - c
    return (CONFIRMED if gain > margin(c, r, n) else NOT_CONFIRMED), gain


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 4)

"""How much experimenting a fit may cost, counted in work, never in seconds.

Whether an experiment runs, and how many seeds it gets, is decided from the fit itself:
its optimizer steps, its batch size and its parameter count, so the same program gets
the same experiments on an idle and on a busy machine. One *unit* is one optimizer step
of a small model; a step of a model whose parameters times batch rows exceed
``PARAM_ROWS_PER_UNIT`` costs proportionally more, and building, compiling and tracing a
copy costs ``ARM_UNITS``. ``"auto"`` allows ``share`` times the fit's own units, at least
``MIN_UNITS`` (a short stuck fit still gets its answer) and at most ``MAX_UNITS``;
``True`` allows ``MAX_UNITS``; ``False`` nothing. The seconds of ``proof_budget`` are
only a safety stop: an arm the clock stops makes its experiment ``inconclusive
(stopped)``, never a refutation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

MODE_ENV = "MLFLOW_SANITY_PROVE_CAUSES"
SHARE_ENV = "MLFLOW_SANITY_PROOF_SHARE"
SECONDS_ENV = "MLFLOW_SANITY_PROOF_SECONDS"
PARAM_ROWS_PER_UNIT = 2_000_000  # parameters x batch rows one unit stands for
ARM_UNITS = 400  # building, compiling and tracing one copy, in units
MIN_UNITS = 8_000  # "auto" allows at least this much (about 20 arms of a small model)
MAX_UNITS = 60_000  # and at most this much


def step_units(params: int, batch: int) -> float:
    """The cost of one optimizer step in units."""
    return 1.0 + max(params, 0) * max(batch, 1) / PARAM_ROWS_PER_UNIT


def arm_units(steps: int, params: int, batch: int) -> float:
    """One copy built and trained for ``steps`` steps."""
    return ARM_UNITS + steps * step_units(params, batch)


def steps_of(rows: int, batch: int, epochs: int) -> int:
    return math.ceil(max(rows, 0) / max(batch, 1)) * max(epochs, 0)


@dataclass(frozen=True)
class ProofSettings:
    """When experiments run: ``mode`` ``"auto"``/True/False, the share of the fit's work
    they may add, and the safety stop in seconds."""

    mode: str | bool = "auto"
    share: float = 1.0
    seconds: float = 300.0

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

    def allowed(self, fit_units: float | None) -> float:
        """Units the experiments of one fit may cost (0: none)."""
        if self.mode is False or self.seconds <= 0:
            return 0.0
        if self.mode is True:
            return float(MAX_UNITS)
        if fit_units is None:
            return 0.0  # the fit's own work unknown: auto cannot size the share
        return min(max(self.share * fit_units, MIN_UNITS), MAX_UNITS)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default

"""What a model's ``fit`` leaves for its later ``evaluate`` calls in this process.

Keyed by the model object (weakly: a model that is garbage-collected takes its memory
with it) and holding fingerprints and statistics only, never the user's arrays, so the
leakage checks of ``model.evaluate`` can tell training, validation and test rows apart,
and see the union of every split the model saw (a scaler fitted before a 3-way split).
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, replace
from typing import Any

from mlflow_sanity.core.findings import Finding
from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.regression import TargetStats
from mlflow_sanity.core.splits import ModelSelection


@dataclass(frozen=True)
class FitMemory:
    run_id: str | None
    train: Fingerprint | None = None
    validation: Fingerprint | None = None
    model_selection: ModelSelection | None = None
    model_id: str | None = None  # the LoggedModel mlflow.keras.autolog() made for the fit
    validation_accuracy: float | None = None  # the fit's accuracy on its validation rows
    # The rows of each later model.evaluate, fingerprinted in the training columns.
    evaluated: tuple[tuple[str, Fingerprint], ...] = ()
    # The fit's cause findings (not passed): a later evaluate that shows their symptom
    # re-links them (``checks.cause_rule.relink_fit_causes``).
    causes: tuple[Finding, ...] = ()
    # A regressor's training targets (their median is the baseline of a later evaluate).
    targets: TargetStats | None = None

    def seen_splits(self) -> dict[str, Fingerprint]:
        """The splits other than the training rows: validation data, then each evaluate."""
        seen = {"validation": self.validation} if self.validation is not None else {}
        return {**seen, **dict(self.evaluated)}


MAX_EVALUATED = 8  # evaluate calls remembered per fit (the latest)


def remember_evaluated(model: Any, memory: FitMemory, fp: Fingerprint | None) -> None:
    """Add one ``model.evaluate``'s rows (their fingerprint) to the fit's memory; rows the
    memory already holds count once."""
    if fp is None or memory.run_id is None:
        return
    digest = fp.digest
    if any(other.digest == digest for _, other in memory.evaluated):
        return
    name = f"model.evaluate #{len(memory.evaluated) + 1}"
    evaluated = (*memory.evaluated, (name, fp))[-MAX_EVALUATED:]
    remember(model, replace(memory, evaluated=evaluated))


_MEMORY: weakref.WeakKeyDictionary[Any, FitMemory] = weakref.WeakKeyDictionary()


def remember(model: Any, memory: FitMemory) -> None:
    with contextlib.suppress(TypeError):  # not weakly referenceable: nothing remembered
        _MEMORY[model] = memory


def recall(model: Any) -> FitMemory | None:
    try:
        return _MEMORY.get(model)
    except TypeError:
        return None

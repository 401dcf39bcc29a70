"""What a model's ``fit`` leaves for its later ``evaluate`` calls in this process.

Keyed by the model object (weakly: a model that is garbage-collected takes its memory
with it) and holding fingerprints and statistics only, never the user's arrays, so the
leakage checks of ``model.evaluate`` can tell training, validation and test rows apart.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from typing import Any

from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.splits import ModelSelection


@dataclass(frozen=True)
class FitMemory:
    run_id: str | None
    train: Fingerprint | None = None
    validation: Fingerprint | None = None
    model_selection: ModelSelection | None = None
    model_id: str | None = None  # the LoggedModel mlflow.keras.autolog() made for the fit
    validation_accuracy: float | None = None  # the fit's accuracy on its validation rows


_MEMORY: weakref.WeakKeyDictionary[Any, FitMemory] = weakref.WeakKeyDictionary()


def remember(model: Any, memory: FitMemory) -> None:
    with contextlib.suppress(TypeError):  # not weakly referenceable: nothing remembered
        _MEMORY[model] = memory


def recall(model: Any) -> FitMemory | None:
    try:
        return _MEMORY.get(model)
    except TypeError:
        return None

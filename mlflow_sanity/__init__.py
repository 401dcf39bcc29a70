"""mlflow-sanity: catch the accuracy numbers that lie, where Keras + MLflow users look.

Public API only. Names are imported on first use: ``import mlflow_sanity`` loads neither
TensorFlow nor MLflow nor scikit-learn, which keeps seed-runner worker processes (they
import this package first) quick to start. ``autolog`` and ``SanityCallback`` come from
the Keras adapter and import TensorFlow when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "check_predictions": "mlflow_sanity.core",
    "Finding": "mlflow_sanity.findings",
    "Report": "mlflow_sanity.findings",
    "Severity": "mlflow_sanity.findings",
    "InputError": "mlflow_sanity.metrics",
    "seed_sweep": "mlflow_sanity.seeds",
    "SweepSummary": "mlflow_sanity.seeds",
    "autolog": "mlflow_sanity.keras_autolog",
    "SanityCallback": "mlflow_sanity.keras_autolog",
    "SanityWarning": "mlflow_sanity.keras_autolog",
}

__all__ = [
    "Finding",
    "InputError",
    "Report",
    "SanityCallback",
    "SanityWarning",
    "Severity",
    "SweepSummary",
    "__version__",
    "autolog",
    "check_predictions",
    "seed_sweep",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from mlflow_sanity.core import check_predictions
    from mlflow_sanity.findings import Finding, Report, Severity
    from mlflow_sanity.keras_autolog import SanityCallback, SanityWarning, autolog
    from mlflow_sanity.metrics import InputError
    from mlflow_sanity.seeds import SweepSummary, seed_sweep


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlflow_sanity' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

"""mlflow-sanity: catch the accuracy numbers that lie, where Keras + MLflow users look.

Public API only. Names are imported on first use: ``import mlflow_sanity`` loads neither
TensorFlow nor MLflow nor scikit-learn, which keeps seed-runner worker processes (they
import this package first) quick to start. ``autolog`` and ``SanityCallback`` come from
the Keras adapter and import TensorFlow when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlflow_sanity._version import __version__

_LAZY = {
    "check_predictions": "mlflow_sanity.pipeline",
    "check_regression": "mlflow_sanity.pipeline",
    "Finding": "mlflow_sanity.core.findings",
    "Report": "mlflow_sanity.core.findings",
    "Severity": "mlflow_sanity.core.findings",
    "InputError": "mlflow_sanity.core.metrics",
    "seed_sweep": "mlflow_sanity.adapters.seeds.sweep",
    "SweepSummary": "mlflow_sanity.adapters.seeds.sweep",
    "autolog": "mlflow_sanity.adapters.keras",
    "SanityCallback": "mlflow_sanity.adapters.keras",
    "SanityWarning": "mlflow_sanity.adapters.keras",
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
    "check_regression",
    "seed_sweep",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from mlflow_sanity.adapters.keras import SanityCallback, SanityWarning, autolog
    from mlflow_sanity.adapters.seeds.sweep import SweepSummary, seed_sweep
    from mlflow_sanity.core.findings import Finding, Report, Severity
    from mlflow_sanity.core.metrics import InputError
    from mlflow_sanity.pipeline import check_predictions, check_regression


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlflow_sanity' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

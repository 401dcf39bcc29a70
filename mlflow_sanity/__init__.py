"""mlflow-sanity: catch the accuracy numbers that lie, where Keras + MLflow users look.

Public API only; importing this package never imports TensorFlow.
"""

__version__ = "0.1.0"

from mlflow_sanity.core import check_predictions
from mlflow_sanity.findings import Finding, Report, Severity
from mlflow_sanity.metrics import InputError

__all__ = [
    "Finding",
    "InputError",
    "Report",
    "Severity",
    "SweepSummary",
    "__version__",
    "check_predictions",
    "seed_sweep",
]

_LAZY = {"seed_sweep": "mlflow_sanity.seeds", "SweepSummary": "mlflow_sanity.seeds"}


def __getattr__(name: str):
    """Import MLflow-side APIs on first use, so that ``import mlflow_sanity`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlflow_sanity' has no attribute {name!r}")

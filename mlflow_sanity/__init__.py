"""mlflow-sanity: catch the accuracy numbers that lie, where Keras + MLflow users look.

Public API only; importing this package never imports TensorFlow. ``autolog`` and
``SanityCallback`` live in the Keras adapter ``mlflow_sanity.autolog`` and are imported
on first use. ``mlflow_sanity.autolog`` is that module, made callable: calling it is
``mlflow_sanity.autolog.autolog(...)``.
"""

from typing import Any

__version__ = "0.1.0"

from mlflow_sanity.core import check_predictions
from mlflow_sanity.findings import Finding, Report, Severity
from mlflow_sanity.metrics import InputError

__all__ = [
    "Finding",
    "InputError",
    "Report",
    "SanityCallback",
    "Severity",
    "__version__",
    "autolog",
    "check_predictions",
]

_KERAS_API = ("autolog", "SanityCallback")


def __getattr__(name: str) -> Any:
    if name in _KERAS_API:
        import importlib

        adapter = importlib.import_module("mlflow_sanity.autolog")  # imports Keras/TensorFlow
        return adapter if name == "autolog" else getattr(adapter, name)
    raise AttributeError(f"module 'mlflow_sanity' has no attribute {name!r}")

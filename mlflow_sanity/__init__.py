"""mlflow-sanity: catch the accuracy numbers that lie, where Keras + MLflow users look.

Public API only; importing this package never imports TensorFlow.
"""

__version__ = "0.1.0"

from mlflow_sanity.core import check_predictions
from mlflow_sanity.findings import Finding, Report, Severity
from mlflow_sanity.metrics import InputError

__all__ = ["Finding", "InputError", "Report", "Severity", "__version__", "check_predictions"]

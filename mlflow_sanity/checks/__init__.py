"""All checks. Importing this package registers every check in ``REGISTRY``."""

from mlflow_sanity.checks import (  # noqa: F401  (registers checks)
    imbalance,
    keras_config,
    leakage,
    training,
    variance,
)
from mlflow_sanity.checks.registry import REGISTRY, Check, Context, check, finding, run_checks

__all__ = ["REGISTRY", "Check", "Context", "check", "finding", "run_checks"]

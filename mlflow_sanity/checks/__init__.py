"""All checks. Importing this package registers every check in ``REGISTRY``."""

from mlflow_sanity.checks import (  # noqa: F401  (registers checks)
    causes,
    imbalance,
    keras_config,
    leakage,
    regression,
    training,
    variance,
)
from mlflow_sanity.checks.registry import (
    REGISTRY,
    Check,
    CheckOptions,
    Context,
    Outcome,
    Thresholds,
    check,
    checks_in,
    finding,
    grade,
    passed,
    reaches,
)
from mlflow_sanity.checks.running import check_all, run_checks, skipped_checks

__all__ = [
    "REGISTRY",
    "Check",
    "CheckOptions",
    "Context",
    "Outcome",
    "Thresholds",
    "check",
    "check_all",
    "checks_in",
    "finding",
    "grade",
    "passed",
    "reaches",
    "run_checks",
    "skipped_checks",
]

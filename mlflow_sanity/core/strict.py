"""Strict mode: internal errors re-raise instead of becoming a warning.

For users, a bug in mlflow-sanity must never break their ``fit`` or hide the other checks:
it becomes one ``SanityWarning`` or an ``info`` finding. In the project's own test suite the
same bug must show as a red test, not as a quiet warning and a missing finding, so the
suite sets ``MLFLOW_SANITY_STRICT=1`` (as MLflow's autologging re-raises under
``MLFLOW_AUTOLOGGING_TESTING``).
"""

from __future__ import annotations

import os

STRICT_ENV = "MLFLOW_SANITY_STRICT"


def strict() -> bool:
    """Whether internal errors re-raise (read on each call: tests switch it)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}

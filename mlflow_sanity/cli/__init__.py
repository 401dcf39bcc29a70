"""The ``mlflow-sanity`` command: browse flagged runs, print reports, gate CI.

Everything goes through MLflow's search/REST client, so it works against any
tracking server that ``MLFLOW_TRACKING_URI`` points at. ``app`` holds the group; the
commands are in ``runs``, ``split`` and ``seeds`` (importing them registers them).
"""

from mlflow_sanity.cli import runs, seeds, split  # noqa: F401  (registers the commands)
from mlflow_sanity.cli.app import main
from mlflow_sanity.cli.seeds import _parse_params  # noqa: F401  (the seed runner's tests)

__all__ = ["main"]

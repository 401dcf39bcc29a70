"""Run lifecycle: which run a report goes to, and ending the runs we started."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow

_log = logging.getLogger(__name__)


@dataclass
class OwnedRun:
    """The run to log into: the active one (MLflow's or the user's) or one we start."""

    run_id: str
    owned: bool

    @classmethod
    def ensure(cls) -> OwnedRun:
        active = mlflow.active_run()
        if active is not None:
            return cls(active.info.run_id, False)
        return cls(mlflow.start_run().info.run_id, True)

    def end(self, status: str, quiet: bool = False) -> None:
        """End the run if we started it and it is still the active one."""
        if not self.owned:
            return
        try:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self.run_id:
                mlflow.end_run(status)
        except Exception:
            if not quiet:
                raise
            _log.debug("could not end run %s", self.run_id, exc_info=True)


@contextlib.contextmanager
def run_for_logging() -> Iterator[str]:
    run = OwnedRun.ensure()
    try:
        yield run.run_id
    finally:
        run.end("FINISHED")


def tracking_uri() -> str:
    """Where runs are written, for messages that tell the user where to look."""
    return mlflow.get_tracking_uri()

"""Run lifecycle: experiments, creating and ending runs, params and batched logging.

Which run a report goes to (``OwnedRun``, ``run_for_logging``), the fit's run
(``open_fit_run``/``finish_run``: a pending spool key when the server is down), the seed
runner's parent run (``open_parent_run``), and the writes every other tracking module
builds on.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_sanity.core import tag_names
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.tracking import budget, shim, spool

_log = logging.getLogger(__name__)

PARENT_TAG = tag_names.PARENT_RUN
# MLflow's limits on one log_batch call
_MAX_PER_BATCH = {"params": 100, "tags": 100, "metrics": 1000, "total": 1000}


@dataclass
class OwnedRun:
    """The run to log into: the active one (MLflow's or the user's) or one we start."""

    run_id: str
    owned: bool

    @classmethod
    def ensure(cls) -> OwnedRun:
        """The active run, else a new one (``mlflow.start_run`` resumes ``MLFLOW_RUN_ID``)."""
        active = mlflow.active_run()
        if active is not None:
            return cls(active.info.run_id, False)
        return cls(mlflow.start_run().info.run_id, True)

    def end(self, status: str, quiet: bool = False) -> None:
        """End the run if we started it and it is still the active one."""
        if not self.owned:
            return
        # quiet: ending our run must not hide the user's own error
        with Caught(Origin.OUTSIDE, f"ending run {self.run_id}", only=lambda e: quiet):
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self.run_id:
                mlflow.end_run(status)


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


def client_or_default(client: MlflowClient | None = None) -> MlflowClient:
    """``client``, else a client for the current tracking URI."""
    return client or MlflowClient()


def experiment_id(name: str, client: MlflowClient | None = None) -> str:
    """The id of the experiment called ``name``, created when it does not exist yet."""
    client = client_or_default(client)
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp else client.create_experiment(name)


def existing_experiment_ids(names: Iterable[str], client: MlflowClient | None = None) -> list[str]:
    """The ids of the experiments called ``names``; an unknown name is a ``LookupError``
    that names it (a typo must not read as "nothing flagged")."""
    client = client_or_default(client)
    ids = []
    for name in names:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise LookupError(f"no experiment named {name!r}")
        ids.append(exp.experiment_id)
    return ids


def experiment_of(run_id: str, client: MlflowClient | None = None) -> str:
    return client_or_default(client).get_run(run_id).info.experiment_id


def open_parent_run(
    client: MlflowClient,
    run_name: str,
    *,
    experiment_name: str | None = None,
    experiment: str | None = None,
) -> str:
    """Create a run nested under the active run (when there is one) and return its id.

    It goes to the experiment with id ``experiment``, else the one named
    ``experiment_name`` (created when missing), else the active run's or the default
    one. It carries the source/user/git tags ``mlflow.start_run`` would add.
    """
    active = mlflow.active_run()
    if experiment is None and experiment_name:
        experiment = experiment_id(experiment_name, client)
    if experiment is None:
        experiment = shim.default_experiment_id()
    tags = shim.context_tags({PARENT_TAG: active.info.run_id} if active else {})
    return client.create_run(experiment, tags=tags, run_name=run_name).info.run_id


def create_run(
    client: MlflowClient,
    experiment: str,
    *,
    tags: Mapping[str, str],
    run_name: str | None = None,
    start_ms: int | None = None,
) -> str:
    """Create a run with the client (not the fluent API: it does not become the active run)."""
    run = client.create_run(experiment, start_time=start_ms, tags=dict(tags), run_name=run_name)
    return run.info.run_id


def log_batched(
    client: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    timestamp_ms: int | None = None,
    step: int = 0,
) -> None:
    """Log params, tags and metrics (sorted by name): one ``log_batch`` call when MLflow's
    per-call limits allow, else chunked (params, then tags, then metrics)."""
    stamp = timestamp_ms or now_ms()
    kinds: dict[str, list[Any]] = {
        "params": [Param(k, v) for k, v in (params or {}).items()],
        "tags": [RunTag(k, v) for k, v in (tags or {}).items()],
        "metrics": [Metric(k, float(v), stamp, step) for k, v in sorted((metrics or {}).items())],
    }
    sizes = {kind: len(entities) for kind, entities in kinds.items()}
    if sum(sizes.values()) == 0:
        return
    if (
        all(sizes[kind] <= _MAX_PER_BATCH[kind] for kind in kinds)
        and sum(sizes.values()) <= _MAX_PER_BATCH["total"]
    ):
        client.log_batch(run_id, **kinds)
        return
    for kind, entities in kinds.items():
        size = _MAX_PER_BATCH[kind]
        for i in range(0, len(entities), size):
            client.log_batch(run_id, **{kind: entities[i : i + size]})


def log_params_once(client: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
    """Log the params the run lacks; MLflow refuses to change a logged param's value."""
    existing = client.get_run(run_id).data.params
    new = {k: v for k, v in params.items() if existing.get(k) is None}
    if new:
        log_batched(client, run_id, params=new)


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
    log_batched(client, run_id, tags=tags)


def terminate(
    client: MlflowClient, run_id: str, status: str = "FINISHED", end_ms: int | None = None
) -> None:
    """End a run we created with the client: FINISHED, FAILED or KILLED."""
    client.set_terminated(run_id, status, end_time=end_ms)


def run_project(
    entry_point: str,
    parameters: Mapping[str, Any],
    experiment: str,
    run_name: str,
    project: Mapping[str, Any],
) -> str:
    """Run an MLflow project entry point to its end (nested under the active run).

    Returns the project run's id; raises when the run failed or could not start.
    ``project`` holds ``uri``, ``backend``, ``backend_config`` and ``env_manager``.
    """
    import mlflow.projects

    submitted = mlflow.projects.run(
        entry_point=entry_point,
        parameters=dict(parameters),
        experiment_id=experiment,
        synchronous=True,
        run_name=run_name,
        **project,
    )
    return submitted.run_id


__all__ = [
    "PARENT_TAG",
    "MlflowClient",
    "OwnedRun",
    "client_or_default",
    "create_run",
    "experiment_id",
    "experiment_of",
    "log_batched",
    "log_params_once",
    "now_ms",
    "open_parent_run",
    "run_for_logging",
    "run_project",
    "set_tags",
    "terminate",
]


# -- the fit's run: started, ended, or spooled when the server is down ----------------------


def open_fit_run() -> OwnedRun:
    """The run a fit reports to, without waiting on a dead server.

    The active run (no server call), else ``MLFLOW_RUN_ID`` when the server is down,
    else a new run started under the budget; when the server cannot be reached, a
    pending key: the report is spooled and its run is created by ``sync``.
    """
    active = mlflow.active_run()
    if active is not None:
        return OwnedRun(active.info.run_id, False)
    uri = mlflow.get_tracking_uri()
    if budget.reachable(uri):
        # only an unreachable server is absorbed; the rest raises
        with Caught(Origin.OUTSIDE, only=budget.is_connection_error), budget.bounded():
            return OwnedRun.ensure()
    if os.environ.get("MLFLOW_RUN_ID"):
        return OwnedRun(os.environ["MLFLOW_RUN_ID"], False)
    return OwnedRun(spool.new_pending(uri), False)


def finish_run(run: OwnedRun, status: str = "FINISHED") -> None:
    """End a run we started, under the budget; when the server is gone, the spool sets
    the status at sync time (the run stays RUNNING on the server until then)."""
    if not run.owned:
        return
    # only an unreachable server is absorbed; the rest raises
    with Caught(Origin.OUTSIDE, only=budget.is_connection_error) as caught, budget.bounded():
        run.end(status)
    if caught.error is not None:
        folder = spool.spool_root() / run.run_id
        meta = spool.read_run_meta(folder) or spool.run_meta(run.run_id)
        meta["end_status"] = status
        meta.setdefault("end_ms", now_ms())
        spool.write_run_meta(folder, meta)


def new_run(client: MlflowClient, experiment: str | None, run_name: str | None) -> str:
    """A fresh run in ``experiment`` (a name, created when missing), else in the one
    ``MLFLOW_EXPERIMENT_ID``/``MLFLOW_EXPERIMENT_NAME`` names, else the default one."""
    exp_id = os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        exp_id = experiment_id(name, client)
    return create_run(client, exp_id, tags={}, run_name=run_name)

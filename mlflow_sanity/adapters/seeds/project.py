"""The MLproject entry point ``multiseed``: re-run another entry point once per seed, then judge.

``mlflow run . -e multiseed -P entry_point=train -P seeds=5 --env-manager local`` runs
``mlflow-sanity multiseed``, which calls ``mlflow.projects.run`` once per seed with
``seed`` added to the parameters. MLflow nests each project run under the active run
(this entry point's own run, the parent) and sets its status; this module only tags the
children (``sanity.seed``), reads their metrics back and aggregates them on the parent
exactly like ``seed_sweep``. Seeds run one after another: the children write to the
tracking store themselves, and a SQLite store takes one writer at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlflow_sanity.adapters.seeds.progress import SweepProgress
from mlflow_sanity.adapters.seeds.sweep import (
    SweepSummary,
    finish_sweep,
    resolve_seeds,
    run_parent,
)
from mlflow_sanity.adapters.seeds.worker import SeedOutcome
from mlflow_sanity.core.boundary import Caught, Origin, describe
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.tracking import runs
from mlflow_sanity.tracking.queries import RunState, run_state
from mlflow_sanity.tracking.seed_runs import SeedChildRuns


def run_multiseed(
    entry_point: str,
    seeds: int | Sequence[int] = 5,
    parameters: Mapping[str, Any] | None = None,
    *,
    project_uri: str = ".",
    backend: str = "local",
    backend_config: Mapping[str, Any] | str | None = None,
    env_manager: str = "local",
    metric: str | None = None,
    reference: float | None = None,
    higher: bool | None = None,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    disable: Iterable[str] = (),
    progress: bool = True,
    client: runs.MlflowClient | None = None,
) -> SweepSummary:
    """Run ``entry_point`` of the project at ``project_uri`` once per seed, nested, and aggregate.

    The parent is the active run, or the run ``mlflow run`` started for this entry point
    (``MLFLOW_RUN_ID``), or a new run. ``backend``/``backend_config`` are handed to
    ``mlflow.projects.run`` unchanged, so any MLflow project backend works.
    """
    seed_list = resolve_seeds(seeds)
    client = runs.client_or_default(client)
    parent = runs.OwnedRun.ensure()  # resumes MLFLOW_RUN_ID
    runs.log_params_once(client, parent.run_id, {"sanity.seeds": ",".join(map(str, seed_list))})
    children = SeedChildRuns(client, runs.experiment_of(parent.run_id, client), parent.run_id)
    bar = SweepProgress(len(seed_list), metric, progress)
    project = {
        "uri": project_uri,
        "backend": backend,
        "backend_config": backend_config,
        "env_manager": env_manager,
    }

    def sweep() -> SweepSummary:
        outcomes = []
        for seed in seed_list:
            params = {**(parameters or {}), "seed": str(seed)}
            outcomes.append(_run_one(children, seed, entry_point, params, project))
            bar.update(outcomes[-1])
        bar.close()
        return finish_sweep(
            client,
            parent.run_id,
            outcomes,
            None,
            children.run_ids,
            metric=metric,
            reference=reference,
            higher=higher,
            thresholds=thresholds,
            disable=disable,
            inputs={
                "executor": f"mlflow.projects ({backend})",
                "entry_point": entry_point,
                "project_uri": project_uri,
                "parameters": dict(parameters or {}),
            },
        )

    return run_parent(sweep, parent.end if parent.owned else None, bar, progress)


def _run_one(
    children: SeedChildRuns,
    seed: int,
    entry_point: str,
    parameters: dict[str, Any],
    project: Mapping[str, Any],
) -> SeedOutcome:
    """One seed as a project run; a failure is recorded on the child, never raised.

    A project run that fails raises without handing back its id; it is the newest run
    nested under the parent with this seed's ``seed`` param since the seed started.
    """
    start = now_ms()
    error = None
    # the entry point failed, or could not be started at all: a failed seed
    with Caught(Origin.OUTSIDE) as caught:
        run_id = runs.run_project(
            entry_point, parameters, children.experiment, f"seed-{seed}", project
        )
    if caught.error is not None:
        error = describe(caught.error)
        run_id = children.find(seed, started_ms=start)
    if run_id is None:  # nothing was created: record the failure as a child of our own
        outcome = SeedOutcome(seed=seed, error=error, start_ms=start, end_ms=now_ms())
        children.log(outcome)
        return outcome
    run = run_state(run_id, children.client)
    if error is None and run.status != "FINISHED":
        error = f"the child run ended with status {run.status}"
    children.adopt(run_id, seed, error)  # nest also where a backend did not
    return _outcome(run, seed, error)


def _outcome(run: RunState, seed: int, error: str | None) -> SeedOutcome:
    return SeedOutcome(
        seed=seed,
        metrics={} if error else run.metrics,
        error=error,
        start_ms=run.start_ms,
        end_ms=run.end_ms,
        train_s=max(0.0, (run.end_ms - run.start_ms) / 1000),
    )

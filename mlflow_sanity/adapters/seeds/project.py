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

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from mlflow_sanity.adapters.seeds.progress import SweepProgress
from mlflow_sanity.adapters.seeds.sweep import (
    ERROR_TAG,
    PARENT_TAG,
    SEED_TAG,
    ChildRunLogger,
    SweepSummary,
    clip_tail,
    finish_sweep,
    log_new_params,
    resolve_seeds,
    run_parent,
)
from mlflow_sanity.adapters.seeds.worker import SeedOutcome

_RUN_ID_IN_ERROR = re.compile(r"Run \(ID '([0-9a-f]+)'\)")


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
    client: MlflowClient | None = None,
) -> SweepSummary:
    """Run ``entry_point`` of the project at ``project_uri`` once per seed, nested, and aggregate.

    The parent is the active run, or the run ``mlflow run`` started for this entry point
    (``MLFLOW_RUN_ID``), or a new run. ``backend``/``backend_config`` are handed to
    ``mlflow.projects.run`` unchanged, so any MLflow project backend works.
    """
    seed_list = resolve_seeds(seeds)
    client = client or MlflowClient()
    owned = mlflow.active_run() is None
    parent = mlflow.active_run() or mlflow.start_run()  # resumes MLFLOW_RUN_ID
    parent_id, exp_id = parent.info.run_id, parent.info.experiment_id
    log_new_params(client, parent_id, {"sanity.seeds": ",".join(map(str, seed_list))})
    children = ChildRunLogger(client, exp_id, parent_id, None)
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
            outcome = _run_one(
                client, children, parent_id, exp_id, seed, entry_point, params, project
            )
            outcomes.append(outcome)
            bar.update(outcome)
        bar.close()
        return finish_sweep(
            client,
            parent_id,
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

    return run_parent(sweep, mlflow.end_run if owned else None, bar, progress)


def _run_one(
    client: MlflowClient,
    children: ChildRunLogger,
    parent_id: str,
    exp_id: str,
    seed: int,
    entry_point: str,
    parameters: dict[str, Any],
    project: Mapping[str, Any],
) -> SeedOutcome:
    """One seed as a project run; a failure is recorded on the child, never raised."""
    start = int(time.time() * 1000)
    error = None
    try:
        submitted = mlflow.projects.run(
            entry_point=entry_point,
            parameters=parameters,
            experiment_id=exp_id,
            synchronous=True,
            run_name=f"seed-{seed}",
            **project,
        )
        run_id: str | None = submitted.run_id
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the entry point failed, or could not be started at all
        error = f"{type(exc).__name__}: {exc}"
        match = _RUN_ID_IN_ERROR.search(str(exc))
        run_id = match.group(1) if match else _find_child(client, exp_id, parent_id, seed)
    if run_id is None:  # nothing was created: record the failure as a child of our own
        outcome = SeedOutcome(seed=seed, error=error, start_ms=start, end_ms=_now())
        children.log(outcome)
        return outcome
    run = client.get_run(run_id)
    ok = error is None and run.info.status == "FINISHED"
    if not ok and error is None:
        error = f"the child run ended with status {run.info.status}"
    tags = {SEED_TAG: str(seed), PARENT_TAG: parent_id}  # nest also where a backend did not
    if error:
        tags[ERROR_TAG] = clip_tail(error, 1000)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    children.run_ids[seed] = run_id
    return _outcome(run, seed, error)


def _find_child(client: MlflowClient, exp_id: str, parent_id: str, seed: int) -> str | None:
    runs = client.search_runs(
        [exp_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}' and params.seed = '{seed}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def _outcome(run: Run, seed: int, error: str | None) -> SeedOutcome:
    start, end = run.info.start_time or 0, run.info.end_time or _now()
    return SeedOutcome(
        seed=seed,
        metrics={} if error else dict(run.data.metrics),
        error=error,
        start_ms=start,
        end_ms=end,
        train_s=max(0.0, (end - start) / 1000),
    )


def _now() -> int:
    return int(time.time() * 1000)

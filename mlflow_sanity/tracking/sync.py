"""``mlflow-sanity sync``: upload the spooled reports (``tracking/spool.py``) to their runs.

Each key's reports go up in order through ``publish.replay``, so the run and the
LoggedModel a report is about end up exactly as if they had been logged directly; each
report folder is deleted once uploaded, and each records its entry id in the run's report
(``state.synced_spool_entries``), so a sync stopped between the upload and the deletion
skips that entry next time. A pending key first gets its run (``sanity.spooled=true``),
whose id is written to ``run.json`` before anything is logged.

Apart from the spool's storage so that storing never imports publishing: ``publish``
imports the spool, this module imports both (no import cycle inside tracking).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_sanity.core.boundary import Caught, Origin, describe
from mlflow_sanity.core.findings import Report
from mlflow_sanity.tracking import budget, spool
from mlflow_sanity.tracking.publish import replay
from mlflow_sanity.tracking.reports import read_report


@dataclass
class SyncResult:
    key: str
    run_id: str | None
    tracking_uri: str
    uploaded: int = 0
    error: str = ""


def sync(root: Path | None = None, tracking_uri: str | None = None) -> list[SyncResult]:
    """Upload every spooled report to its run; each uploaded report leaves the spool.

    ``tracking_uri`` sends everything to that server instead of the one each report
    was meant for (runs created there for pending keys; a known run id must exist there).
    Keys whose server cannot be reached stay for the next sync.
    """
    results = []
    for item in spool.pending(root):
        uri = tracking_uri or item.meta.get("tracking_uri") or mlflow.get_tracking_uri()
        result = SyncResult(item.key, None, uri)
        results.append(result)
        if not budget.reachable(uri):
            result.error = f"tracking server {uri} did not answer"
            continue
        # one key's failure keeps it spooled (and said), not the rest
        with Caught(Origin.OUTSIDE) as caught, budget.bounded():
            _sync_one(item, MlflowClient(tracking_uri=uri), result)
        if caught.error is not None:
            result.error = describe(caught.error)
    return results


def _sync_one(item: spool.Pending, client: MlflowClient, result: SyncResult) -> None:
    meta = item.meta
    run_id = meta.get("run_id") or (meta.get("created") or {}).get(result.tracking_uri)
    if not run_id:
        run_id = _create_run(client, meta)
        meta.setdefault("created", {})[result.tracking_uri] = run_id
        spool.write_run_meta(item.folder, meta)  # an interrupted sync resumes into this run
    result.run_id = run_id
    synced = _synced_entries(client, run_id)
    for entry in item.entries:
        manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
        entry_id = manifest.get("entry_id") or f"{item.key}/{entry.name}/{manifest['created_ms']}"
        if entry_id in synced:  # uploaded by a sync that stopped before removing it
            spool.remove(entry)
            continue
        report = Report.from_dict(json.loads((entry / "report.json").read_text(encoding="utf-8")))
        synced = [*synced, entry_id][-spool.SYNCED_KEPT :]
        report.state.synced_spool_entries = synced
        files = {name: (entry / "files" / name).read_bytes() for name in manifest["files"]}
        replay(run_id, report, files, manifest, client)
        spool.remove(entry)
        result.uploaded += 1
    status = meta.get("end_status")
    if status and client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status, end_time=meta.get("end_ms"))
    spool.remove(item.folder)


def _synced_entries(client: MlflowClient, run_id: str) -> list[str]:
    """The spool entries already in the run's report: its report.json says so, written
    with the entry's own upload, so a sync interrupted before removing an entry does not
    upload it twice."""
    report = read_report(run_id, client)
    return list(report.state.synced_spool_entries) if report is not None else []


def _create_run(client: MlflowClient, meta: Mapping[str, Any]) -> str:
    experiment = "0"
    name, exp_id = meta.get("experiment_name"), meta.get("experiment_id")
    if name:
        found = client.get_experiment_by_name(name)
        experiment = found.experiment_id if found else client.create_experiment(name)
    elif exp_id and _experiment_exists(client, str(exp_id)):
        experiment = str(exp_id)
    tags = {**(meta.get("tags") or {}), spool.SPOOLED_TAG: "true"}
    run = client.create_run(
        experiment, start_time=meta.get("start_ms"), tags=tags, run_name=meta.get("run_name")
    )
    return run.info.run_id


def _experiment_exists(client: MlflowClient, experiment_id: str) -> bool:
    try:
        return client.get_experiment(experiment_id) is not None
    except MlflowException:
        return False

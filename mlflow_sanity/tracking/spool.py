"""Reports that could not reach the tracking server, kept on disk until ``mlflow-sanity sync``.

Inside ``fit``/``evaluate`` every MLflow call of mlflow-sanity runs under the short budget
of ``tracking/budget.py``. When the server does not answer the probe, or a call fails
with a connection error, the whole report (tags, metrics, note and artifacts are all
derived from the report and its files) is written here instead, and one warning names
the folder. Nothing is lost and ``fit`` is not held up.

Layout (plain JSON and the artifact files; no pickle)::

    $MLFLOW_SANITY_SPOOL            (default ~/.cache/mlflow-sanity/spool, or $XDG_CACHE_HOME)
      <key>/                        a run id, or pending-<hex> when no run could be created
        run.json                    tracking URI, run id or the experiment to create it in,
                                    run name, tags, times, end status still to set
        0001/                       one report per numbered folder, uploaded in order
          manifest.json             format, created, what, scope, step, file names, and
                                    ``replay``: the LoggedModel, digests and dataset
          report.json               the report (Report.to_dict)
          files/<name>              its artifacts (plots, per-class CSV, fingerprints)

``publish()`` (``tracking/publish.py``) decides when a report comes here. ``sync()``
uploads each key's reports in order through ``publish.replay`` (so the run, and the
LoggedModel a report is about, end up exactly as if they had been logged directly,
merged with what they already hold) and deletes each report folder once it is
uploaded: running it twice uploads nothing twice.
Each report records its entry id in the run's report (``state.synced_spool_entries``)
with its own upload, so a sync stopped between the upload and the deletion skips that
entry next time instead of logging it again.
A pending key first gets its run, created in the recorded experiment (by name, else id,
else the default one) with the recorded name, start and end times and the tag
``sanity.spooled=true``; the new run id is written to ``run.json`` before anything is
logged, so an interrupted sync resumes into the same run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_sanity.core import state, tag_names
from mlflow_sanity.core.boundary import Caught, Origin, attempt, describe
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.core.findings import Report
from mlflow_sanity.report import console
from mlflow_sanity.tracking import budget, shim
from mlflow_sanity.tracking.runs import OwnedRun

SPOOL_ENV = "MLFLOW_SANITY_SPOOL"
FORMAT = 1
PENDING_PREFIX = console.PENDING_PREFIX  # a run created at sync time
SPOOLED_TAG = tag_names.SPOOLED
SYNCED_KEY = state.SYNCED_KEY  # report.json "state": the entries a run already received
_SYNCED_KEPT = 200

_log = logging.getLogger(__name__)


class SpoolWarning(UserWarning):
    """The tracking server could not be reached: a report was saved locally for later."""


def spool_root() -> Path:
    """``$MLFLOW_SANITY_SPOOL``, else ``$XDG_CACHE_HOME/mlflow-sanity/spool`` (``~/.cache``)."""
    if os.environ.get(SPOOL_ENV):
        return Path(os.environ[SPOOL_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mlflow-sanity" / "spool"


def is_pending(run_id: str | None) -> bool:
    return bool(run_id) and str(run_id).startswith(PENDING_PREFIX)


# -- inside fit / evaluate ---------------------------------------------------------------


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
    return OwnedRun(_new_pending(uri), False)


def finish_run(run: OwnedRun, status: str = "FINISHED") -> None:
    """End a run we started, under the budget; when the server is gone, the spool sets
    the status at sync time (the run stays RUNNING on the server until then)."""
    if not run.owned:
        return
    # only an unreachable server is absorbed; the rest raises
    with Caught(Origin.OUTSIDE, only=budget.is_connection_error) as caught, budget.bounded():
        run.end(status)
    if caught.error is not None:
        meta = _read_run_meta(spool_root() / run.run_id) or _run_meta(run.run_id)
        meta["end_status"] = status
        meta.setdefault("end_ms", now_ms())
        _write_run_meta(spool_root() / run.run_id, meta)


# -- writing -----------------------------------------------------------------------------


def _new_pending(uri: str) -> str:
    key = f"{PENDING_PREFIX}{uuid.uuid4().hex[:16]}"
    meta = _run_meta(None, uri)
    meta.update(
        experiment_id=os.environ.get("MLFLOW_EXPERIMENT_ID"),
        experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME"),
        run_name=os.environ.get("MLFLOW_RUN_NAME"),
        tags=_context_tags(),
        start_ms=now_ms(),
        end_status="FINISHED",
    )
    _write_run_meta(spool_root() / key, meta)
    return key


def _context_tags() -> dict[str, str]:
    tags = attempt(lambda: shim.context_tags({}), {}, Origin.OUTSIDE)  # a nicety
    return {str(k): str(v) for k, v in tags.items()}


def _run_meta(run_id: str | None, uri: str | None = None) -> dict[str, Any]:
    return {"format": FORMAT, "tracking_uri": uri or mlflow.get_tracking_uri(), "run_id": run_id}


def _read_run_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _write_run_meta(folder: Path, meta: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".run.json.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp, folder / "run.json")


def write_entry(
    run_id: str,
    report: Report,
    files: Mapping[str, bytes] | None = None,
    *,
    scope: str | None = None,
    step: int = 0,
    what: str = "fit",
    uri: str | None = None,
    replay: Mapping[str, Any] | None = None,
) -> Path:
    """Save one report and its files under ``<spool>/<run_id>/<n>/``; return the folder.

    ``replay`` (``tracking/publish.py``) is what ``sync`` needs to publish the report as it
    would have been: the LoggedModel to tag, the digests, the dataset naming the metrics."""
    folder = spool_root() / run_id
    meta = _read_run_meta(folder)
    if meta is None:
        meta = _run_meta(None if is_pending(run_id) else run_id, uri)
    if is_pending(run_id):  # the run created at sync ends when its last report was made
        meta["end_ms"] = now_ms()
    _write_run_meta(folder, meta)
    staging = folder / f".tmp-{uuid.uuid4().hex}"
    (staging / "files").mkdir(parents=True)
    names = []
    for name, data in (files or {}).items():
        safe = Path(name).name
        if not safe or safe in (".", ".."):
            continue
        (staging / "files" / safe).write_bytes(data)
        names.append(safe)
    (staging / "report.json").write_text(json.dumps(report.to_dict()), encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "entry_id": uuid.uuid4().hex,
        "created_ms": now_ms(),
        "what": what,
        "scope": scope,
        "step": step,
        "files": sorted(names),
        "replay": dict(replay or {}),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for _ in range(1000):  # claim the next number (atomic rename; another process may race)
        target = folder / f"{len(_entries(folder)) + 1:04d}"
        try:
            os.rename(staging, target)
            return target
        except OSError:
            if not target.exists():
                raise
    raise RuntimeError(f"could not number a spool entry in {folder}")


def _entries(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


# -- reading and syncing ------------------------------------------------------------------


@dataclass
class Pending:
    """One spooled run: where it goes and its reports, oldest first."""

    folder: Path
    meta: dict[str, Any]
    entries: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.folder.name


def pending(root: Path | None = None) -> list[Pending]:
    """Everything in the spool, by key."""
    root = root or spool_root()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        meta = _read_run_meta(folder)
        if meta is None:
            continue
        found.append(Pending(folder, meta, _entries(folder)))
    return found


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
    for item in pending(root):
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


def _sync_one(item: Pending, client: MlflowClient, result: SyncResult) -> None:
    from mlflow_sanity.tracking.publish import replay

    meta = item.meta
    run_id = meta.get("run_id") or (meta.get("created") or {}).get(result.tracking_uri)
    if not run_id:
        run_id = _create_run(client, meta)
        meta.setdefault("created", {})[result.tracking_uri] = run_id
        _write_run_meta(item.folder, meta)  # an interrupted sync resumes into this run
    result.run_id = run_id
    synced = _synced_entries(client, run_id)
    for entry in item.entries:
        manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
        entry_id = manifest.get("entry_id") or f"{item.key}/{entry.name}/{manifest['created_ms']}"
        if entry_id in synced:  # uploaded by a sync that stopped before removing it
            _remove(entry)
            continue
        report = Report.from_dict(json.loads((entry / "report.json").read_text(encoding="utf-8")))
        synced = [*synced, entry_id][-_SYNCED_KEPT:]
        report.state.synced_spool_entries = synced
        files = {name: (entry / "files" / name).read_bytes() for name in manifest["files"]}
        replay(run_id, report, files, manifest, client)
        _remove(entry)
        result.uploaded += 1
    status = meta.get("end_status")
    if status and client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status, end_time=meta.get("end_ms"))
    _remove(item.folder)


def _synced_entries(client: MlflowClient, run_id: str) -> list[str]:
    """The spool entries already in the run's report: its report.json says so, written
    with the entry's own upload, so a sync interrupted before removing an entry does not
    upload it twice."""
    from mlflow_sanity.tracking.reports import read_report

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
    tags = {**(meta.get("tags") or {}), SPOOLED_TAG: "true"}
    run = client.create_run(
        experiment, start_time=meta.get("start_ms"), tags=tags, run_name=meta.get("run_name")
    )
    return run.info.run_id


def _experiment_exists(client: MlflowClient, experiment_id: str) -> bool:
    try:
        return client.get_experiment(experiment_id) is not None
    except MlflowException:
        return False


def _remove(path: Path) -> None:
    """Rename first (atomic: a folder is either in the spool or gone), then delete."""
    gone = path.with_name(f".done-{path.name}-{int(time.time() * 1000)}")
    os.rename(path, gone)
    shutil.rmtree(gone, ignore_errors=True)

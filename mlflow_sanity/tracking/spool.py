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
(``tracking/sync.py``; this module only stores) uploads each key's reports in order
through ``publish.replay`` (so the run, and the
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

from mlflow_sanity.core import state, tag_names
from mlflow_sanity.core.boundary import Origin, attempt
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.core.findings import Report
from mlflow_sanity.report import console
from mlflow_sanity.tracking import shim

SPOOL_ENV = "MLFLOW_SANITY_SPOOL"
FORMAT = 1
PENDING_PREFIX = console.PENDING_PREFIX  # a run created at sync time
SPOOLED_TAG = tag_names.SPOOLED
SYNCED_KEY = state.SYNCED_KEY  # report.json "state": the entries a run already received
SYNCED_KEPT = 200

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


# -- writing -----------------------------------------------------------------------------


def new_pending(uri: str) -> str:
    """A pending key (no run yet: ``sync`` creates it) with what its run will need."""
    key = f"{PENDING_PREFIX}{uuid.uuid4().hex[:16]}"
    meta = run_meta(None, uri)
    meta.update(
        experiment_id=os.environ.get("MLFLOW_EXPERIMENT_ID"),
        experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME"),
        run_name=os.environ.get("MLFLOW_RUN_NAME"),
        tags=_context_tags(),
        start_ms=now_ms(),
        end_status="FINISHED",
    )
    write_run_meta(spool_root() / key, meta)
    return key


def _context_tags() -> dict[str, str]:
    tags = attempt(lambda: shim.context_tags({}), {}, Origin.OUTSIDE)  # a nicety
    return {str(k): str(v) for k, v in tags.items()}


def run_meta(run_id: str | None, uri: str | None = None) -> dict[str, Any]:
    return {"format": FORMAT, "tracking_uri": uri or mlflow.get_tracking_uri(), "run_id": run_id}


def read_run_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def write_run_meta(folder: Path, meta: Mapping[str, Any]) -> None:
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
    meta = read_run_meta(folder)
    if meta is None:
        meta = run_meta(None if is_pending(run_id) else run_id, uri)
    if is_pending(run_id):  # the run created at sync ends when its last report was made
        meta["end_ms"] = now_ms()
    write_run_meta(folder, meta)
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
        meta = read_run_meta(folder)
        if meta is None:
            continue
        found.append(Pending(folder, meta, _entries(folder)))
    return found


def remove(path: Path) -> None:
    """Rename first (atomic: a folder is either in the spool or gone), then delete."""
    gone = path.with_name(f".done-{path.name}-{int(time.time() * 1000)}")
    os.rename(path, gone)
    shutil.rmtree(gone, ignore_errors=True)

"""The one place that writes to MLflow: tags, metrics, run description and artifacts.

Every adapter (evaluator, autolog, seed runner, CLI) hands a ``Report`` here. When a
run already carries a sanity report, the new one is merged into it, so the tags
always describe the union of everything checked on that run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow.artifacts
from mlflow.entities import Metric, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_sanity._version import __version__
from mlflow_sanity.core import tag_names
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.fingerprint import Fingerprint
from mlflow_sanity.core.splits import ModelSelection
from mlflow_sanity.core.verdict import Verdict
from mlflow_sanity.report import render_files
from mlflow_sanity.report.calls import verdict_of
from mlflow_sanity.report.markdown import with_note
from mlflow_sanity.tracking import metric_names, shim, verdict

ARTIFACT_DIR = "sanity"
METRIC_PREFIX = "sanity/"
MAX_TAG_CHARS = 8000  # MLflow's limit on a tag value
NOTE_TAG = tag_names.NOTE
CORRECTED_TAG = tag_names.CORRECTED
_MAX_TAGS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_MAX_ENTITIES_PER_BATCH = 1000  # tags + metrics + params in one log_batch call


def log_report(
    run_id: str,
    report: Report,
    files: Mapping[str, bytes] | None = None,
    *,
    client: MlflowClient | None = None,
    step: int = 0,
    scope: str | None = None,
    model_id: str | None = None,
    dataset: Mapping[str, str | None] | None = None,
    log_metrics: bool = True,
    rejudged: Iterable[str] = (),
    extra_tags: Mapping[str, str] | None = None,
) -> Report:
    """Log ``report`` (and extra artifact ``files``) to ``run_id``; return the merged report,
    whose tags, description, ``sanity/report.{json,html}`` and verdict metrics
    (``tracking.verdict``) describe the union of every report logged to the run.

    ``scope`` (``"evaluate"``): one of several numbered calls on the run, with its own
    ``sanity/<scope>/<n>/`` folder and ``sanity/<scope>/<n>/<metric>`` metrics. ``dataset``
    (``{"name", "digest"}``) names the metrics after the data (``tracking.metric_names``,
    the prefix ends up in ``merged.state.metric_prefix``) and ``model_id`` links them to
    that LoggedModel; ``log_metrics=False`` leaves them to MLflow (it re-logs an
    evaluator's returned metrics when it knows the model). ``rejudged`` findings (a run
    group's ``seed_variance`` on grown evidence) replace their earlier verdicts instead of
    merging, so a warning the new evidence clears goes away, tag included. ``extra_tags``
    (a fit's digests) go in the one ``log_batch`` of the verdict's tags and metrics.
    """
    client = client or MlflowClient()
    run = client.get_run(run_id)
    files, rejudged = dict(files or {}), set(rejudged)
    with tempfile.TemporaryDirectory(prefix="mlflow-sanity-") as tmp:
        out = Path(tmp)
        previous = _previous(client, run, out, rejudged)
        stored = {p.name for p in out.glob("*.png")}  # the run has them: only for the HTML
        if scope is not None:
            report, prefix = _scoped(report, previous, scope, out / scope, files)
            files = {}
        else:
            prefix = metric_names.claim(previous, report, dataset)
        merged = previous.merge(report) if previous is not None else report
        if scope is not None:
            merged.state.calls[scope] = report.state.calls[scope]
        metric_names.record(merged, previous, report, prefix)
        told = verdict_of(merged)
        written = _write_run_folder(out, merged, told, files, stored)
        now = now_ms()
        metrics = _metrics(report.metrics, step, now, prefix) if log_metrics else []
        metrics = metric_names.attach(metrics, model_id, dataset)
        own = verdict.run_rows(told, now)  # a LoggedModel's: models.tag_model
        if mlflow.get_active_model_id() is None:  # nothing to link them to: one call
            metrics, own = metrics + own, []
        tags = _tags(merged, told, run.data.tags.get(NOTE_TAG), extra_tags)
        _upload(client, run_id, out, tags, metrics, own, written)
    _forget_rejudged(client, run, rejudged, told)
    return merged


def _previous(client: MlflowClient, run: Run, out: Path, rejudged: set[str]) -> Report | None:
    """The run's earlier report (its plots copied into ``out``), less the ``rejudged``
    findings. Only ``log_report`` writes sanity artifacts, and it tags the run first: a run
    without the status tag has no earlier report, so its artifacts are not listed."""
    if tag_names.STATUS not in run.data.tags:
        return None
    previous = _download_previous(client, run, out)
    return previous.without(rejudged) if previous is not None and rejudged else previous


def _upload(
    client: MlflowClient,
    run_id: str,
    out: Path,
    tags: list[RunTag],
    metrics: list[Metric],
    own: list[Metric],
    written: _Written,
) -> None:
    """Tags and metrics in one ``log_batch``, then the run's ``sanity/`` folder; remembered
    (``_Written``) once the upload is complete: until then the run is read back."""
    key = _written_key(client, run_id)
    _WRITTEN.pop(key, None)
    _log_batch(client, run_id, tags, metrics)
    if own:
        shim.log_run_metrics(client, run_id, own)
    client.log_artifacts(run_id, str(out), ARTIFACT_DIR)
    said = {t.key: t.value for t in tags if t.key in (tag_names.STATUS, NOTE_TAG)}
    _remember_written(key, replace(written, tags=said))


def _forget_rejudged(client: MlflowClient, run: Run, rejudged: set[str], told: Verdict) -> None:
    """Delete the tags of re-judged findings the new evidence cleared."""
    run_tags, run_id = run.data.tags, run.info.run_id
    for finding_id in sorted(rejudged - set(told.flagged_ids)):
        if tag_names.finding(finding_id) in run_tags:
            client.delete_tag(run_id, tag_names.finding(finding_id))
    if rejudged and told.corrected_finding is None and CORRECTED_TAG in run_tags:
        client.delete_tag(run_id, CORRECTED_TAG)  # the evidence that made it is gone


def _scoped(
    report: Report, previous: Report | None, scope: str, folder: Path, files: Mapping[str, bytes]
) -> tuple[Report, str]:
    """Number this call, stamp its findings with it, and write its own folder."""
    calls = list(previous.state.calls.get(scope) or []) if previous else []
    n = len(calls) + 1
    call = f"{report.provenance.call or scope} #{n}"
    stamped = replace(
        report,
        findings=[replace(f, source=f"{f.source or scope} #{n}") for f in report.findings],
        metrics=dict(report.metrics),
        inputs=dict(report.inputs),
        tables=dict(report.tables),
        provenance=replace(report.provenance, call=call),
        skipped=[replace(r, call=call) for r in report.skipped],
        state=replace(report.state, calls=dict(report.state.calls)),
    )
    told = verdict_of(stamped)
    calls.append({"call": call, "status": told.status, "flagged": told.flagged_ids})
    stamped.state.calls[scope] = calls
    own = folder / str(n)
    own.mkdir(parents=True)
    _write_run_folder(own, stamped, told, files)
    return stamped, f"{scope}/{n}/"


def _write_run_folder(
    out: Path,
    report: Report,
    told: Verdict,
    files: Mapping[str, bytes],
    stored: Iterable[str] = (),
) -> _Written:
    """``files``, ``report.json`` and ``report.html`` into ``out``; what the run will hold
    (the report and plots: what the next report here starts from). The ``stored`` plots
    were downloaded from the run for the HTML only: unchanged, they are not uploaded again."""
    for name, data in files.items():
        (out / name).write_bytes(data)
    images = {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}
    json_text, html = render_files(report, images, told)
    (out / "report.json").write_text(json_text)
    (out / "report.html").write_text(html, encoding="utf-8")
    written = _Written((out / "report.json").read_bytes(), images, {})
    for name in set(stored) - set(files):
        (out / name).unlink()
    return written


def metric_key(name: str) -> str:
    return METRIC_PREFIX + name


def _tags(
    report: Report, told: Verdict, note: str | None, extra: Mapping[str, str] | None
) -> list[RunTag]:
    """The verdict's tags, the run description with our section in it, and ``extra``."""
    tags = {
        tag_names.STATUS: told.status,
        tag_names.FINDINGS: ",".join(told.flagged_ids),
        tag_names.VERSION: __version__,
        tag_names.COVERAGE: told.coverage,
        NOTE_TAG: with_note(note, report, verdict=told),
    }
    if report.task:
        tags[tag_names.TASK] = report.task
    tags.update({tag_names.finding(f.id): f.severity.value for f in told.flagged})
    if told.corrected:  # names the call when the run holds several
        tags[CORRECTED_TAG] = told.corrected
    clipped = [RunTag(k, clip_tag(v)) for k, v in tags.items()]
    return clipped + [RunTag(k, v) for k, v in (extra or {}).items()]


def _metrics(metrics: Mapping[str, float], step: int, now: int, prefix: str = "") -> list[Metric]:
    return [
        Metric(metric_key(prefix + name), float(value), now, step)
        for name, value in sorted(metrics.items())
        if value is not None and math.isfinite(float(value))
    ]


def clip_tag(value: str) -> str:
    """A tag value MLflow accepts: long descriptions end with a pointer to the report."""
    if len(value) <= MAX_TAG_CHARS:
        return value
    marker = "\n…(truncated; see sanity/report.html)"
    return value[: MAX_TAG_CHARS - len(marker)] + marker


def _log_batch(
    client: MlflowClient, run_id: str, tags: list[RunTag], metrics: list[Metric]
) -> None:
    if len(tags) <= _MAX_TAGS_PER_BATCH and len(tags) + len(metrics) <= _MAX_ENTITIES_PER_BATCH:
        client.log_batch(run_id, metrics=metrics, tags=tags)  # the usual case: one call
        return
    for i in range(0, max(len(tags), 1), _MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=tags[i : i + _MAX_TAGS_PER_BATCH])
    for i in range(0, len(metrics), _MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + _MAX_METRICS_PER_BATCH])


class _SanityArtifacts:
    """A run's ``sanity/`` artifacts, read by absolute URI.

    ``MlflowClient.list_artifacts``/``download_artifacts`` resolve ``runs:/`` URIs, which
    fetches the run (and looks for a logged model of that name) again for every file:
    ~20 ms a file on a local store, against ~1 ms by the run's artifact URI.
    """

    def __init__(self, client: MlflowClient, run: Run) -> None:
        root = shim.artifact_root(run.info.artifact_uri, client.tracking_uri)
        self._root = f"{root.rstrip('/')}/{ARTIFACT_DIR}"
        self._tracking_uri = client.tracking_uri

    def names(self) -> set[str]:
        return set(self.listing())

    def listing(self) -> dict[str, int | None]:
        """The top-level entries of ``sanity/`` and their sizes in bytes (None: unknown,
        or a folder)."""
        found = mlflow.artifacts.list_artifacts(
            artifact_uri=self._root, tracking_uri=self._tracking_uri
        )
        return {Path(a.path).name: (None if a.is_dir else a.file_size) for a in found}

    def read(self, name: str, tmp: str) -> bytes:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{self._root}/{name}", dst_path=tmp, tracking_uri=self._tracking_uri
        )
        return Path(path).read_bytes()


@dataclass(frozen=True)
class _Written:
    """What ``log_report`` last left on a run in this process: the report as uploaded,
    the run's plots (``sanity/*.png``), their sizes and the tags it set. A later report
    to the same run reads the earlier one from here instead of downloading it, when the
    run still shows exactly this: the same status and note tags, and ``report.json`` and
    the same plots at the same sizes (anything else, such as another process writing to
    the run, falls back to the download)."""

    report_json: bytes
    plots: dict[str, bytes]
    tags: dict[str, str]

    def sizes(self) -> dict[str, int]:
        return {"report.json": len(self.report_json)} | {k: len(v) for k, v in self.plots.items()}

    def still_on(self, run: Run, listing: Mapping[str, int | None]) -> bool:
        if any(run.data.tags.get(k) != v for k, v in self.tags.items()):
            return False
        shown = {k: v for k, v in listing.items() if k == "report.json" or k.endswith(".png")}
        return shown == self.sizes()


_WRITTEN: dict[tuple[str, str], _Written] = {}  # (tracking URI, run id) -> the last write
_MAX_WRITTEN = 8  # runs remembered (the latest): a few plots each


def _written_key(client: MlflowClient, run_id: str) -> tuple[str, str]:
    return (str(client.tracking_uri), run_id)


def _remember_written(key: tuple[str, str], written: _Written) -> None:
    _WRITTEN.pop(key, None)
    _WRITTEN[key] = written
    while len(_WRITTEN) > _MAX_WRITTEN:
        _WRITTEN.pop(next(iter(_WRITTEN)))


def _download_previous(client: MlflowClient, run: Run, out: Path) -> Report | None:
    """Fetch an earlier sanity report from the run, copying its plots into ``out``
    (from this process' own last write to the run when the run still holds exactly it)."""
    artifacts = _SanityArtifacts(client, run)
    listing = artifacts.listing()
    names = set(listing)
    if "report.json" not in names:
        return None
    written = _WRITTEN.get(_written_key(client, run.info.run_id))
    if written is not None and written.still_on(run, listing):
        for name, data in written.plots.items():
            (out / name).write_bytes(data)
        return Report.from_dict(json.loads(written.report_json))
    with tempfile.TemporaryDirectory(prefix="mlflow-sanity-prev-") as tmp, _quiet_downloads():
        for name in sorted(n for n in names if n.endswith(".png")):
            (out / name).write_bytes(artifacts.read(name, tmp))
        return Report.from_dict(json.loads(artifacts.read("report.json", tmp)))


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    """Our small reads should not print MLflow's download progress bars."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def read_report(run_id: str, client: MlflowClient | None = None) -> Report | None:
    """The sanity report logged on a run, or None when the run was never checked."""
    client = client or MlflowClient()
    with tempfile.TemporaryDirectory(prefix="mlflow-sanity-") as tmp:
        return _download_previous(client, client.get_run(run_id), Path(tmp))


FINGERPRINT_ROLES = ("train", "validation")


@dataclass
class TrainingEvidence:
    """What a training run logged for leakage checks: fingerprints and model selection."""

    run_id: str
    train: Fingerprint | None = None
    validation: Fingerprint | None = None
    model_selection: ModelSelection = field(default_factory=ModelSelection)


def read_training_evidence(run_id: str, client: MlflowClient | None = None) -> TrainingEvidence:
    """Read ``sanity/fingerprint_{train,validation}.{npy,json}`` and the model-selection
    summary (``report.json`` inputs ``model_selection``) logged on ``run_id``.

    Missing pieces stay None/empty; a run that does not exist raises MlflowException.
    """
    client = client or MlflowClient()
    found = TrainingEvidence(run_id)
    run = client.get_run(run_id)
    # A run never checked by mlflow-sanity has no sanity artifacts (log_report tags the run
    # before it uploads): no need to list them.
    if tag_names.STATUS not in run.data.tags:
        return found
    artifacts = _SanityArtifacts(client, run)
    names = artifacts.names()
    with tempfile.TemporaryDirectory(prefix="mlflow-sanity-fp-") as tmp, _quiet_downloads():
        for role in FINGERPRINT_ROLES:
            pair = [f"fingerprint_{role}.npy", f"fingerprint_{role}.json"]
            if not set(pair) <= names:
                continue
            files = {name: artifacts.read(name, tmp) for name in pair}
            setattr(found, role, Fingerprint.from_files(files, role=role))
        if "report.json" in names:
            logged = Report.from_dict(json.loads(artifacts.read("report.json", tmp)))
            found.model_selection = logged.model_selection or ModelSelection.from_dict({})
    return found


def model_source_run(
    model: Any = None, model_id: str | None = None, client: MlflowClient | None = None
) -> str | None:
    """The run that produced a model: its MLmodel ``run_id`` (``runs:/`` URIs and models
    logged in a run), else the logged model's ``source_run_id``; None when unknown."""
    metadata = getattr(model, "metadata", None)
    run_id = getattr(metadata, "run_id", None)
    if run_id:
        return str(run_id)
    model_id = model_id or getattr(metadata, "model_id", None)
    if model_id:
        try:
            return (client or MlflowClient()).get_logged_model(model_id).source_run_id
        except MlflowException:
            return None
    return None

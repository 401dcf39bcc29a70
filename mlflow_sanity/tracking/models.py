"""MLflow 3 models: the verdict on LoggedModels, registered versions and the registry gate.

- ``fit_model_id``: the LoggedModel ``mlflow.keras.autolog()`` created for the fit that is
  running in a run (it exists, PENDING, while training runs).
- ``tag_model``: the same ``sanity.status`` / ``sanity.findings`` / ``sanity.finding.<id>``
  tags as on the run, merged over every report about the model (worst status wins),
  so ``mlflow.search_logged_models(filter_string="tags.`sanity.status` = 'fail'")`` finds it,
  and the same verdict as a section of the model's description (``mlflow.note.content``,
  what the Models tab's model page shows: its list has no tag columns), and as the metrics
  ``sanity/status_level``/``sanity/flagged_count`` (``tracking.verdict``), which the list
  can show and sort.
- ``verdict``: what a run id, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` or
  ``models:/m-…`` says (the gate); ``tag_version`` copies it onto a registered version.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import mlflow
from mlflow.exceptions import MlflowException

from mlflow_sanity._version import __version__
from mlflow_sanity.core import tag_names
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.findings import Finding, Report, Severity, merge_tasks
from mlflow_sanity.report.calls import verdict_of
from mlflow_sanity.report.console import PENDING_PREFIX
from mlflow_sanity.report.markdown import with_note
from mlflow_sanity.tracking import budget
from mlflow_sanity.tracking import verdict as verdict_metrics
from mlflow_sanity.tracking.reports import CORRECTED_TAG, NOTE_TAG, clip_tag
from mlflow_sanity.tracking.runs import MlflowClient, client_or_default, existing_experiment_ids

_log = logging.getLogger(__name__)

STATUS_TAG = tag_names.STATUS
FINDINGS_TAG = tag_names.FINDINGS
FINDING_TAG = tag_names.FINDING
VERSION_TAG = tag_names.VERSION


class ModelLookupError(LookupError):
    """No such registered model, version, alias, logged model or run."""


def _worst(*statuses: str | None) -> str:
    return Severity.worst(*statuses).status


def fit_model_id(run_id: str) -> str | None:
    """The LoggedModel MLflow's Keras autolog created for the fit running in ``run_id``.

    ``mlflow.keras.autolog()`` creates it (PENDING) before training and finalises it after
    our checks; anything else (an older model, one from another run) is not this fit's.
    """
    if run_id.startswith(PENDING_PREFIX) or not budget.reachable(mlflow.get_tracking_uri()):
        return None  # inside fit: never wait on a server that is not there
    with Caught(Origin.OUTSIDE) as caught, budget.bounded():  # the report does not need it
        model = mlflow.last_logged_model()
    if caught.error is not None:
        _log.info("mlflow-sanity: no logged model for run %s: %s", run_id, caught.error)
        return None
    if model is None or model.source_run_id != run_id:
        return None
    if str(getattr(model.status, "value", model.status)).upper() != "PENDING":
        return None
    return model.model_id


def model_id_of(model: object) -> str | None:
    """The LoggedModel id of a loaded pyfunc model (``runs:/`` URIs logged in MLflow 3)."""
    return getattr(getattr(model, "metadata", None), "model_id", None) or None


def merged_tags(current: Mapping[str, str], report: Report) -> dict[str, str]:
    """``current`` sanity tags merged with ``report``: each finding keeps its worst severity."""
    found = verdict_of(report)
    severities = {
        key[len(FINDING_TAG) :]: value
        for key, value in current.items()
        if key.startswith(FINDING_TAG) and value in ("warn", "fail")
    }
    for f in found.flagged:
        severities[f.id] = _worst(severities.get(f.id), f.severity.value)
    status = _worst(current.get(STATUS_TAG), found.status, *severities.values())
    tags = {
        STATUS_TAG: status,
        FINDINGS_TAG: ",".join(sorted(severities)),
        VERSION_TAG: __version__,
    }
    task = merge_tasks(current.get(tag_names.TASK, ""), report.task)
    if task:
        tags[tag_names.TASK] = task
    tags.update({f"{FINDING_TAG}{k}": v for k, v in severities.items()})
    if found.corrected:  # names the call when the run holds several
        tags[CORRECTED_TAG] = clip_tag(found.corrected)
    return tags


def model_verdict(tags: Mapping[str, str], report: Report) -> Report:
    """The merged verdict (``merged_tags``) as a report to describe: each flagged finding at
    its worst severity, in ``report``'s words when it raised it, else as raised earlier
    (the tags keep a finding's severity, not its words)."""
    worst = {
        key[len(FINDING_TAG) :]: Severity(value)
        for key, value in tags.items()
        if key.startswith(FINDING_TAG)
    }
    own = {f.id: f for f in report.flagged}
    earlier = "raised by an earlier check of this model; see its source run's sanity/report.html"
    findings = [f for f in report.findings if f.id not in worst]
    findings += [
        replace(own[fid], severity=severity) if fid in own else Finding(fid, severity, earlier)
        for fid, severity in sorted(worst.items())
    ]
    return replace(report, findings=findings, tables={})


def tag_model(
    model_id: str,
    report: Report,
    client: MlflowClient | None = None,
    run_id: str | None = None,
) -> str | None:
    """Put the verdict on a LoggedModel (merged with what it carries) as tags, as the
    description section and as the metrics ``sanity/status_level``/``sanity/flagged_count``
    (filed through ``run_id``, the run the report was logged to; else the model's source
    run). Returns its status, or None when the model cannot be tagged (a warning, never an
    error: the run has the verdict)."""
    client = client_or_default(client)
    # the run carries the verdict either way; a bug of ours is red in the suite
    with Caught(Origin.OURS, outside=budget.is_tracking_error) as caught:
        model = client.get_logged_model(model_id)
        current = model.tags or {}
        tags = merged_tags(current, report)
        described = with_note(current.get(NOTE_TAG), model_verdict(tags, report))
        tags[NOTE_TAG] = clip_tag(described)
        client.set_logged_model_tags(model_id, tags)
        verdict_metrics.log_model_values(client, model, tags, run_id)
    if caught.error is not None:
        _log.warning("mlflow-sanity: could not tag logged model %s: %s", model_id, caught.error)
        return None
    return tags[STATUS_TAG]


def search_checked_models(
    experiments: Iterable[str], status: str | None, max_results: int
) -> list[mlflow.entities.LoggedModel]:
    """LoggedModels with a ``sanity.status`` tag (only ``status`` when given), in the named
    experiments (all experiments the server lists when none)."""
    client = MlflowClient()
    names = list(experiments)
    if names:
        ids = existing_experiment_ids(names, client)
    else:
        ids = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    query = f"tags.`{STATUS_TAG}` = '{status}'" if status else f"tags.`{STATUS_TAG}` != ''"
    return list(
        mlflow.search_logged_models(
            experiment_ids=ids, filter_string=query, max_results=max_results, output_format="list"
        )
    )


_VERSION_URI = re.compile(r"^models:/(?P<name>[^@]+?)/(?P<version>\d+)/?$")
_ALIAS_URI = re.compile(r"^models:/(?P<name>[^@/]+)@(?P<alias>[^/]+)/?$")
_LOGGED_URI = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]+)/?$")


@dataclass
class Verdict:
    """What the gate reads: the worst status of the sources (a run and/or a LoggedModel)."""

    subject: str
    status: str | None = None  # None: nothing it points at was ever checked
    findings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "run <id>: fail", ...
    version: tuple[str, str] | None = None  # (name, version) of a registered version
    coverages: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> str | None:
        """``full`` when every checked source was fully checked, else what was not."""
        if not self.coverages:
            return None
        partial = [c for c in self.coverages if c != "full"]
        return "; ".join(partial) if partial else "full"

    def add(self, what: str, tags: Mapping[str, str]) -> None:
        status = tags.get(STATUS_TAG)
        if status not in ("pass", "warn", "fail"):
            self.sources.append(f"{what}: never checked")
            return
        coverage = tags.get(tag_names.COVERAGE)
        if coverage:
            self.coverages.append(coverage)
        self.status = _worst(self.status, status)
        found = [f for f in (tags.get(FINDINGS_TAG) or "").split(",") if f]
        self.findings = sorted(set(self.findings) | set(found))
        self.sources.append(f"{what}: {status}")


def _run_tags(client: MlflowClient, run_id: str) -> dict[str, str]:
    try:
        return dict(client.get_run(run_id).data.tags)
    except MlflowException as exc:
        raise ModelLookupError(f"cannot read run {run_id}: {exc.message}") from None


def _model_tags(client: MlflowClient, model_id: str) -> dict[str, str]:
    try:
        return dict(client.get_logged_model(model_id).tags or {})
    except MlflowException as exc:
        raise ModelLookupError(f"cannot read logged model {model_id}: {exc.message}") from None


def is_model_uri(target: str) -> bool:
    return target.startswith("models:/")


def resolve_version(uri: str, client: MlflowClient | None = None):
    """The registered ``ModelVersion`` a ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` is."""
    client = client_or_default(client)
    by_version, by_alias = _VERSION_URI.match(uri), _ALIAS_URI.match(uri)
    try:
        if by_version:
            return client.get_model_version(by_version["name"], by_version["version"])
        if by_alias:
            return client.get_model_version_by_alias(by_alias["name"], by_alias["alias"])
    except MlflowException as exc:
        raise ModelLookupError(f"{uri}: {exc.message}") from None
    raise ModelLookupError(
        f"{uri!r} is not models:/NAME/VERSION, models:/NAME@ALIAS or models:/m-<id>"
    )


def verdict(target: str, client: MlflowClient | None = None) -> Verdict:
    """The verdict on a run id, a registered version (its source LoggedModel and run) or a
    LoggedModel. Raises ``ModelLookupError`` when it does not exist."""
    client = client_or_default(client)
    out = Verdict(target)
    if not is_model_uri(target):
        out.add(f"run {target}", _run_tags(client, target))
        return out
    logged = _LOGGED_URI.match(target)
    if logged:
        model_id = logged["model_id"]
        tags = _model_tags(client, model_id)
        out.add(f"logged model {model_id}", tags)
        return out
    mv = resolve_version(target, client)
    out.version = (mv.name, str(mv.version))
    model_id = getattr(mv, "model_id", None)
    if model_id:
        out.add(f"logged model {model_id}", _model_tags(client, model_id))
    if mv.run_id:
        out.add(f"run {mv.run_id}", _run_tags(client, mv.run_id))
    return out


def tag_version(uri: str, client: MlflowClient | None = None) -> Verdict:
    """Copy the verdict of a registered version's source model/run onto the version."""
    client = client_or_default(client)
    found = verdict(uri, client)
    if found.version is None:
        raise ModelLookupError(f"{uri!r} is not a registered model version")
    if found.status is not None:
        name, version = found.version
        for key, value in (
            (STATUS_TAG, found.status),
            (FINDINGS_TAG, ",".join(found.findings)),
            (VERSION_TAG, __version__),
        ):
            client.set_model_version_tag(name, version, key, value)
    return found

"""One way to publish a report: the run, its LoggedModel, its digests, or the spool.

Every entry point (the fit and ``model.evaluate`` hooks, the ``sanity`` evaluator, the seed
runner, the CLI) hands its finished report here, with its files and a ``Target``:

1. ``log_report`` merges it into the run's earlier report and logs tags, metrics, the
   description and ``sanity/report.{json,html}`` (``tracking/reports.py``);
2. the LoggedModel it is about gets the merged verdict (``models.tag_model``); a fit's
   configuration/data digests (``groups.digest_tags``) ride in step 1's one ``log_batch``
   with the verdict's tags and metrics, and the files go up in one ``log_artifacts``;
3. from inside the user's call (``offline="spool"``) all of it runs under the short HTTP
   budget (``tracking/budget.py``), and when the server cannot be reached the report, its
   files and the target are saved to the spool (``tracking/spool.py``) instead; ``mlflow-sanity
   sync`` replays them through this same function later. A command the user runs
   (``offline="raise"``: the CLI, the seed runner) reports the failure instead.

So adding an entry point means: build the report, pick the ``Target``, call ``publish``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import mlflow
from mlflow.tracking import MlflowClient

from mlflow_sanity.core.boundary import Caught, Origin, on_error
from mlflow_sanity.core.findings import Report
from mlflow_sanity.tracking import budget, runs, spool

_log = logging.getLogger(__name__)

Offline = Literal["spool", "raise"]


@dataclass(frozen=True)
class Target:
    """Where a report goes: a run (or a spool key ``pending-…`` when no run could be
    created), and the LoggedModel it is about (its metrics link to it; it gets the tags)."""

    run_id: str
    model_id: str | None = None


@dataclass(frozen=True)
class _How:
    """``publish``'s options, as ``log_report`` and the extras take them."""

    what: str
    scope: str | None
    step: int
    digests: dict[str, str] | None
    dataset: dict[str, str | None] | None
    log_metrics: bool
    rejudged: tuple[str, ...]

    def replay(self, target: Target) -> dict[str, Any]:
        """What ``sync`` needs besides the report to publish it as it would have been."""
        return {
            "model_id": target.model_id,
            "digests": dict(self.digests or {}),
            "dataset": self.dataset,
            "log_metrics": self.log_metrics,
            "rejudged": list(self.rejudged),
        }


def publish(
    report: Report,
    files: Mapping[str, bytes] | None,
    target: Target,
    *,
    what: str,
    scope: str | None = None,
    step: int = 0,
    digests: Mapping[str, str] | None = None,
    dataset: Mapping[str, str | None] | None = None,
    log_metrics: bool = True,
    rejudged: Iterable[str] = (),
    offline: Offline = "spool",
    client: MlflowClient | None = None,
) -> Report:
    """Log ``report`` (and ``files``) to ``target``; return the run's merged report.

    ``what`` names the call in messages (``"fit"``, ``"evaluate"``, ``"mlflow.models.evaluate"``);
    ``scope``, ``step``, ``dataset``, ``log_metrics`` and ``rejudged`` are ``log_report``'s
    (numbered calls, metric names after the data, re-judged findings). ``digests``
    (``{"config", "data"}``) tag a fit's run for ``mlflow-sanity variance``.

    ``offline="spool"``: under the budget; when the server cannot be reached the report is
    spooled with a ``SpoolWarning`` and returned unmerged (its run's earlier report is
    not known). ``offline="raise"``: MLflow's own retries, and its errors propagate.
    """
    how = _How(
        what,
        scope,
        step,
        dict(digests) if digests else None,
        dict(dataset) if dataset is not None else None,
        log_metrics,
        tuple(sorted(set(rejudged))),
    )
    if offline == "raise":
        return _log_all(report, files, target, how, client)
    uri = client.tracking_uri if client is not None else mlflow.get_tracking_uri()
    if spool.is_pending(target.run_id):
        reason = "no run could be created"
    elif not budget.reachable(uri):
        reason = "the server did not answer"
    else:
        # only an unreachable server is spooled; the rest raises
        with Caught(Origin.OUTSIDE, only=budget.is_connection_error) as caught, budget.bounded():
            return _log_all(report, files, target, how, client)
        reason = f"logging failed: {type(caught.error).__name__}"
    _spool(report, files, target, how, uri, reason)
    return report


def _spool(
    report: Report,
    files: Mapping[str, bytes] | None,
    target: Target,
    how: _How,
    uri: str,
    reason: str,
) -> None:
    """Keep the report for ``mlflow-sanity sync``, and say where, once."""
    path = spool.write_entry(
        target.run_id,
        report,
        files,
        scope=how.scope,
        step=how.step,
        what=how.what,
        uri=uri,
        replay=how.replay(target),
    )
    warnings.warn(
        f"mlflow-sanity: the tracking server {uri} could not be reached ({reason}); "
        f"this {how.what}'s report was saved to {path}. Upload it later with "
        "`mlflow-sanity sync`.",
        spool.SpoolWarning,
        stacklevel=3,  # publish's caller, as before
    )


def publish_to_new_run(
    report: Report,
    files: Mapping[str, bytes] | None,
    *,
    what: str,
    experiment: str | None = None,
    run_name: str | None = None,
) -> str:
    """``publish`` into a fresh run, for results that have no training run (``check-split
    --log``); the run id. ``experiment`` is a name (created when missing); by default the
    one ``MLFLOW_EXPERIMENT_ID``/``MLFLOW_EXPERIMENT_NAME`` names, else the default one.
    MLflow's errors propagate; the run is then ended as FAILED."""
    client = MlflowClient()
    run_id = runs.new_run(client, experiment, run_name)
    with on_error(lambda _: runs.terminate(client, run_id, "FAILED")):
        publish(report, files, Target(run_id), what=what, offline="raise", client=client)
    runs.terminate(client, run_id)
    return run_id


def replay(
    run_id: str,
    report: Report,
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    client: MlflowClient,
) -> Report:
    """Publish one spooled entry (``sync.sync``) to ``run_id`` as ``publish`` would have
    when the server answered; entries spooled before the manifest had ``replay`` log the
    report only, as they did then."""
    extra = manifest.get("replay")
    extra = extra if isinstance(extra, Mapping) else {}
    model_id, dataset, digests = extra.get("model_id"), extra.get("dataset"), extra.get("digests")
    scope = manifest.get("scope")
    return publish(
        report,
        files,
        Target(run_id, str(model_id) if model_id else None),
        what=str(manifest.get("what") or "fit"),
        scope=str(scope) if scope else None,
        step=int(manifest.get("step") or 0),
        digests=dict(digests) if isinstance(digests, Mapping) else None,
        dataset=dict(dataset) if isinstance(dataset, Mapping) else None,
        log_metrics=bool(extra.get("log_metrics", True)),
        rejudged=[str(r) for r in extra.get("rejudged") or ()],
        offline="raise",
        client=client,
    )


def _log_all(
    report: Report,
    files: Mapping[str, bytes] | None,
    target: Target,
    how: _How,
    client: MlflowClient | None,
) -> Report:
    from mlflow_sanity.tracking.groups import digest_tags
    from mlflow_sanity.tracking.reports import log_report

    # one log_batch carries the run's verdict tags, its metrics and a fit's digest tags
    merged = log_report(
        target.run_id,
        report,
        files,
        client=client,
        step=how.step,
        scope=how.scope,
        model_id=target.model_id,
        dataset=how.dataset,
        log_metrics=how.log_metrics,
        rejudged=how.rejudged,
        extra_tags=digest_tags(how.digests) if how.digests else None,  # a fit's
    )
    _extras(report, target, client, how.what)
    return merged


def _extras(report: Report, target: Target, client: MlflowClient | None, what: str) -> None:
    """The LoggedModel's tags and verdict metrics, after the run has the verdict."""
    from mlflow_sanity.tracking.models import tag_model

    if not target.model_id:
        return
    # the run carries the verdict: the extras never cost it (a bug of ours: strict raises)
    with Caught(Origin.OURS, outside=budget.is_tracking_error) as caught:
        tag_model(target.model_id, report, client=client, run_id=target.run_id)
    if caught.error is not None:
        _log.warning(
            "mlflow-sanity: logged the %s report, but not its extras: %s", what, caught.error
        )

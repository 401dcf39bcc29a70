"""Reading checked runs and models: ``runs``, ``report``, ``gate``, ``tag-version``, ``sync``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from mlflow_sanity.cli.app import _KEY_METRICS, _outside, main
from mlflow_sanity.core import tag_names
from mlflow_sanity.core.findings import Severity


@main.command()
@click.option("--experiment", "-e", "experiments", multiple=True, help="Experiment name(s).")
@click.option("--status", type=click.Choice(["fail", "warn", "pass"]), help="Only this status.")
@click.option("--max-results", default=50, show_default=True)
@click.option("--models", "models", is_flag=True, help="List logged models (MLflow 3) instead.")
@click.option(
    "--group", "group", is_flag=True, help="Group runs of one configuration and data set."
)
def runs(
    experiments: tuple[str, ...], status: str | None, max_results: int, models: bool, group: bool
) -> None:
    """List checked runs with their status, findings and key metrics."""
    from mlflow_sanity.tracking.queries import search_checked_runs

    if models:
        _list_models(experiments, status, max_results)
        return
    if group:
        _list_groups(experiments, status)
        return

    with _outside("could not search runs"):  # unreachable server, bad experiment name
        found = search_checked_runs(experiments, status, max_results)
    if found.empty:
        click.echo("no checked runs found")
        return
    table = pd.DataFrame(
        {
            "run_id": found["run_id"],
            "name": found.get("tags.mlflow.runName", ""),
            "status": found[f"tags.{tag_names.STATUS}"],
            "findings": found.get(f"tags.{tag_names.FINDINGS}", "").fillna(""),
        }
    )
    for name in _KEY_METRICS:
        column = f"metrics.sanity/{name}"
        if column in found:
            table[name] = found[column].round(3)
    click.echo(table.to_string(index=False, na_rep="-"))


@main.command()
@click.argument("run_id")
@click.option("--all", "show_all", is_flag=True, help="Also list checks that passed.")
def report(run_id: str, show_all: bool) -> None:
    """Print a run's findings, readable in a terminal."""
    from mlflow_sanity.report.markdown import terminal_summary
    from mlflow_sanity.tracking.reports import read_report

    rep = _load(run_id, read_report)
    click.echo(f"run {run_id}")
    click.echo(terminal_summary(rep))
    if show_all:
        for f in sorted(rep.findings, key=lambda f: f.id):
            if not f.severity.flagged:
                click.echo(f"  [{f.severity.value:4}] {f.id}: {f.message}")
    shown = {k: rep.metrics[k] for k in _KEY_METRICS if k in rep.metrics}
    if shown:
        click.echo("  " + "  ".join(f"{k}={v:.3f}" for k, v in shown.items()))


@main.command()
@click.argument("run_id")
@click.option(
    "--fail-on",
    type=click.Choice(["warn", "fail"]),
    default="fail",
    show_default=True,
    help="Lowest status that fails the gate.",
)
@click.option(
    "--require-full-coverage",
    is_flag=True,
    help="Also fail when some data could not be checked (tag sanity.coverage is partial).",
)
def gate(run_id: str, fail_on: str, require_full_coverage: bool) -> None:
    """Exit 1 when the sanity status is at or above --fail-on (for CI pipelines).

    RUN_ID is a run id, a registered version (models:/NAME/VERSION or models:/NAME@ALIAS:
    its source LoggedModel and run are read, the worst counts) or a logged model
    (models:/m-...). Exit codes: 0 gate passed, 1 gate failed, 2 missing or never checked.
    """
    from mlflow_sanity.tracking.models import ModelLookupError, is_model_uri, verdict

    what = run_id if is_model_uri(run_id) else f"run {run_id}"
    with _outside(f"cannot read {what}", code=2):
        try:
            found = verdict(run_id)
        except ModelLookupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    status = found.status
    if status not in ("pass", "warn", "fail"):
        never = "; ".join(found.sources) or "nothing to read"
        click.echo(
            f"error: {what} has no sanity.status tag: it was never checked ({never})", err=True
        )
        sys.exit(2)
    findings = ",".join(found.findings) or "none"
    sources = "; ".join(found.sources)
    if Severity(status).level >= Severity(fail_on).level:
        click.echo(f"gate FAILED: {what} is {status} ({findings})")
        if is_model_uri(run_id):
            click.echo(f"  {sources}")
        sys.exit(1)
    coverage = found.coverage
    if require_full_coverage and coverage != "full":
        why = coverage or "unknown (no sanity.coverage tag: checked by an older version)"
        click.echo(f"gate FAILED: {what} is {status} but its coverage is {why}")
        sys.exit(1)
    shown = f", coverage: {coverage}" if coverage else ""
    click.echo(f"gate passed: {what} is {status} (findings: {findings}{shown})")
    if is_model_uri(run_id):
        click.echo(f"  {sources}")


@main.command("tag-version")
@click.argument("model_uri")
def tag_version(model_uri: str) -> None:
    """Copy the verdict onto a registered version as sanity.status / sanity.findings tags.

    MODEL_URI is models:/NAME/VERSION or models:/NAME@ALIAS; the verdict is the worst of
    the version's source LoggedModel and run. Exit 2 when it is missing or never checked.
    """
    from mlflow_sanity.tracking.models import ModelLookupError, tag_version

    with _outside(f"cannot tag {model_uri}", code=2):
        try:
            found = tag_version(model_uri)
        except ModelLookupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    if found.status is None:
        click.echo(f"error: {model_uri} was never checked ({'; '.join(found.sources)})", err=True)
        sys.exit(2)
    name, version = found.version
    findings = ",".join(found.findings) or "none"
    click.echo(f"tagged {name} version {version}: sanity.status={found.status} ({findings})")


def _list_models(experiments: tuple[str, ...], status: str | None, max_results: int) -> None:
    from mlflow_sanity.tracking.models import search_checked_models

    with _outside("could not search logged models"):
        try:
            found = search_checked_models(experiments, status, max_results)
        except LookupError as exc:  # an unknown experiment name
            raise click.ClickException(str(exc)) from None
    if not found:
        click.echo("no checked logged models found")
        return
    rows = []
    for m in found:
        tags = m.tags or {}
        metrics = {x.key: x.value for x in (m.metrics or [])}
        row = {
            "model_id": m.model_id,
            "name": m.name,
            "run_id": m.source_run_id or "-",
            "status": tags.get(tag_names.STATUS, ""),
            "findings": tags.get(tag_names.FINDINGS, ""),
        }
        for name in _KEY_METRICS[:2]:
            value = metrics.get(f"sanity/{name}")
            row[name] = round(value, 3) if value is not None else None
        rows.append(row)
    click.echo(pd.DataFrame(rows).to_string(index=False, na_rep="-"))


def _list_groups(experiments: tuple[str, ...], status: str | None) -> None:
    from mlflow_sanity.tracking.groups import find_groups

    if not experiments:
        raise click.UsageError("--group needs --experiment NAME")
    with _outside("could not search runs"):
        groups = find_groups(experiments)
    rows = []
    for g in groups:
        for run in g.runs:
            rows.append(
                {
                    "group": g.key,
                    "size": len(g.runs),
                    "run_id": run.run_id,
                    "name": run.name,
                    "accuracy": run.metrics.get("sanity/accuracy"),
                }
            )
    if not rows:
        click.echo("no runs with a sanity.config_digest tag (train with mlflow_sanity.autolog())")
        return
    table = pd.DataFrame(rows)
    table["accuracy"] = table["accuracy"].round(3)
    click.echo(table.to_string(index=False, na_rep="-"))


@main.command()
@click.option(
    "--spool",
    "spool_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The spool folder [default: $MLFLOW_SANITY_SPOOL, else ~/.cache/mlflow-sanity/spool].",
)
@click.option(
    "--to",
    "target_uri",
    default=None,
    help="Send every spooled report to this tracking URI instead of the one it was meant for.",
)
@click.option("--list", "list_only", is_flag=True, help="Only list what is spooled.")
def sync(spool_dir: Path | None, target_uri: str | None, list_only: bool) -> None:
    """Upload reports spooled while the tracking server was unreachable.

    Each report goes to its run (a run that could not be created then is created now)
    and leaves the spool once uploaded: running sync again uploads nothing twice.
    Exit codes: 0 everything uploaded (or nothing to do), 1 something stays spooled.
    """
    from mlflow_sanity.tracking import spool
    from mlflow_sanity.tracking import sync as syncing

    root = spool_dir or spool.spool_root()
    items = spool.pending(root)
    if not items:
        click.echo(f"nothing to sync in {root}")
        return
    if list_only:
        for item in items:
            where = item.meta.get("run_id") or "(run created at sync)"
            uri = item.meta.get("tracking_uri")
            click.echo(f"{item.key}: {len(item.entries)} report(s) for run {where} at {uri}")
        return
    failed = False
    for result in syncing.sync(root, target_uri):
        if result.error:
            failed = True
            click.echo(f"{result.key}: kept in the spool: {result.error}", err=True)
        else:
            click.echo(
                f"{result.key}: {result.uploaded} report(s) uploaded to run {result.run_id} "
                f"at {result.tracking_uri}"
            )
    if failed:
        sys.exit(1)


def _load(run_id: str, read_report):
    with _outside(f"cannot read run {run_id}"):  # unknown run, unreachable server
        rep = read_report(run_id)
    if rep is None:
        raise click.ClickException(f"run {run_id} has no sanity report (sanity/report.json)")
    return rep

"""The ``mlflow-sanity`` command: browse flagged runs, print reports, gate CI.

Everything goes through MLflow's search/REST client, so it works against any
tracking server that ``MLFLOW_TRACKING_URI`` points at.
"""

from __future__ import annotations

import sys

import click

from mlflow_sanity import __version__

_RANK = {"pass": 0, "warn": 1, "fail": 2}
_KEY_METRICS = ("accuracy", "balanced_accuracy", "mcc", "min_class_recall")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-sanity")
def main() -> None:
    """Sanity checks for Keras + MLflow classifiers."""


@main.command()
@click.option("--experiment", "-e", "experiments", multiple=True, help="Experiment name(s).")
@click.option("--status", type=click.Choice(["fail", "warn", "pass"]), help="Only this status.")
@click.option("--max-results", default=50, show_default=True)
def runs(experiments: tuple[str, ...], status: str | None, max_results: int) -> None:
    """List checked runs with their status, findings and key metrics."""
    import mlflow
    import pandas as pd

    query = f"tags.`sanity.status` = '{status}'" if status else "tags.`sanity.status` != ''"
    try:
        if experiments:
            found = mlflow.search_runs(
                experiment_names=list(experiments), filter_string=query, max_results=max_results
            )
        else:
            found = mlflow.search_runs(
                search_all_experiments=True, filter_string=query, max_results=max_results
            )
    except Exception as exc:  # unreachable server, bad experiment name, ...
        raise click.ClickException(f"could not search runs: {exc}") from None
    if found.empty:
        click.echo("no checked runs found")
        return
    table = pd.DataFrame(
        {
            "run_id": found["run_id"],
            "name": found.get("tags.mlflow.runName", ""),
            "status": found["tags.sanity.status"],
            "findings": found.get("tags.sanity.findings", "").fillna(""),
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
    from mlflow_sanity.mlflow_log import read_report
    from mlflow_sanity.report.markdown import terminal_summary

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
def gate(run_id: str, fail_on: str) -> None:
    """Exit 1 when the run's sanity status is at or above --fail-on (for CI pipelines).

    Exit codes: 0 gate passed, 1 gate failed, 2 run missing or never checked.
    """
    from mlflow.tracking import MlflowClient

    try:
        tags = MlflowClient().get_run(run_id).data.tags
    except Exception as exc:
        click.echo(f"error: cannot read run {run_id}: {exc}", err=True)
        sys.exit(2)
    status = tags.get("sanity.status")
    if status not in _RANK:
        click.echo(f"error: run {run_id} has no sanity.status tag: it was never checked", err=True)
        sys.exit(2)
    findings = tags.get("sanity.findings") or "none"
    if _RANK[status] >= _RANK[fail_on]:
        click.echo(f"gate FAILED: run {run_id} is {status} ({findings})")
        sys.exit(1)
    click.echo(f"gate passed: run {run_id} is {status} (findings: {findings})")


def _load(run_id: str, read_report):
    try:
        rep = read_report(run_id)
    except Exception as exc:
        raise click.ClickException(f"cannot read run {run_id}: {exc}") from None
    if rep is None:
        raise click.ClickException(f"run {run_id} has no sanity report (sanity/report.json)")
    return rep

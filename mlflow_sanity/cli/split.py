"""``check-split``: leakage between two data files (``adapters/split_files.py``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from mlflow_sanity.cli.app import _outside, main


def _parse_thresholds(items: tuple[str, ...]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        check_id, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise click.UsageError(f"--threshold {item!r}: expected FINDING_ID.NAME=VALUE")
        try:
            out.setdefault(check_id, {})[name] = float(value)
        except ValueError:
            raise click.UsageError(f"--threshold {item!r}: {value!r} is not a number") from None
    return out


@main.command("check-split")
@click.option(
    "--train",
    "train_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Training data: CSV (or .parquet) with the target column.",
)
@click.option(
    "--test",
    "test_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Evaluation data with the same columns.",
)
@click.option("--target", required=True, help="Name of the label column.")
@click.option("--log", "log", is_flag=True, help="Record the findings in an MLflow run.")
@click.option(
    "--run-id", default=None, help="With --log: the run to log into (default: a new run)."
)
@click.option("--experiment", default=None, help="With --log: experiment name for the new run.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="ID.NAME=VALUE",
    help="Override a documented threshold, e.g. train_test_overlap.fail_share=0.1.",
)
@click.option("--disable", multiple=True, metavar="ID", help="Skip a finding id.")
@click.option(
    "--fail-on",
    type=click.Choice(["fail", "warn", "never"]),
    default="fail",
    show_default=True,
    help="Exit with status 1 at this severity or worse.",
)
def check_split(
    train_path: Path,
    test_path: Path,
    target: str,
    log: bool,
    run_id: str | None,
    experiment: str | None,
    thresholds: tuple[str, ...],
    disable: tuple[str, ...],
    fail_on: str,
) -> None:
    """Check a train/test split for leakage, from data alone.

    Looks for evaluation rows copied from the training data (exact or within float
    tolerance), evaluation data that is the training data, scaling fitted before the
    split, and single features that predict the label.
    """
    from mlflow_sanity.adapters import split_files
    from mlflow_sanity.checks import checks_in
    from mlflow_sanity.report.markdown import terminal_summary

    with _file_problems():
        ctx, inputs = split_files.split_context(train_path, test_path, target)
    limits = _parse_thresholds(thresholds)
    try:
        report = split_files.check_split(ctx, inputs, limits, disable)
    except ValueError as exc:  # unknown finding ids or threshold names
        raise click.UsageError(str(exc)) from None
    click.echo(terminal_summary(report))
    flagged = {f.id for f in report.flagged}
    for f in sorted(report.findings, key=lambda f: f.id):
        if f.id in checks_in("leakage") and f.id not in flagged:
            click.echo(f"  [{f.severity.value:4}] {f.id}: {f.message}")
    if log:
        with _outside("could not log to MLflow"):  # the verdict was printed; say why, exit 1
            logged = split_files.log_split(ctx, report, run_id, experiment)
        click.echo(f"logged to MLflow run {logged}")
    worst = report.status
    if (fail_on == "fail" and worst == "fail") or (fail_on == "warn" and worst in ("warn", "fail")):
        sys.exit(1)


@contextlib.contextmanager
def _file_problems() -> Iterator[None]:
    """A data file that cannot be used: the option's usage error, or a message."""
    from mlflow_sanity.adapters.split_files import FileProblem

    try:
        yield
    except FileProblem as exc:
        if exc.usage:
            raise click.UsageError(str(exc)) from None
        raise click.ClickException(str(exc)) from None

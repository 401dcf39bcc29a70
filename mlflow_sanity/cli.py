"""The ``mlflow-sanity`` command: browse flagged runs, print reports, gate CI.

Everything goes through MLflow's search/REST client, so it works against any
tracking server that ``MLFLOW_TRACKING_URI`` points at.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pandas as pd

from mlflow_sanity._version import __version__
from mlflow_sanity.core import tag_names
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.findings import Severity

_KEY_METRICS = ("accuracy", "balanced_accuracy", "mcc", "min_class_recall")


@contextlib.contextmanager
def _outside(prefix: str, code: int = 1) -> Iterator[None]:
    """An unreachable server, an unknown run...: ``prefix: why`` and exit ``code`` (1 or 2),
    not a traceback. The command's own exits and messages pass through."""
    with Caught(Origin.OUTSIDE, only=lambda e: not isinstance(e, click.ClickException)) as c:
        yield
    if c.error is not None:
        if code == 1:
            raise click.ClickException(f"{prefix}: {c.error}") from None
        click.echo(f"error: {prefix}: {c.error}", err=True)
        sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-sanity")
def main() -> None:
    """Sanity checks for Keras + MLflow classifiers."""


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
@click.option("--experiment", "-e", "experiments", multiple=True, required=True)
@click.option(
    "--metric",
    default="accuracy",
    show_default=True,
    help="The sanity/ metric to judge (the fit's validation data).",
)
@click.option("--min-runs", default=3, show_default=True, help="Smallest group that is judged.")
@click.option("--log", "log", is_flag=True, help="Write the verdict to each run of a group.")
def variance(experiments: tuple[str, ...], metric: str, min_runs: int, log: bool) -> None:
    """Judge the seed spread of runs already logged, without re-training.

    Finished runs with equal sanity.config_digest and sanity.data_digest tags (written
    by mlflow_sanity.autolog()) are one configuration trained again: their spread on
    sanity/METRIC is judged by the seed_variance check. Groups smaller than --min-runs
    are listed as too small, never judged.
    """
    from mlflow_sanity.tracking.groups import find_groups

    if min_runs < 3:
        raise click.UsageError("--min-runs must be at least 3")
    with _outside("could not search runs"):
        groups = find_groups(experiments)
    if not groups:
        click.echo("no runs with a sanity.config_digest tag (train with mlflow_sanity.autolog())")
        return
    for g in groups:
        values = g.values(f"sanity/{metric}")
        head = f"group {g.key}: {len(g.runs)} run(s)"
        if len(values) < min_runs:
            click.echo(
                f"{head}: too small to judge ({len(values)} with sanity/{metric}; "
                f"at least {min_runs} needed)"
            )
            continue
        report, line = _judge_group(g, values, metric)
        click.echo(f"{head}\n  {line}")
        f = report.get("seed_variance")
        if f is not None:
            click.echo(f"  [{f.severity.value}] seed_variance: {f.message}")
        if log:
            _log_group(g, report)
            click.echo(f"  verdict written to {len(g.runs)} run(s)")


def _judge_group(group, values: dict[str, float], metric: str):
    """The seed_variance verdict on a group's values (the majority baseline as reference)."""
    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.seed_stats import SeedResults, higher_is_better, spread
    from mlflow_sanity.pipeline import build_report

    baselines = group.values("sanity/majority_baseline_accuracy")
    per_run = {}
    for i, (run_id, value) in enumerate(values.items()):
        row = {metric: value}
        if run_id in baselines:
            row["majority_baseline_accuracy"] = baselines[run_id]
        per_run[i] = row
    results = SeedResults(metric=metric, values=per_run, higher_is_better=higher_is_better(metric))
    report = build_report(
        Context(seeds=results),
        source="variance",
        inputs={"group": group.key, "runs": list(values), "metric": metric},
    )
    sp = spread(values.values())
    best = max(values.values()) if results.higher_is_better else min(values.values())
    inside = abs(best - sp.mean) <= 2 * sp.std
    report.metrics.update(
        {k.replace("seed/", "group/", 1): v for k, v in sp.as_metrics(metric).items()}
    )
    line = (
        f"{len(values)} runs of this configuration: val {metric.replace('_', ' ')} "
        f"{sp.mean:.2f} ± {sp.std:.2f}; the best run ({best:.2f}) is "
        + ("inside the noise" if inside else "more than 2 standard deviations from the mean")
    )
    return report, line


def _log_group(group, report) -> None:
    from mlflow_sanity.tracking.publish import Target, publish

    for run in group.runs:
        with _outside(f"could not log to run {run.run_id}"):  # unreachable, deleted run
            # the group grew since its last judgement: the new verdict replaces the old
            publish(
                report,
                None,
                Target(run.run_id),
                what="variance",
                rejudged=["seed_variance"],
                offline="raise",
            )


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
    for result in spool.sync(root, target_uri):
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


def _read_table(path: Path, option: str) -> pd.DataFrame:
    """A CSV (or Parquet, by extension) file, or a clear error naming the option."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise click.UsageError(f"{option}: no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise click.UsageError(f"{option}: {str(path)!r} is a directory, not a file") from None
    except pd.errors.EmptyDataError:
        raise click.ClickException(f"{option}: {str(path)!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"{option}: cannot read {str(path)!r}: {first}") from None


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
    from mlflow_sanity.checks import checks_in
    from mlflow_sanity.pipeline import build_report
    from mlflow_sanity.report.markdown import terminal_summary

    ctx, inputs = _split_context(train_path, test_path, target)
    try:
        report = build_report(
            ctx,
            thresholds=_parse_thresholds(thresholds),
            disable=disable,
            source="check-split",
            inputs=inputs,
        )
    except ValueError as exc:  # unknown finding ids or threshold names
        raise click.UsageError(str(exc)) from None
    click.echo(terminal_summary(report))
    flagged = {f.id for f in report.flagged}
    for f in sorted(report.findings, key=lambda f: f.id):
        if f.id in checks_in("leakage") and f.id not in flagged:
            click.echo(f"  [{f.severity.value:4}] {f.id}: {f.message}")
    if log:
        click.echo(f"logged to MLflow run {_log_split(ctx, report, run_id, experiment)}")
    worst = report.status
    if (fail_on == "fail" and worst == "fail") or (fail_on == "warn" and worst in ("warn", "fail")):
        sys.exit(1)


def _split_context(train_path: Path, test_path: Path, target: str):
    """The two files as a check ``Context`` (train and test splits) and the report's inputs."""
    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.splits import Split

    train = _read_table(train_path, "--train")
    test = _read_table(test_path, "--test")
    for option, frame, path in (("--train", train, train_path), ("--test", test, test_path)):
        if target not in frame.columns:
            cols = ", ".join(map(str, list(frame.columns)[:20]))
            raise click.UsageError(
                f"--target {target!r} is not a column of {option} file {str(path)!r}; "
                f"its columns are: {cols}"
            )
    x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
    _check_same_features(list(x_train.columns), list(x_test.columns))
    if x_train.empty or x_test.empty:
        raise click.ClickException("train and test need at least one row and one feature column")
    ctx = Context(
        train=Split(x_train, train[target].to_numpy(), "train"),
        test=Split(x_test[list(x_train.columns)], test[target].to_numpy(), "test"),
    )
    inputs = {
        "train": str(train_path),
        "test": str(test_path),
        "target": target,
        "train_rows": len(train),
        "test_rows": len(test),
        "n_features": x_train.shape[1],
    }
    return ctx, inputs


def _check_same_features(train_columns: list, test_columns: list) -> None:
    missing = [c for c in train_columns if c not in test_columns]
    extra = [c for c in test_columns if c not in train_columns]
    if missing or extra:
        raise click.ClickException(
            "train and test have different feature columns: "
            + "; ".join(
                part
                for part in (
                    f"missing in --test: {missing[:10]}" if missing else "",
                    f"only in --test: {extra[:10]}" if extra else "",
                )
                if part
            )
        )


def _log_split(ctx, report, run_id: str | None, experiment: str | None) -> str:
    """Log the report and the training fingerprint to ``run_id``, or to a new run."""
    from mlflow_sanity.checks.leakage import training_fingerprint
    from mlflow_sanity.tracking.publish import Target, publish
    from mlflow_sanity.tracking.reports import log_to_new_run

    fp = training_fingerprint(ctx)
    files = fp[0].to_files("train") if fp else {}
    with _outside("could not log to MLflow"):  # the verdict was printed; say why, exit 1
        if run_id:
            publish(report, files, Target(run_id), what="check-split", offline="raise")
            return run_id
        return log_to_new_run(report, files, experiment=experiment, run_name="check-split")


class _UsageError(click.ClickException):
    """Bad input (unknown run, too few seeds): exit code 2, apart from the verdict codes."""

    exit_code = 2


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option(
    "--metric",
    default=None,
    help="Metric to compare [default: the metric run A's sweep judged, else accuracy].",
)
@click.option("--alpha", default=0.05, show_default=True, help="Significance level.")
@click.option(
    "--higher-is-better/--lower-is-better",
    "higher",
    default=None,
    help="Direction of the metric [default: lower for names with loss/error, else higher].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(
    run_a: str, run_b: str, metric: str | None, alpha: float, higher: bool | None, as_json: bool
) -> None:
    """Compare two multi-seed parent runs: is A better than B beyond seed noise?

    Reads the per-seed values from each parent's seed child runs, prints the
    probability that A beats B across seed pairs, a permutation test and a verdict.

    Exit code: 0 when A is significantly better than B, 1 otherwise (no significant
    difference, or B better), 2 on usage errors. In CI: `mlflow-sanity compare NEW OLD`.
    """
    import json

    from mlflow_sanity.core.seed_stats import compare_samples
    from mlflow_sanity.tracking.queries import RunReadError, load_seed_values, sweep_metric

    try:
        metric = metric or sweep_metric(run_a) or "accuracy"
        a, skipped_a = load_seed_values(run_a, metric)
        b, skipped_b = load_seed_values(run_b, metric)
    except RunReadError as exc:
        raise _UsageError(f"cannot read the runs: {exc}") from None
    for run_id, values in ((run_a, a), (run_b, b)):
        if len(values) < 2:
            raise _UsageError(
                f"run {run_id} has {len(values)} finished seed child run(s) with metric "
                f"{metric!r} (child runs tagged sanity.seed); at least 2 are needed"
            )
    try:
        result = compare_samples(
            list(a.values()), list(b.values()), metric=metric, higher=higher, alpha=alpha
        )
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if as_json:
        data = result.to_dict()
        data.update(run_a=run_a, run_b=run_b, values_a=a, values_b=b)
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        _print_comparison(result, alpha, ("A", run_a, a, skipped_a), ("B", run_b, b, skipped_b))
    raise SystemExit(0 if result.a_better else 1)


def _print_comparison(result, alpha: float, *sides: tuple) -> None:
    """The comparison for a terminal: each run's seeds and interval, the tests, the verdict."""
    direction = "higher" if result.higher_is_better else "lower"
    click.echo(f"metric: {result.metric} ({direction} is better), alpha={alpha:g}")
    for (label, run_id, values, skipped), sp in zip(sides, (result.a, result.b), strict=True):
        shown = " ".join(f"{v:.4f}" for v in values.values())
        click.echo(
            f"  {label} {run_id}: n={sp.n}  mean {sp.mean:.4f} ± {sp.std:.4f}  "
            f"95% CI [{sp.ci_low:.4f}, {sp.ci_high:.4f}]  seeds: {shown}"
            + (f"  ({len(skipped)} failed/incomplete child run(s) skipped)" if skipped else "")
        )
    kind = "exact" if result.exact else "Monte Carlo"
    click.echo(f"P(A beats B) across seed pairs: {result.p_a_beats_b:.2f}")
    click.echo(
        f"permutation test ({kind}, difference of means): p={result.p_value:.4g} for A "
        f"better, p={result.p_value_b_better:.4g} for B better"
    )
    click.echo(f"verdict: {result.verdict}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--entry-point", "-e", required=True, help="The entry point to run once per seed.")
@click.option(
    "--seeds", default="5", show_default=True, help="A count (5: seeds 0-4) or a list: 1,7,42."
)
@click.option("--project-uri", default=".", show_default=True, help="The project to run.")
@click.option("--backend", default="local", show_default=True, help="MLflow project backend.")
@click.option("--backend-config", default=None, help="Backend config: a JSON file or string.")
@click.option("--env-manager", default="local", show_default=True)
@click.option("--metric", default="", help="Headline metric [default: accuracy if logged].")
@click.option("--reference", default="", help="Score the result claims to beat.")
@click.option("-P", "--param", "params", multiple=True, help="KEY=VALUE passed to the entry point.")
@click.pass_context
def multiseed(
    ctx: click.Context,
    entry_point: str,
    seeds: str,
    project_uri: str,
    backend: str,
    backend_config: str | None,
    env_manager: str,
    metric: str,
    reference: str,
    params: tuple[str, ...],
) -> None:
    """Run an MLproject entry point once per seed as nested child runs, then aggregate.

    Parameters for the entry point come as -P KEY=VALUE or as extra --KEY VALUE options
    (how `mlflow run` passes parameters the multiseed entry point does not declare);
    the options above (metric, reference, backend, ...) are multiseed's own and are not
    passed on. Each child gets `seed` added. Exit code 0 when the sweep ran (see the sanity.status
    tag for the verdict), 1 when every seed failed, 2 on usage errors.
    """
    import json
    import os

    from mlflow_sanity.adapters.seeds.project import run_multiseed
    from mlflow_sanity.adapters.seeds.sweep import resolve_seeds

    try:
        seed_arg = [int(s) for s in seeds.split(",")] if "," in seeds else int(seeds)
        seed_list = resolve_seeds(seed_arg)
        ref = float(reference) if reference.strip() else None
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    passthrough = _parse_params(params, ctx.args)
    config = backend_config
    if config and not os.path.isfile(config):
        try:
            config = json.loads(config)
        except ValueError:
            raise click.UsageError("--backend-config must be a JSON file or JSON text") from None
    summary = run_multiseed(
        entry_point,
        seed_list,
        passthrough,
        project_uri=project_uri,
        backend=backend,
        backend_config=config,
        env_manager=env_manager,
        metric=metric.strip() or None,
        reference=ref,
    )
    raise SystemExit(0 if summary.n_ok else 1)


def _parse_params(params: tuple[str, ...], extra: list[str]) -> dict[str, str]:
    """``-P k=v`` options plus the ``--k v`` / ``--k=v`` pairs ``mlflow run`` appends."""
    out: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"-P expects KEY=VALUE, got {item!r}")
        out[key] = value
    i = 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or len(token) < 3:
            raise click.UsageError(f"unexpected argument {token!r}; pass parameters as --KEY VALUE")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(extra):
                raise click.UsageError(f"parameter --{key} has no value")
            value = extra[i + 1]
            i += 1
        out[key] = value
        i += 1
    return out

"""Seed variance: ``variance`` (runs already logged), ``compare``, ``multiseed``."""

from __future__ import annotations

import click

from mlflow_sanity.cli.app import _outside, main


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
    from mlflow_sanity.adapters.groups import judge_group
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
        report, line = judge_group(g, values, metric)
        click.echo(f"{head}\n  {line}")
        f = report.get("seed_variance")
        if f is not None:
            click.echo(f"  [{f.severity.value}] seed_variance: {f.message}")
        if log:
            _log_group(g, report)
            click.echo(f"  verdict written to {len(g.runs)} run(s)")


def _log_group(group, report) -> None:
    from mlflow_sanity.adapters.groups import log_group_run

    for run in group.runs:
        with _outside(f"could not log to run {run.run_id}"):  # unreachable, deleted run
            log_group_run(run.run_id, report)


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

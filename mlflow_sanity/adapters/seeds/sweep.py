"""Multi-seed runner: re-train with N seeds, one nested MLflow child run per seed, judge the spread.

One test accuracy is one draw. ``seed_sweep`` re-runs a training function with several
seeds (in parallel worker processes, sequentially, or on Ray), logs every seed as a
child run of one parent run, and puts the aggregates, a spread plot and the
``seed_variance`` / ``nondeterminism`` findings on the parent.

Workers only train and return numbers; this process does all MLflow writes. That keeps
parallel seeds from fighting over a SQLite store ("database is locked") and means a
crashed worker cannot leave a half-written run behind.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from mlflow_sanity.adapters.seeds.executors import make_runner
from mlflow_sanity.adapters.seeds.progress import SweepProgress, display_metrics, seed_table
from mlflow_sanity.adapters.seeds.worker import SeedOutcome, WorkerConfig
from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.pipeline import build_report
from mlflow_sanity.core.seed_stats import (
    SeedResults,
    aggregate,
    choose_metric,
    higher_is_better,
    shared_metrics,
)
from mlflow_sanity.report.markdown import terminal_summary
from mlflow_sanity.tracking.reports import MAX_TAG_CHARS, log_report

_log = logging.getLogger(__name__)

Executor = Literal["local", "sequential", "ray"]
EXECUTORS = ("local", "sequential", "ray")
SEED_TAG = "sanity.seed"
ERROR_TAG = "sanity.error"
PARENT_TAG = "mlflow.parentRunId"
_MAX_SEED = 2**32 - 1  # NumPy's legacy seeding accepts 0 .. 2**32 - 1


@dataclass
class SweepSummary:
    """The result of a sweep: where it was logged, what each seed gave, and the verdict."""

    parent_run_id: str
    metric: str | None
    seeds: list[int]
    outcomes: list[SeedOutcome]  # one per seed, in seed order (the determinism repeat apart)
    child_run_ids: dict[int, str]
    aggregates: dict[str, float]
    report: Report
    repeat: SeedOutcome | None = None
    wall_s: float = 0.0
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_ok(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def n_failed(self) -> int:
        return len(self.outcomes) - self.n_ok

    @property
    def status(self) -> str:
        return self.report.status

    def values(self, metric: str | None = None) -> dict[int, float]:
        """Per-seed values of ``metric`` (default: the headline metric) for successful seeds."""
        name = metric or self.metric
        return {o.seed: o.metrics[name] for o in self.outcomes if o.ok and name in o.metrics}

    def table(self, max_metrics: int = 4) -> str:
        """The terminal summary: one row per seed, mean ± std and interval, then the findings."""
        lines = seed_table(self.outcomes, self.metric, self.aggregates, max_metrics)
        lines.append(f"{self.n_ok} ok, {self.n_failed} failed; parent run {self.parent_run_id}")
        lines.append(terminal_summary(self.report))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def seed_sweep(
    train_fn: Callable[[int], Any],
    seeds: int | Sequence[int] = 5,
    *,
    executor: Executor = "local",
    max_workers: int | None = None,
    deterministic: bool = False,
    reference: float | None = None,
    metric: str | None = None,
    higher: bool | None = None,
    keras: bool | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    disable: Iterable[str] = (),
    ray_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    client: MlflowClient | None = None,
) -> SweepSummary:
    """Train once per seed, log each seed as a nested child run, judge the spread on the parent.

    ``train_fn(seed)`` returns a dict of metrics, or ``(model, x, y)``: a fitted
    classifier (scikit-learn or Keras) and evaluation data, scored here with the same
    metrics as the evaluator. Before each call, Python ``random``, NumPy's global RNG
    and (when the training code uses Keras, or ``keras=True``) ``keras.utils.set_random_seed``
    are seeded; ``deterministic=True`` adds TensorFlow op determinism and runs the first
    seed a second time to check that it reproduces.

    ``executor``: ``"local"`` (worker processes, started once with the "spawn" method
    and reused across seeds; ``train_fn`` must be picklable, i.e. defined at module level),
    ``"sequential"`` (in this process, for debugging) or ``"ray"`` (tasks on the connected
    Ray cluster, or a local one; ``ray_options`` go to ``.options()``, e.g. ``num_cpus``).
    ``reference`` is the score the result claims to beat; without it plain accuracy is
    judged against the majority-class baseline when seeds report
    ``majority_baseline_accuracy``. ``metric`` is the headline metric (default: accuracy
    when present; ``higher`` overrides its direction, guessed from the name). The parent
    run is nested under the active run, if any, or is ``parent_run_id`` (then it is left
    running for its owner to end). ``thresholds``/``disable`` tune the checks as in the
    evaluator; ``progress`` shows a bar, a line per seed and the final table.
    """
    seed_list = resolve_seeds(seeds)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; use one of {EXECUTORS}")
    if max_workers is not None and max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    tasks = [(s, False) for s in seed_list]
    if deterministic:
        tasks.append((seed_list[0], True))
    cfg = WorkerConfig(deterministic=deterministic, keras=keras)
    runner = make_runner(train_fn, executor, max_workers, len(tasks), cfg, ray_options)

    client = client or MlflowClient()
    parent, owned = _open_parent(client, experiment_name, experiment_id, run_name, parent_run_id)
    exp_id = client.get_run(parent).info.experiment_id
    log_new_params(
        client,
        parent,
        {
            "sanity.seeds": ",".join(map(str, seed_list)),
            "sanity.executor": executor,
            "sanity.deterministic": str(deterministic),
            **({"sanity.metric": metric} if metric else {}),
            **({"sanity.reference": str(reference)} if reference is not None else {}),
        },
    )
    children = ChildRunLogger(client, exp_id, parent, run_name)
    bar = SweepProgress(len(tasks), metric, progress)
    outcomes: dict[int, SeedOutcome] = {}
    repeat: list[SeedOutcome] = []

    def on_outcome(outcome: SeedOutcome) -> None:
        if outcome.repeat:
            repeat.append(outcome)
        else:
            outcomes[outcome.seed] = outcome
            children.log(outcome)
        bar.update(outcome)

    def sweep() -> SweepSummary:
        t0 = time.perf_counter()
        runner(tasks, on_outcome)
        bar.close()
        summary = finish_sweep(
            client,
            parent,
            [outcomes[s] for s in seed_list],
            repeat[0] if repeat else None,
            children.run_ids,
            metric=metric,
            reference=reference,
            higher=higher,
            deterministic=deterministic,
            thresholds=thresholds,
            disable=disable,
            inputs={"executor": executor, "max_workers": max_workers},
        )
        summary.wall_s = time.perf_counter() - t0
        return summary

    end = (lambda status: client.set_terminated(parent, status)) if owned else None
    return run_parent(sweep, end, bar, progress)


def run_parent(
    sweep: Callable[[], SweepSummary],
    end: Callable[[str], None] | None,
    bar: SweepProgress,
    progress: bool,
) -> SweepSummary:
    """Run a sweep and always end the parent run it owns (``end`` is None otherwise).

    Ctrl-C leaves it KILLED and an error FAILED, never RUNNING; a sweep where every
    seed failed is FAILED too. The summary table goes to the terminal with ``progress``.
    """
    try:
        summary = sweep()
    except KeyboardInterrupt:
        bar.close()
        if end:
            end("KILLED")
        raise
    except BaseException:
        bar.close()
        if end:
            end("FAILED")
        raise
    if end:
        end("FINISHED" if summary.n_ok else "FAILED")
    if progress:
        print(summary.table())
    return summary


def resolve_seeds(seeds: int | Sequence[int]) -> list[int]:
    """``5`` means seeds 0..4; a list is used as given (distinct non-negative integers)."""
    if isinstance(seeds, bool):
        raise TypeError("seeds must be a count or a list of integers")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError("seeds must be at least 1")
        return list(range(seeds))
    out = []
    for s in seeds:
        if isinstance(s, bool) or (not isinstance(s, int) and not str(s).isdigit()):
            raise TypeError(f"seeds must be integers, got {s!r}")
        out.append(int(s))
    if not out:
        raise ValueError("seeds is empty")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct, got {out}")
    if min(out) < 0 or max(out) > _MAX_SEED:
        raise ValueError(f"seeds must lie in 0..{_MAX_SEED}")
    return out


def finish_sweep(
    client: MlflowClient,
    parent_run_id: str,
    outcomes: list[SeedOutcome],
    repeat: SeedOutcome | None,
    child_run_ids: Mapping[int, str],
    *,
    metric: str | None = None,
    reference: float | None = None,
    higher: bool | None = None,
    deterministic: bool = False,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    disable: Iterable[str] = (),
    inputs: Mapping[str, Any] | None = None,
) -> SweepSummary:
    """Aggregate the seeds, judge them and log the parent's report (metrics, tags, plot)."""
    from mlflow_sanity.report.plots import seed_spread_png

    ok = [o for o in outcomes if o.ok]
    failed = {o.seed: o.error or "failed" for o in outcomes if not o.ok}
    per_seed = [o.metrics for o in ok]
    metric = metric or choose_metric(shared_metrics(per_seed))
    up = higher if higher is not None else (higher_is_better(metric) if metric else True)
    results = SeedResults(
        metric=metric,
        values={o.seed: o.metrics for o in ok},
        failed=failed,
        reference=reference,
        higher_is_better=up,
        deterministic=deterministic,
        repeat_seed=repeat.seed if repeat else None,
        repeat=repeat.metrics if repeat and repeat.ok else None,
        repeat_error=repeat.error if repeat else None,
    )
    seeds = [o.seed for o in outcomes]
    report = build_report(
        Context(seeds=results),
        thresholds=thresholds,
        disable=disable,
        source="seeds",
        inputs={
            **(inputs or {}),
            "seeds": seeds,
            "metric": metric,
            "higher_is_better": up,
            "reference": reference,
            "deterministic": deterministic,
            "child_runs": {str(s): child_run_ids.get(s) for s in seeds},
        },
    )
    aggregates = aggregate(per_seed, n_failed=len(failed))
    report.metrics.update(aggregates)
    report.tables["seeds"] = [
        {
            "seed": o.seed,
            "status": "ok" if o.ok else "failed",
            "run_id": child_run_ids.get(o.seed),
            "train_s": round(o.train_s, 3),
            **({metric: o.metrics.get(metric)} if metric else {}),
            "error": o.error,
        }
        for o in outcomes
    ]
    files = {}
    plotted = display_metrics(metric, per_seed)[:4]
    if plotted:
        ref, source = results.resolved_reference()
        files["seed_spread.png"] = seed_spread_png(
            {n: [m[n] for m in per_seed] for n in plotted},
            {metric: ref} if ref is not None and metric else None,
            reference_label=source or "reference",
            intervals={
                n: (aggregates[f"seed/{n}_ci_low"], aggregates[f"seed/{n}_ci_high"])
                for n in plotted
                if f"seed/{n}_ci_low" in aggregates
            },
        )
    if metric:  # what `mlflow-sanity compare` compares by default
        log_new_params(client, parent_run_id, {"sanity.metric": metric})
    merged = log_report(parent_run_id, report, files, client=client)
    return SweepSummary(
        parent_run_id=parent_run_id,
        metric=metric,
        seeds=seeds,
        outcomes=outcomes,
        child_run_ids=dict(child_run_ids),
        aggregates=aggregates,
        report=merged,
        repeat=repeat,
        inputs=dict(report.inputs),
    )


def load_seed_values(
    run_id: str, metric: str, client: MlflowClient | None = None
) -> tuple[dict[int, float], list[str]]:
    """Per-seed values of ``metric`` from a parent run's finished seed children.

    Returns ``{seed: value}`` and the run ids of seed children that were skipped
    (failed, or without the metric).
    """
    client = client or MlflowClient()
    parent = client.get_run(run_id)
    runs = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{run_id}'",
        max_results=10_000,
    )
    values: dict[int, float] = {}
    skipped: list[str] = []
    for run in runs:
        seed = run.data.tags.get(SEED_TAG)
        if seed is None:
            continue  # another nested run (e.g. an evaluation), not a seed
        value = run.data.metrics.get(metric)
        if run.info.status != "FINISHED" or value is None or not math.isfinite(value):
            skipped.append(run.info.run_id)
            continue
        values[int(seed)] = float(value)
    return dict(sorted(values.items())), skipped


# --- MLflow side --------------------------------------------------------------------


def _open_parent(
    client: MlflowClient,
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    parent_run_id: str | None,
) -> tuple[str, bool]:
    """The parent run and whether this sweep owns it (and so must end it)."""
    if parent_run_id:
        return parent_run_id, False
    from mlflow.tracking.context.registry import resolve_tags

    active = mlflow.active_run()
    if experiment_id is None and experiment_name:
        exp = client.get_experiment_by_name(experiment_name)
        experiment_id = exp.experiment_id if exp else client.create_experiment(experiment_name)
    if experiment_id is None:
        experiment_id = (
            active.info.experiment_id if active else mlflow.tracking.fluent._get_experiment_id()
        )
    tags = resolve_tags({PARENT_TAG: active.info.run_id} if active else {})
    run = client.create_run(experiment_id, tags=tags, run_name=run_name or "seed-sweep")
    return run.info.run_id, True


def log_new_params(client: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
    """Log params the run lacks; MLflow refuses to change a logged param's value."""
    existing = client.get_run(run_id).data.params
    new = [Param(k, v) for k, v in params.items() if existing.get(k) is None]
    if new:
        client.log_batch(run_id, params=new)


class ChildRunLogger:
    """Creates one finished (or failed) child run per seed from its outcome."""

    def __init__(
        self, client: MlflowClient, experiment_id: str, parent: str, prefix: str | None
    ) -> None:
        from mlflow.tracking.context.registry import resolve_tags

        self.client, self.experiment_id = client, experiment_id
        self.prefix = f"{prefix}-" if prefix else ""
        self.base_tags = resolve_tags({PARENT_TAG: parent})
        self.run_ids: dict[int, str] = {}
        self.ignored: set[str] = set()

    def log(self, o: SeedOutcome) -> str:
        tags = {**self.base_tags, SEED_TAG: str(o.seed)}
        if not o.ok:
            tags[ERROR_TAG] = clip_tail(o.error or "failed", 1000)
            body = o.traceback or o.error or ""
            tags["mlflow.note.content"] = clip_tail(
                f"Seed {o.seed} failed: {o.error}\n\n```\n{body}\n```", MAX_TAG_CHARS
            )
        run = self.client.create_run(
            self.experiment_id,
            start_time=o.start_ms or None,
            tags=tags,
            run_name=f"{self.prefix}seed-{o.seed}",
        )
        run_id = run.info.run_id
        stamp = o.end_ms or int(time.time() * 1000)
        metrics = [Metric(k, float(v), stamp, 0) for k, v in sorted(o.metrics.items())]
        params = [Param("seed", str(o.seed))]
        for i in range(0, max(len(metrics), 1), 1000):
            self.client.log_batch(
                run_id, metrics=metrics[i : i + 1000], params=params if i == 0 else []
            )
        if set(o.ignored) - self.ignored:  # say it once per sweep, not once per seed
            self.ignored.update(o.ignored)
            _log.warning("train_fn returned non-numeric values, not logged: %s", o.ignored)
        self.client.set_terminated(
            run_id, "FINISHED" if o.ok else "FAILED", end_time=o.end_ms or None
        )
        self.run_ids[o.seed] = run_id
        return run_id


def clip_tail(text: str, limit: int) -> str:
    """Keep the end of long error text: the last traceback frames say what went wrong."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


__all__ = [
    "EXECUTORS",
    "SeedOutcome",
    "SweepSummary",
    "finish_sweep",
    "load_seed_values",
    "resolve_seeds",
    "seed_sweep",
]

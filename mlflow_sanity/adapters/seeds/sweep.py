"""Multi-seed runner: re-train with N seeds, one nested MLflow child run per seed, judge the spread.

One test accuracy is one draw. ``seed_sweep`` re-runs a training function with several
seeds (in parallel worker processes, sequentially, or on Ray: ``executors``), logs every
seed as a child run of one parent run, and puts the aggregates, a spread plot and the
``seed_variance`` / ``nondeterminism`` findings on the parent (``finish_sweep``).

Workers only train and return numbers; this process does all MLflow writes, through
``mlflow_sanity.tracking``. That keeps parallel seeds from fighting over a SQLite store
("database is locked") and means a crashed worker cannot leave a half-written run behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from mlflow_sanity.adapters.seeds.executors import make_runner
from mlflow_sanity.adapters.seeds.progress import SweepProgress, display_metrics, seed_table
from mlflow_sanity.adapters.seeds.worker import SeedOutcome, WorkerConfig
from mlflow_sanity.checks import Context
from mlflow_sanity.core.boundary import on_error
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.seed_stats import (
    SeedResults,
    aggregate,
    choose_metric,
    higher_is_better,
    shared_metrics,
)
from mlflow_sanity.core.task import Task
from mlflow_sanity.pipeline import build_report
from mlflow_sanity.report.markdown import terminal_summary
from mlflow_sanity.tracking import runs
from mlflow_sanity.tracking.publish import Target, publish
from mlflow_sanity.tracking.seed_runs import SeedChildRuns

_log = logging.getLogger(__name__)

Executor = Literal["local", "sequential", "ray"]
EXECUTORS = ("local", "sequential", "ray")
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
    client: runs.MlflowClient | None = None,
) -> SweepSummary:
    """Train once per seed, log each seed as a nested child run, judge the spread on the parent.

    ``train_fn(seed)`` returns a dict of metrics, or ``(model, x, y)``: a fitted classifier
    (scikit-learn or Keras) and evaluation data, scored with the evaluator's metrics. Python
    ``random``, NumPy's global RNG and (for Keras code, or ``keras=True``)
    ``keras.utils.set_random_seed`` are seeded before each call; ``deterministic=True`` adds
    TensorFlow op determinism and runs the first seed twice to check that it reproduces.

    ``executor``: ``"local"`` (worker processes spawned once, reused; ``train_fn`` must be
    picklable: defined at module level), ``"sequential"`` (this process, for debugging) or
    ``"ray"`` (the connected or a local Ray cluster; ``ray_options`` go to ``.options()``).
    ``reference``: the score the result claims to beat, else accuracy is judged against the
    seeds' ``majority_baseline_accuracy``. ``metric``: the headline (default accuracy;
    ``higher``: its direction, else guessed from the name). The parent run nests under the
    active run, or is ``parent_run_id`` (left running for its owner to end). ``thresholds``,
    ``disable``: the checks' settings, as in the evaluator. ``progress``: a bar and a table.
    """
    cfg = WorkerConfig(deterministic=deterministic, keras=keras)
    seed_list, tasks, runner = _runner(train_fn, seeds, executor, max_workers, cfg, ray_options)
    client = runs.client_or_default(client)
    params = _sweep_params(seed_list, executor, deterministic, metric, reference)
    parent = _parent_run(client, parent_run_id, run_name, experiment_name, experiment_id, params)
    bar = SweepProgress(len(tasks), metric, progress)
    collected = _Collector.under(client, parent, run_name, bar)
    finish = partial(
        finish_sweep,
        client,
        parent,
        metric=metric,
        reference=reference,
        higher=higher,
        deterministic=deterministic,
        thresholds=thresholds,
        disable=disable,
        inputs={"executor": executor, "max_workers": max_workers},
    )
    sweep = partial(_sweep, runner, tasks, collected, seed_list, finish)
    end = None if parent_run_id else partial(runs.terminate, client, parent)
    return run_parent(sweep, end, collected.bar, progress)


def _runner(
    train_fn: Callable[[int], Any],
    seeds: int | Sequence[int],
    executor: str,
    max_workers: int | None,
    cfg: WorkerConfig,
    ray_options: Mapping[str, Any] | None,
) -> tuple[list[int], list[tuple[int, bool]], Callable[..., Any]]:
    """The seeds (``resolve_seeds``), the trainings as ``(seed, repeat)`` (a deterministic
    sweep repeats the first seed) and the executor's runner; raises before any run exists."""
    seed_list = resolve_seeds(seeds)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; use one of {EXECUTORS}")
    if max_workers is not None and max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    tasks = [(s, False) for s in seed_list]
    tasks += [(seed_list[0], True)] if cfg.deterministic else []
    runner = make_runner(train_fn, executor, max_workers, len(tasks), cfg, ray_options)
    return seed_list, tasks, runner


def _parent_run(
    client: runs.MlflowClient,
    parent_run_id: str | None,
    run_name: str | None,
    experiment_name: str | None,
    experiment_id: str | None,
    params: Mapping[str, str],
) -> str:
    """The sweep's parent run (the caller's ``parent_run_id``, else a new one), its params
    logged."""
    parent = parent_run_id or runs.open_parent_run(
        client,
        run_name or "seed-sweep",
        experiment_name=experiment_name,
        experiment=experiment_id,
    )
    runs.log_params_once(client, parent, params)
    return parent


def _sweep(
    runner: Callable[..., Any],
    tasks: list[tuple[int, bool]],
    collected: _Collector,
    seeds: list[int],
    finish: Callable[..., SweepSummary],
) -> SweepSummary:
    """Run every seed, then judge and log the sweep (``finish_sweep``), timed."""
    t0 = time.perf_counter()
    runner(tasks, collected)
    collected.bar.close()
    summary = finish(collected.in_order(seeds), collected.repeat, collected.children.run_ids)
    summary.wall_s = time.perf_counter() - t0
    return summary


def _sweep_params(
    seeds: list[int],
    executor: str,
    deterministic: bool,
    metric: str | None,
    reference: float | None,
) -> dict[str, str]:
    """How the sweep was set up, as params of the parent run."""
    return {
        "sanity.seeds": ",".join(map(str, seeds)),
        "sanity.executor": executor,
        "sanity.deterministic": str(deterministic),
        **({"sanity.metric": metric} if metric else {}),
        **({"sanity.reference": str(reference)} if reference is not None else {}),
    }


class _Collector:
    """Receives outcomes as they arrive: logs each seed's child run, keeps the repeat apart."""

    def __init__(self, children: SeedChildRuns, bar: SweepProgress) -> None:
        self.children, self.bar = children, bar
        self.by_seed: dict[int, SeedOutcome] = {}
        self.repeat: SeedOutcome | None = None
        self.ignored: set[str] = set()

    @classmethod
    def under(
        cls, client: runs.MlflowClient, parent: str, run_name: str | None, bar: SweepProgress
    ) -> _Collector:
        """A collector logging each seed as a child run of ``parent``."""
        children = SeedChildRuns(client, runs.experiment_of(parent, client), parent, run_name)
        return cls(children, bar)

    def __call__(self, outcome: SeedOutcome) -> None:
        if outcome.repeat:
            self.repeat = self.repeat or outcome
        else:
            self.by_seed[outcome.seed] = outcome
            self.children.log(outcome)
            self._warn_ignored(outcome.ignored)
        self.bar.update(outcome)

    def _warn_ignored(self, ignored: list[str]) -> None:
        if set(ignored) - self.ignored:  # say it once per sweep, not once per seed
            self.ignored.update(ignored)
            _log.warning("train_fn returned non-numeric values, not logged: %s", ignored)

    def in_order(self, seeds: Sequence[int]) -> list[SeedOutcome]:
        return [self.by_seed[s] for s in seeds]


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

    def abort(exc: BaseException) -> None:
        bar.close()
        if end:
            end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")

    with on_error(abort):
        summary = sweep()
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
    client: runs.MlflowClient,
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
    results = seed_results(outcomes, repeat, metric, reference, higher, deterministic)
    metric, seeds = results.metric, [o.seed for o in outcomes]
    judged = next((o.task for o in outcomes if o.task), "")  # a (model, x, y) sweep's task
    report = build_report(
        Context(seeds=results, task=Task(judged) if judged else None),
        thresholds=thresholds,
        disable=disable,
        source="seeds",
        inputs={
            **(inputs or {}),
            "seeds": seeds,
            "metric": metric,
            "higher_is_better": results.higher_is_better,
            "reference": reference,
            "deterministic": deterministic,
            "child_runs": {str(s): child_run_ids.get(s) for s in seeds},
        },
    )
    per_seed = [o.metrics for o in outcomes if o.ok]
    aggregates = aggregate(per_seed, n_failed=len(results.failed))
    report.metrics.update(aggregates)
    report.tables["seeds"] = _seed_rows(outcomes, child_run_ids, metric)
    if metric:  # what `mlflow-sanity compare` compares by default
        runs.log_params_once(client, parent_run_id, {"sanity.metric": metric})
    files = _spread_plot(results, per_seed, aggregates)
    # a command the user runs: an unreachable server is an error to see, not a spool entry
    merged = publish(
        report, files, Target(parent_run_id), what="seed sweep", offline="raise", client=client
    )
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


def seed_results(
    outcomes: Sequence[SeedOutcome],
    repeat: SeedOutcome | None,
    metric: str | None,
    reference: float | None,
    higher: bool | None,
    deterministic: bool,
) -> SeedResults:
    """The outcomes as the variance checks see them; ``metric`` defaults to the shared one
    the checks judge (accuracy when present), its direction guessed from the name."""
    ok = [o for o in outcomes if o.ok]
    metric = metric or choose_metric(shared_metrics([o.metrics for o in ok]))
    return SeedResults(
        metric=metric,
        values={o.seed: o.metrics for o in ok},
        failed={o.seed: o.error or "failed" for o in outcomes if not o.ok},
        reference=reference,
        higher_is_better=higher
        if higher is not None
        else (higher_is_better(metric) if metric else True),
        deterministic=deterministic,
        repeat_seed=repeat.seed if repeat else None,
        repeat=repeat.metrics if repeat and repeat.ok else None,
        repeat_error=repeat.error if repeat else None,
    )


def _seed_rows(
    outcomes: Sequence[SeedOutcome], child_run_ids: Mapping[int, str], metric: str | None
) -> list[dict[str, Any]]:
    """The report's ``seeds`` table: one row per seed with its run, time and headline value."""
    return [
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


def _spread_plot(
    results: SeedResults, per_seed: list[dict[str, float]], aggregates: Mapping[str, float]
) -> dict[str, bytes]:
    """``seed_spread.png``: each shared metric's seed values, interval and the reference."""
    from mlflow_sanity.report.plots import seed_spread_png

    plotted = display_metrics(results.metric, per_seed)[:4]
    if not plotted:
        return {}
    metric = results.metric
    ref, source = results.resolved_reference()
    png = seed_spread_png(
        {n: [m[n] for m in per_seed] for n in plotted},
        {metric: ref} if ref is not None and metric else None,
        reference_label=source or "reference",
        intervals={
            n: (aggregates[f"seed/{n}_ci_low"], aggregates[f"seed/{n}_ci_high"])
            for n in plotted
            if f"seed/{n}_ci_low" in aggregates
        },
    )
    return {"seed_spread.png": png}


__all__ = [
    "EXECUTORS",
    "SeedOutcome",
    "SweepSummary",
    "finish_sweep",
    "resolve_seeds",
    "seed_sweep",
]

"""Where seeds run: in this process, on a reused pool of spawned workers, or on Ray.

A runner takes ``(seed, repeat)`` tasks and hands every ``SeedOutcome`` to ``emit`` as
it arrives; it never raises for a seed that failed or whose worker died (that becomes a
failed outcome) and never talks to MLflow.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from mlflow_sanity.adapters.seeds import worker
from mlflow_sanity.adapters.seeds.progress import one_line
from mlflow_sanity.adapters.seeds.worker import SeedOutcome, WorkerConfig
from mlflow_sanity.core.boundary import Caught, Origin, describe, on_error
from mlflow_sanity.core.clock import now_ms

Runner = Callable[[list[tuple[int, bool]], Callable[[SeedOutcome], None]], None]


def make_runner(
    train_fn: Callable[[int], Any],
    executor: str,
    max_workers: int | None,
    n_tasks: int,
    cfg: WorkerConfig,
    ray_options: Mapping[str, Any] | None,
) -> Runner:
    """Validate what the executor needs up front, before any run is created."""
    if not callable(train_fn):
        raise TypeError("train_fn must be callable: train_fn(seed) -> metrics")
    if executor == "sequential":
        return lambda tasks, emit: _run_sequential(train_fn, tasks, emit, cfg)
    if executor == "ray":
        try:
            import ray
        except ImportError as exc:
            raise ImportError("executor='ray' needs Ray: pip install 'mlflow-sanity[ray]'") from exc
        fn_bytes = ray.cloudpickle.dumps(train_fn)
        return lambda tasks, emit: _run_ray(fn_bytes, tasks, emit, max_workers, cfg, ray_options)
    # pickling fails in many types; each gets the same clear advice
    with Caught(Origin.OUTSIDE) as caught:
        fn_bytes = pickle.dumps(train_fn)
    if (exc := caught.error) is not None:
        raise TypeError(
            f"executor='local' needs a picklable train_fn ({exc}). Define it at module level "
            "(not a lambda, closure or nested function), or use executor='sequential'."
        ) from exc
    workers = max_workers or min(n_tasks, _cpu_count())
    threads = max(1, _cpu_count() // workers)
    cfg = replace(cfg, threads=threads)
    return lambda tasks, emit: _run_local(fn_bytes, tasks, emit, workers, cfg)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _run_sequential(
    train_fn: Callable[[int], Any],
    tasks: list[tuple[int, bool]],
    emit: Callable[[SeedOutcome], None],
    cfg: WorkerConfig,
) -> None:
    """In this process, one seed after the other: debuggers and prints work as usual."""
    for seed, repeat in tasks:
        emit(worker.run_seed(train_fn, seed, cfg, repeat))


def _run_local(
    fn_bytes: bytes,
    tasks: list[tuple[int, bool]],
    emit: Callable[[SeedOutcome], None],
    workers: int,
    cfg: WorkerConfig,
) -> None:
    """Seeds on a reused pool of spawned workers, surviving workers that die.

    When a worker dies the pool breaks and every unfinished seed gets BrokenProcessPool.
    Seeds that never started go back to a fresh shared pool. Of the seeds that were
    running, a lone one is the culprit; several are re-run side by side, each in a pool
    of its own, so that only the seed that kills its worker again is reported failed.
    """
    ctx = mp.get_context("spawn")
    pending = list(tasks)
    while pending:
        broken, started = _pool_round(ctx, fn_bytes, pending, workers, cfg, emit)
        if broken and not started and len(broken) == len(pending):
            for seed, repeat in broken:  # no worker got as far as a seed: nothing can run
                emit(_died(seed, repeat, "the worker processes could not start (see stderr)"))
            return
        suspects = [t for t in broken if t in started]
        pending = [t for t in broken if t not in started]
        if len(suspects) == 1:
            emit(_died(*suspects[0], "its worker process died"))
            continue
        for i in range(0, len(suspects), workers):
            batch = suspects[i : i + workers]
            again, _ = _pool_round(ctx, fn_bytes, batch, workers, cfg, emit, isolate=True)
            for seed, repeat in again:
                emit(_died(seed, repeat, "its worker process died, also when run alone"))


def _pool_round(
    ctx: Any,
    fn_bytes: bytes,
    tasks: list[tuple[int, bool]],
    workers: int,
    cfg: WorkerConfig,
    emit: Callable[[SeedOutcome], None],
    isolate: bool = False,
) -> tuple[list[tuple[int, bool]], set[tuple[int, bool]]]:
    """Run ``tasks`` on one shared pool (or one single-worker pool each, ``isolate``).

    Returns the tasks lost to a broken pool and the tasks that had started in a worker.
    """
    started_q = None if isolate else ctx.SimpleQueue()
    n_pools, size = (len(tasks), 1) if isolate else (1, min(workers, len(tasks)))
    pools = [
        ProcessPoolExecutor(
            max_workers=size,
            mp_context=ctx,
            initializer=worker.init_worker,
            initargs=(fn_bytes, cfg, started_q),
        )
        for _ in range(n_pools)
    ]
    with on_error(lambda _: [_terminate(pool) for pool in pools]):
        futures = {
            pools[i % n_pools].submit(worker.run_task, s, r): (s, r, i % n_pools)
            for i, (s, r) in enumerate(tasks)
        }
        broken, broken_pools = _collect(futures, emit)
    for i, pool in enumerate(pools):
        if i in broken_pools:
            _terminate(pool)
        else:
            pool.shutdown(wait=True)
    return broken, _drain(started_q)


def _collect(
    futures: Mapping[Future, tuple[int, bool, int]], emit: Callable[[SeedOutcome], None]
) -> tuple[list[tuple[int, bool]], set[int]]:
    """Emit each outcome as it completes; return the tasks and pools lost to a dead worker."""
    broken: list[tuple[int, bool]] = []
    broken_pools: set[int] = set()
    for fut in as_completed(futures):
        seed, repeat, pool_index = futures[fut]
        with Caught(Origin.OUTSIDE) as caught:  # the outcome could not come back
            try:
                outcome = fut.result()
            except BrokenProcessPool:
                broken.append((seed, repeat))
                broken_pools.add(pool_index)
                continue
        if caught.error is not None:
            outcome = _died(seed, repeat, describe(caught.error))
        emit(outcome)
    return broken, broken_pools


def _drain(started_q: Any) -> set[tuple[int, bool]]:
    """The tasks the workers announced as started (``run_task`` puts them on the queue)."""
    started: set[tuple[int, bool]] = set()
    if started_q is not None:
        while not started_q.empty():
            started.add(tuple(started_q.get()))
        started_q.close()
    return started


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel queued seeds, terminate (then kill) its worker processes."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
            p.join()


def _died(seed: int, repeat: bool, why: str) -> SeedOutcome:
    now = now_ms()
    return SeedOutcome(
        seed=seed,
        repeat=repeat,
        error=f"WorkerDied: {why} while training seed {seed} (crash, out of memory or a kill)",
        start_ms=now,
        end_ms=now,
    )


def _run_ray(
    fn_bytes: bytes,
    tasks: list[tuple[int, bool]],
    emit: Callable[[SeedOutcome], None],
    max_workers: int | None,
    cfg: WorkerConfig,
    ray_options: Mapping[str, Any] | None,
) -> None:
    """Seeds as Ray tasks on the connected cluster (or a local one started and stopped here),
    at most ``max_workers`` at a time."""
    import ray

    opts = {"num_cpus": 1, "max_retries": 0, **(ray_options or {})}
    cfg = replace(cfg, threads=max(1, int(opts["num_cpus"])))
    queue = list(tasks)
    running: dict[Any, tuple[int, bool]] = {}
    limit = max_workers or len(tasks)
    with _ray_session(ray):
        remote = ray.remote(worker.ray_task).options(**opts)
        fn_ref = ray.put(fn_bytes)
        with on_error(lambda _: [ray.cancel(ref, force=True) for ref in running]):
            while queue or running:
                while queue and len(running) < limit:
                    seed, repeat = queue.pop(0)
                    running[remote.remote(fn_ref, seed, repeat, cfg)] = (seed, repeat)
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    emit(_ray_outcome(ray, ref, *running.pop(ref)))


@contextlib.contextmanager
def _ray_session(ray: Any) -> Iterator[None]:
    """Use the connected Ray instance, or start a local one for the sweep and stop it after."""
    started_here = not ray.is_initialized()
    if started_here:
        ray.init()
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def _ray_outcome(ray: Any, ref: Any, seed: int, repeat: bool) -> SeedOutcome:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:  # the worker died or the task was lost
        return _died(seed, repeat, f"{type(exc).__name__}: {one_line(str(exc), 300)}")

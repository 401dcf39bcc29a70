"""Checks that scale: bare vs checked cost at 50k, 500k and 2M rows (10M with ``--large``).

One process, the default ``sqlite:///`` store (a temporary file), a binary MLP
20 -> 64 -> 64 -> 1 fitted on 20,000 rows. For each row count it prints, as the median of
``--repeats`` interleaved pairs (bare, checked, then checked, bare: machine noise hits
both sides alike), the seconds bare and checked, the added seconds and the ratio:

- ``model.evaluate`` of N rows at ``batch_size=1024``, bare vs ``mlflow_sanity.autolog()``;
- ``fit`` of the 20,000 training rows (one epoch) with N validation rows: the checked
  fit adds the end-of-fit work (fingerprints, the validation predictions, the checks,
  the MLflow writes);
- the evaluator: ``mlflow.models.evaluate`` of N rows of static predictions (20 feature
  columns), ``evaluators="default"`` vs ``["default", "sanity"]``;

and for each checked call our time split by stage (the median seconds of each stage).
Stages marked * may run on a second thread: a ``model.evaluate``'s row lookup begins
before Keras' own pass and runs beside it, so its seconds are not inside "all our work"
(what it costs shows as Keras' slower pass and the added wall time).
Then the README's fast shape (50,000 x 20 evaluated at ``batch_size=256``), the added
cost per million rows (the slope between the two largest sizes), and the peak memory our
work adds to one checked ``model.evaluate`` of 2M rows (``tracemalloc``: NumPy and Python
allocations; TensorFlow's own buffers are not ours and not counted). No absolute time is
asserted: times on a shared machine are noise, ratios in one run are the measurement.

The evaluator runs at 50k and 500k rows by default (MLflow's own default evaluator,
the bare side, takes minutes on millions of rows); ``--large`` adds the larger sizes.

    python benchmarks/bench_scale.py [--quick] [--large] [--repeats 3] [--parts efv]
                                     [--rows 50000,500000,2000000] [--no-memory]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import statistics
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import numpy as np
import pandas as pd

FEATURES = 20
TRAIN_ROWS = 20_000
GOAL_RATIO = 1.3  # checked / bare at 500k and 2M rows (model.evaluate, batch 1024)
GOAL_FAST_ADDED = 0.1  # seconds added to the fast shape (50k x 20, batch 256)

# Stages of our work, as (label, module, attribute). A stage is timed wherever that
# attribute is looked up at call time; nested stages are reported inside their parent.
STAGES = [
    ("evaluate: all our work", "mlflow_sanity.adapters.keras.patch", "_check_evaluate"),
    ("fit: all our work", "mlflow_sanity.adapters.keras.patch", "check_and_log"),
    ("evaluator: all our work", "mlflow_sanity.adapters.evaluator", "SanityEvaluator.evaluate"),
    ("  forward pass (ours)", "mlflow_sanity.adapters.keras.heads", "predict_outputs"),
    ("  fingerprints computed", "mlflow_sanity.core.fingerprint", "compute"),
    ("  row lookups (hash + match)*", "mlflow_sanity.core.fingerprint", "match"),
    ("  evaluated rows' statistics", "mlflow_sanity.core.fingerprint", "rows_fingerprint"),
    ("  classification metrics", "mlflow_sanity.adapters.keras.heads", "classification_of"),
    ("  classification metrics", "mlflow_sanity.adapters.evaluator", "classify"),
    ("  one-feature scan", "mlflow_sanity.checks.leakage.checks", "screened_scores"),
    ("  plots + csv", "mlflow_sanity.report", "classification_files"),
    ("  plots + csv", "mlflow_sanity.adapters.evaluator", "classification_files"),
    ("  MLflow writes", "mlflow_sanity.adapters.keras.patch", "publish"),
    ("  MLflow writes", "mlflow_sanity.adapters.keras.record", "publish"),
    ("  MLflow writes", "mlflow_sanity.tracking.publish", "publish"),
]


class Stages:
    """Seconds spent in each stage during one call, collected per call."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.calls: dict[str, list[dict[str, float]]] = defaultdict(list)
        self.depth: dict[str, int] = defaultdict(int)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.depth[label] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth[label] -= 1
                if not self.depth[label]:  # recursion or two patched names: count once
                    self.current[label] += time.perf_counter() - start

        return timed

    def install(self) -> None:
        for label, module_name, attr in STAGES:
            module = importlib.import_module(module_name)
            owner, _, name = attr.rpartition(".")
            target = getattr(module, owner) if owner else module
            if hasattr(target, name):
                setattr(target, name, self.wrap(label, getattr(target, name)))

    def end_call(self, key: str) -> None:
        self.calls[key].append(dict(self.current))
        self.current.clear()

    def medians(self, key: str) -> dict[str, float]:
        calls = self.calls.get(key, [])
        labels = {label for call in calls for label in call}
        return {
            label: statistics.median(call.get(label, 0.0) for call in calls) for label in labels
        }


STAGE_TIMES = Stages()


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows x 20 float32 features, binary labels with about 10% positives (a rare
    positive class, like fraud or churn data)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    w = np.random.default_rng(99).normal(size=FEATURES)
    z = x @ w + rng.normal(scale=2.0, size=n)
    return x, (z > np.quantile(z, 0.9)).astype("int64")


def compiled_mlp() -> Any:
    """The benchmark's binary MLP 20-64-64-1, fresh weights from seed 0, compiled."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def model_fitted(x: np.ndarray, y: np.ndarray) -> Any:
    model = compiled_mlp()
    model.fit(x, y, epochs=2, batch_size=256, verbose=0)  # checked: evaluate has its fit
    return model


@contextlib.contextmanager
def checked(on: bool) -> Iterator[None]:
    import mlflow_sanity

    if on:  # no cause experiments: they run on a budget of their own (a share of the
        # fit's time, for fits that got stuck), not per row
        mlflow_sanity.autolog(silent=True, prove_causes=False)
    else:
        mlflow_sanity.autolog(disable=True)
    yield


def interleaved(
    run: Callable[[bool], tuple[float, float]], repeats: int, key: str, warm: bool = True
) -> dict[str, float]:
    """Medians bare and checked over ``repeats`` pairs, order alternating: wall seconds and
    the process' CPU seconds (all threads: less sensitive to a busy machine's load)."""
    if warm:  # warm-up: tracing, first writes
        run(False)
        run(True)
    STAGE_TIMES.current.clear()
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for r in range(repeats):
        for on in (False, True) if r % 2 == 0 else (True, False):
            STAGE_TIMES.current.clear()
            times[on].append(run(on))
            if on:
                STAGE_TIMES.end_call(key)
    med = statistics.median
    bare, sane = med(w for w, _ in times[False]), med(w for w, _ in times[True])
    cpu_bare, cpu_sane = med(c for _, c in times[False]), med(c for _, c in times[True])
    return {
        "bare": bare,
        "checked": sane,
        "added": sane - bare,
        "ratio": sane / bare,
        "cpu_bare": cpu_bare,
        "cpu_checked": cpu_sane,
        "cpu_ratio": cpu_sane / cpu_bare,
    }


def _timed(call: Callable[[], Any]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - start, time.process_time() - cpu


def bench_evaluate(model: Any, n: int, batch: int, repeats: int) -> dict[str, float]:
    x, y = data(n, seed=n + batch)

    def run(on: bool) -> tuple[float, float]:
        with checked(on):
            return _timed(lambda: model.evaluate(x, y, batch_size=batch, verbose=0))

    return interleaved(run, repeats, f"evaluate {n} {batch}")


def bench_fit(n: int, repeats: int, warm: bool = True) -> dict[str, float]:
    """One epoch on the 20,000 training rows with ``n`` validation rows; a fresh model per
    call (same seed): fit's end-of-fit work is what the checked fit adds."""

    x, y = data(TRAIN_ROWS, seed=1)
    xv, yv = data(n, seed=n + 7)

    def run(on: bool) -> tuple[float, float]:
        model = compiled_mlp()
        with checked(on):
            return _timed(
                lambda: model.fit(
                    x, y, validation_data=(xv, yv), epochs=1, batch_size=1024, verbose=0
                )
            )

    return interleaved(run, repeats, f"fit {n}", warm)


def bench_evaluator(n: int, repeats: int, warm: bool = True) -> dict[str, float]:
    import mlflow

    x, y = data(n, seed=n + 11)
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(FEATURES)])
    rng = np.random.default_rng(3)
    proba = np.clip(0.5 * y + 0.6 * rng.random(n), 0, 1)
    frame = frame.assign(label=y, pred=(proba > 0.5).astype("int64"), proba=proba)

    def run(on: bool) -> tuple[float, float]:
        with mlflow.start_run():
            return _timed(
                lambda: mlflow.models.evaluate(
                    data=frame,
                    targets="label",
                    predictions="pred",
                    model_type="classifier",
                    evaluators=["default", "sanity"] if on else ["default"],
                    evaluator_config={"sanity": {"probability_columns": "proba"}} if on else {},
                )
            )

    return interleaved(run, repeats, f"evaluator {n}", warm)


def peak_added(model: Any, n: int) -> dict[str, float]:
    """Peak bytes allocated (NumPy, Python) during our work in one checked evaluate of
    ``n`` rows, next to the sizes of the evaluated data, one hash per row and the outputs."""
    from mlflow_sanity.adapters.keras import patch

    x, y = data(n, seed=n + 1024)
    inner = patch._check_evaluate
    seen: dict[str, float] = {}

    def measured(*args: Any, **kwargs: Any) -> Any:
        tracemalloc.start()
        try:
            return inner(*args, **kwargs)
        finally:
            seen["peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    patch._check_evaluate = measured
    try:
        with checked(True):
            model.evaluate(x, y, batch_size=1024, verbose=0)
    finally:
        patch._check_evaluate = inner
    return {"peak": seen.get("peak", float("nan")), "data": x.nbytes, "rows": n}


def _print_table(title: str, rows: dict[int, dict[str, float]]) -> None:
    print(f"\n{title}")
    print("| rows | bare | checked | added | ratio | CPU bare | CPU checked | CPU ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, r in rows.items():
        print(
            f"| {n:,} | {r['bare']:.3f} s | {r['checked']:.3f} s | {r['added']:+.3f} s "
            f"| {r['ratio']:.2f}x | {r['cpu_bare']:.3f} s | {r['cpu_checked']:.3f} s "
            f"| {r['cpu_ratio']:.2f}x |"
        )


def _print_stages(what: str, sizes: list[int], key: Callable[[int], str]) -> None:
    medians = {n: STAGE_TIMES.medians(key(n)) for n in sizes}
    labels = [label for label, *_ in STAGES if any(label in m for m in medians.values())]
    labels = list(dict.fromkeys(labels))
    if not labels:
        return
    print(f"\n{what}: our time by stage (median seconds per checked call)")
    print("| stage | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("| --- | " + " | ".join("---:" for _ in sizes) + " |")
    for label in labels:
        cells = " | ".join(f"{medians[n].get(label, 0.0):.3f}" for n in sizes)
        print(
            f"| {label.strip() if not label.startswith('  ') else '· ' + label.strip()} | {cells} |"
        )


def _per_million(rows: dict[int, dict[str, float]]) -> str:
    """The added seconds per million rows between the two largest sizes: wall, and CPU
    (the CPU slope is the one a busy machine disturbs less)."""
    sizes = sorted(rows)
    if len(sizes) < 2:
        return "n/a"
    a, b = sizes[-2], sizes[-1]
    millions = (b - a) / 1e6

    def cpu_added(n: int) -> float:
        return rows[n]["cpu_checked"] - rows[n]["cpu_bare"]

    wall = (rows[b]["added"] - rows[a]["added"]) / millions
    cpu = (cpu_added(b) - cpu_added(a)) / millions
    return f"{wall:.3f} s wall, {cpu:.3f} s CPU per million rows (between {a:,} and {b:,})"


def _evaluate_part(model: Any, sizes: list[int], repeats: int) -> None:
    rows = {n: bench_evaluate(model, n, 1024, repeats) for n in sizes}
    _print_table("model.evaluate, batch_size=1024", rows)
    _print_stages("model.evaluate", sizes, lambda n: f"evaluate {n} 1024")
    fast = bench_evaluate(model, 50_000, 256, max(repeats, 3))
    _print_table("fast shape: model.evaluate of 50,000 x 20, batch_size=256", {50_000: fast})
    _print_stages("fast shape", [50_000], lambda n: f"evaluate {n} 256")
    verdict = "met" if fast["added"] <= GOAL_FAST_ADDED else "NOT met"
    cpu_added = fast["cpu_checked"] - fast["cpu_bare"]
    print(
        f"added {fast['added']:.3f} s wall, {cpu_added:.3f} s CPU "
        f"(goal <= {GOAL_FAST_ADDED} s: {verdict} on wall)"
    )
    print(f"added cost per million rows: {_per_million(rows)}")
    for n in (500_000, 2_000_000):
        if n in rows:
            r, c = rows[n]["ratio"], rows[n]["cpu_ratio"]
            met = "met" if r <= GOAL_RATIO else "NOT met"
            print(
                f"ratio at {n:,}: {r:.2f}x wall, {c:.2f}x CPU (goal <= {GOAL_RATIO}x: "
                f"{met} on wall, {'met' if c <= GOAL_RATIO else 'NOT met'} on CPU)"
            )


def _fit_part(sizes: list[int], repeats: int) -> None:
    # a fresh model per call: warmed once; one pair above 500k rows (a fit there takes
    # seconds bare, and the pair is what the budget of the default run allows)
    rows = {
        n: bench_fit(n, repeats if n <= 500_000 else 1, warm=i == 0) for i, n in enumerate(sizes)
    }
    _print_table("fit: 20,000 training rows, 1 epoch, N validation rows", rows)
    _print_stages("fit", sizes, lambda n: f"fit {n}")
    print(f"added cost per million validation rows: {_per_million(rows)}")


def _evaluator_part(sizes: list[int], repeats: int) -> None:
    rows = {n: bench_evaluator(n, repeats, warm=i == 0) for i, n in enumerate(sizes)}
    _print_table('evaluator: mlflow.models.evaluate, "default" vs ["default", "sanity"]', rows)
    _print_stages("evaluator", sizes, lambda n: f"evaluator {n}")
    print(f"added cost per million rows: {_per_million(rows)}")


def _memory_part(model: Any, sizes: list[int]) -> None:
    n = max(s for s in sizes if s <= 2_000_000)
    mem = peak_added(model, n)
    print(
        f"\npeak memory our work allocates in one checked evaluate of {n:,} rows: "
        f"{mem['peak'] / 2**20:.1f} MiB (the evaluated data: {mem['data'] / 2**20:.1f} MiB;"
        f" one uint64 hash per row: {n * 8 / 2**20:.1f} MiB; the outputs, float32: "
        f"{n * 4 / 2**20:.1f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="50000,500000,2000000")
    parser.add_argument("--large", action="store_true", help="add 10,000,000 rows")
    parser.add_argument("--quick", action="store_true", help="50k and 500k rows, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="efv", help="e: evaluate, f: fit, v: evaluator")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    sizes = [int(v) for v in args.rows.split(",") if v]
    if args.quick:
        sizes, args.repeats = [s for s in sizes if s <= 500_000], 1
    if args.large:
        sizes.append(10_000_000)

    import logging
    import warnings

    import mlflow

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    STAGE_TIMES.install()
    tmp = tempfile.mkdtemp(prefix="bench-scale-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench-scale")
    load = os.getloadavg()
    began = time.perf_counter()
    print(
        f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"on {os.cpu_count()} cores; repeats={args.repeats} (interleaved medians)"
    )

    with checked(True):
        model = model_fitted(*data(TRAIN_ROWS, seed=1))
    if "e" in args.parts:
        _evaluate_part(model, sizes, args.repeats)
    if "f" in args.parts:
        _fit_part(sizes, args.repeats)
    if "v" in args.parts:  # MLflow's default evaluator takes minutes on millions of rows
        _evaluator_part([n for n in sizes if n <= 500_000 or args.large], args.repeats)
    if not args.no_memory:
        _memory_part(model, sizes)
    load = os.getloadavg()
    print(
        f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"took {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()

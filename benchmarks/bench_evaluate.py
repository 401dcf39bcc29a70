"""Overhead of ``mlflow_sanity.autolog()`` on ``model.evaluate``, on two shapes.

``model.evaluate`` on 50,000 held-out rows x 20 features of a small dense model (two
hidden layers of 64), bare and with ``mlflow_sanity.autolog()``, in one process, the order
alternating every repeat so that machine noise hits both sides alike:

- (a) a binary 20-64-64-1 MLP (sigmoid), ``batch_size=256``: a fast bare call, where a
  fixed cost of the checks shows most;
- (b) the README's shape, a 20-64-64-3 MLP (softmax), ``batch_size=32``.

Each model is fitted once beforehand with mlflow-sanity on (as a user would), so the
evaluate checks have the fit's fingerprints to compare against and their report lands in
the fit's run (a temporary SQLite store). Prints per shape the medians, the ratio and the
added time as a share of the bare call against the goal (<= 30%), the sanity work split
into its parts, and with ``--profile N`` the cProfile of one checked call.

    python benchmarks/bench_evaluate.py [--repeats 7] [--rows 50000] [--shapes ab]
                                        [--profile 25]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

SECONDS: dict[str, list[float]] = defaultdict(list)
CPU: dict[str, list[float]] = defaultdict(list)  # process CPU seconds: less load-sensitive


def _timed(module: Any, name: str, label: str) -> None:
    """Replace ``module.name`` with a wrapper that adds its wall time to ``SECONDS[label]``
    and the process' CPU time to ``CPU[label]``."""
    inner: Callable[..., Any] | None = getattr(module, name, None)
    if inner is None:  # an older version of the code (a "before" run): not timed
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            SECONDS[label].append(time.perf_counter() - start)
            CPU[label].append(time.process_time() - cpu)

    setattr(module, name, wrapper)


def _instrument() -> list[tuple[str, str]]:
    """Time the parts of the evaluate path: (label, what it covers)."""
    patch = importlib.import_module("mlflow_sanity.adapters.keras.patch")
    analyse = importlib.import_module("mlflow_sanity.adapters.keras.analyse")
    heads = importlib.import_module("mlflow_sanity.adapters.keras.heads")
    report = importlib.import_module("mlflow_sanity.report")
    reports = importlib.import_module("mlflow_sanity.tracking.reports")
    fingerprint = importlib.import_module("mlflow_sanity.core.fingerprint")
    leakage = importlib.import_module("mlflow_sanity.checks.leakage.checks")
    parts = [
        (patch, "_check_evaluate", "total", "everything after Keras' own evaluate returned"),
        (analyse, "read_rows", "read", "reading the evaluated rows (inputs.read_rows)"),
        (heads, "predict_outputs", "forward", "our forward pass (predict.predict_outputs)"),
        (heads, "build_report", "checks", "the checks (fingerprints, leakage, metrics)"),
        (fingerprint, "match", "lookups", "  of which: fingerprint lookups (all calls)"),
        (fingerprint, "compute", "fp", "  of which: fingerprints computed (all calls)"),
        (fingerprint, "rows_fingerprint", "rowstats", "  of which: evaluated rows' statistics"),
        (leakage, "screened_scores", "scan", "  of which: the one-feature scan"),
        (report, "classification_files", "plots", "confusion matrix, class balance, csv"),
        (reports, "log_report", "logging", "MLflow: download previous, tags, upload"),
        (reports, "_download_previous", "previous", "  of which: the run's previous report"),
    ]
    for module, name, label, _ in parts:
        _timed(module, name, label)
    return [(label, what) for *_, label, what in parts]


SHAPES = {
    # name: (classes, output units, activation, loss, evaluate's batch size)
    "a": (2, 1, "sigmoid", "binary_crossentropy", 256),
    "b": (3, 3, "softmax", "sparse_categorical_crossentropy", 32),
}
GOAL_ADDED = 0.3  # the checks may add at most 30% of the bare call


def _shape_title(name: str, rows: int) -> str:
    classes, units, _, _, batch = SHAPES[name]
    what = "binary" if classes == 2 else f"{classes} classes"
    return f"({name}) {rows:,} x 20 rows, 20-64-64-{units} MLP ({what}), batch_size={batch}"


def bench_shape(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fit one model of ``SHAPES[name]`` with mlflow-sanity on, then time ``evaluate`` bare
    and checked, interleaved; returns the medians and the per-part seconds."""
    import keras
    import numpy as np

    import mlflow_sanity

    classes, units, activation, loss, batch = SHAPES[name]
    batch = args.batch_size or batch
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, classes))

    def data(n: int) -> tuple[Any, Any]:
        x = rng.normal(size=(n, 20)).astype("float32")
        return x, np.argmax(x @ w + rng.normal(scale=1.0, size=(n, classes)), axis=1)

    x_train, y_train = data(args.rows)
    x_test, y_test = data(args.rows)

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )
    model.compile("adam", loss, metrics=["accuracy"])
    mlflow_sanity.autolog(silent=True)
    start = time.perf_counter()
    model.fit(x_train, y_train, validation_split=0.2, epochs=2, batch_size=256, verbose=0)
    print(f"\n{_shape_title(name, args.rows)}", flush=True)
    print(f"fit (with mlflow-sanity, once): {time.perf_counter() - start:.2f} s", flush=True)

    per_call: dict[str, list[float]] = defaultdict(list)  # per checked evaluate, summed
    per_call_cpu: dict[str, list[float]] = defaultdict(list)

    def run(mode: str) -> float:
        if mode == "sanity":
            mlflow_sanity.autolog(silent=True)
        else:
            mlflow_sanity.autolog(disable=True)
        SECONDS.clear()
        CPU.clear()
        start = time.perf_counter()
        model.evaluate(x_test, y_test, batch_size=batch, verbose=0)
        took = time.perf_counter() - start
        for label, values in SECONDS.items():  # a part called twice (two lookups) adds up
            per_call[label].append(sum(values))
            per_call_cpu[label].append(sum(CPU[label]))
        return took

    for mode in ("bare", "sanity"):  # warm-up: the first trace, the first upload
        run(mode)
    per_call.clear()
    per_call_cpu.clear()
    times: dict[str, list[float]] = {"bare": [], "sanity": []}
    for r in range(args.repeats):
        for mode in ("bare", "sanity") if r % 2 == 0 else ("sanity", "bare"):
            times[mode].append(run(mode))
            print(f"repeat {r + 1} {mode:>6}: evaluate {times[mode][-1]:6.3f} s", flush=True)
    med = statistics.median
    parts = {label: med(v) for label, v in per_call.items() if v}
    cpu = {label: med(v) for label, v in per_call_cpu.items() if v}
    paired = [s / b for s, b in zip(times["sanity"], times["bare"], strict=True)]
    out = {
        "bare": med(times["bare"]),
        "sanity": med(times["sanity"]),
        "paired": med(paired),
        "parts": parts,
        "cpu": cpu,
    }
    if args.profile:
        _profile(model, x_test, y_test, batch, args.profile)
    mlflow_sanity.autolog(disable=True)
    return out


def _profile(model: Any, x: Any, y: Any, batch: int, lines: int) -> None:
    import keras

    import mlflow_sanity

    mlflow_sanity.autolog(silent=True)
    profiler = cProfile.Profile()
    profiler.enable()
    model.evaluate(x, y, batch_size=batch, verbose=0)
    profiler.disable()
    homes = {os.path.dirname(os.path.dirname(m.__file__)) for m in (keras, mlflow_sanity)}
    roots = sorted(homes, key=len, reverse=True)
    for key, title in (("cumulative", "cumulative"), ("tottime", "own time")):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(key)
        stats.print_stats(r"mlflow_sanity/|mlflow/|matplotlib/|trainers/", lines)
        text = out.getvalue()
        for root in roots:  # site-packages and the checkout: shorter lines
            text = text.replace(root + os.sep, "")
        print(f"\n--- one checked evaluate, by {title} (Keras' trainer, ours, MLflow's) ---")
        print(text[text.find("   ncalls") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--shapes", default="ab", help="which shapes to run: a, b or ab")
    parser.add_argument("--batch-size", type=int, default=0, help="override the shape's")
    parser.add_argument("--profile", type=int, default=0, help="profile lines (0: none)")
    args = parser.parse_args()

    import mlflow

    parts = _instrument()
    tmp = tempfile.mkdtemp(prefix="bench-evaluate-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench-evaluate")
    results = {name: bench_shape(name, args) for name in args.shapes if name in SHAPES}

    print(f"\nrows={args.rows} repeats={args.repeats} (interleaved; medians)")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name, r in results.items():
        bare, sanity = r["bare"], r["sanity"]
        added = (sanity - bare) / bare
        verdict = "met" if added <= GOAL_ADDED else "NOT MET"
        print(f"\n{_shape_title(name, args.rows)}")
        print(f"  median evaluate, bare            : {bare:.3f} s")
        print(f"  median evaluate, + mlflow-sanity : {sanity:.3f} s")
        print(f"  ratio {sanity / bare:.3f} (paired median {r['paired']:.3f})")
        print(
            f"  added time {sanity - bare:.3f} s = {added:.0%} of the bare call "
            f"(goal <= {GOAL_ADDED:.0%}: {verdict})"
        )
        print("  median seconds per checked call, by part (wall / process CPU):")
        for label, what in parts:
            if label in r["parts"]:
                wall, cpu = r["parts"][label], r["cpu"][label]
                print(f"    {label:>8}: {wall:6.3f} s / {cpu:6.3f} s  {what}")


if __name__ == "__main__":
    main()

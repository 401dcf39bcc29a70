"""Overhead of ``mlflow_sanity.autolog()`` on ``model.evaluate``.

``model.evaluate`` on 50,000 held-out rows of a small dense model (20 features, two hidden
layers of 64, softmax over 3 classes), bare and with ``mlflow_sanity.autolog()``, in one
process, the order alternating every repeat so that machine noise hits both sides alike.
The model is fitted once beforehand with mlflow-sanity on (as a user would), so the
evaluate checks have the fit's fingerprints to compare against and their report lands in
the fit's run (a temporary SQLite store). Prints the median ratio (goal <= 1.3, above 2.0
is a defect), the absolute seconds, the sanity work split into its parts, and with
``--profile`` the cProfile of one checked call.

    python benchmarks/bench_evaluate.py [--repeats 5] [--rows 50000] [--profile 25]
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


def _timed(module: Any, name: str, label: str) -> None:
    """Replace ``module.name`` with a wrapper that adds its wall time to ``SECONDS[label]``."""
    inner: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            SECONDS[label].append(time.perf_counter() - start)

    setattr(module, name, wrapper)


def _instrument() -> list[tuple[str, str]]:
    """Time the parts of the evaluate path: (label, what it covers)."""
    patch = importlib.import_module("mlflow_sanity.adapters.keras.patch")
    analyse = importlib.import_module("mlflow_sanity.adapters.keras.analyse")
    report = importlib.import_module("mlflow_sanity.report")
    reports = importlib.import_module("mlflow_sanity.tracking.reports")
    parts = [
        (patch, "_check_evaluate", "total", "everything after Keras' own evaluate returned"),
        (analyse, "read_rows", "read", "reading the evaluated rows (inputs.read_rows)"),
        (analyse, "predict_outputs", "forward", "our forward pass (analyse.predict_outputs)"),
        (analyse, "build_report", "checks", "the checks (fingerprints, leakage, metrics)"),
        (report, "classification_files", "plots", "confusion matrix, class balance, csv"),
        (reports, "log_report", "logging", "MLflow: download previous, tags, upload"),
    ]
    for module, name, label, _ in parts:
        _timed(module, name, label)
    return [(label, what) for *_, label, what in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=32, help="evaluate's batch size")
    parser.add_argument("--profile", type=int, default=25, help="profile lines (0: none)")
    args = parser.parse_args()

    import keras
    import mlflow
    import numpy as np

    import mlflow_sanity

    parts = _instrument()
    tmp = tempfile.mkdtemp(prefix="bench-evaluate-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench-evaluate")

    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 3))

    def data(n: int) -> tuple[Any, Any]:
        x = rng.normal(size=(n, 20)).astype("float32")
        return x, np.argmax(x @ w + rng.normal(scale=1.0, size=(n, 3)), axis=1)

    x_train, y_train = data(args.rows)
    x_test, y_test = data(args.rows)

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    mlflow_sanity.autolog(silent=True)
    start = time.perf_counter()
    model.fit(x_train, y_train, validation_split=0.2, epochs=2, batch_size=256, verbose=0)
    print(f"fit (with mlflow-sanity, once): {time.perf_counter() - start:.2f} s", flush=True)

    def run(mode: str) -> float:
        if mode == "sanity":
            mlflow_sanity.autolog(silent=True)
        else:
            mlflow_sanity.autolog(disable=True)
        start = time.perf_counter()
        model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
        return time.perf_counter() - start

    for mode in ("bare", "sanity"):  # warm-up: the first trace, matplotlib, first upload
        run(mode)
    SECONDS.clear()
    times: dict[str, list[float]] = {"bare": [], "sanity": []}
    for r in range(args.repeats):
        for mode in ("bare", "sanity") if r % 2 == 0 else ("sanity", "bare"):
            times[mode].append(run(mode))
            print(f"repeat {r + 1} {mode:>6}: evaluate {times[mode][-1]:6.2f} s", flush=True)

    med = statistics.median
    bare, sanity = med(times["bare"]), med(times["sanity"])
    paired = [s / b for s, b in zip(times["sanity"], times["bare"], strict=True)]
    print(f"\nrows={args.rows} batch_size={args.batch_size} repeats={args.repeats}")
    print(f"median evaluate, bare              : {bare:.2f} s")
    print(f"median evaluate, + mlflow-sanity   : {sanity:.2f} s")
    print(f"median ratio: {sanity / bare:.3f} (paired median {med(paired):.3f}; goal <= 1.3)")
    print("median seconds per checked call, by part:")
    for label, what in parts:
        if SECONDS[label]:
            print(f"  {label:>8}: {med(SECONDS[label]):6.3f} s  {what}")

    if args.profile:
        mlflow_sanity.autolog(silent=True)
        profiler = cProfile.Profile()
        profiler.enable()
        model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
        profiler.disable()
        homes = {os.path.dirname(os.path.dirname(m.__file__)) for m in (keras, mlflow_sanity)}
        roots = sorted(homes, key=len, reverse=True)
        for key, title in (("cumulative", "cumulative"), ("tottime", "own time")):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats(key)
            stats.print_stats(r"mlflow_sanity/|mlflow/|matplotlib/|trainers/", args.profile)
            text = out.getvalue()
            for root in roots:  # site-packages and the checkout: shorter lines
                text = text.replace(root + os.sep, "")
            print(f"\n--- one checked evaluate, by {title} (Keras' trainer, ours, MLflow's) ---")
            print(text[text.find("   ncalls") :])
    mlflow_sanity.autolog(disable=True)


if __name__ == "__main__":
    main()

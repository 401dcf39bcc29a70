"""Overhead of ``mlflow_sanity.autolog()`` on top of ``mlflow.keras.autolog()``.

A 20-epoch fit on 50,000 rows, timed with MLflow's Keras autologging alone and with
mlflow-sanity added, in one process, runs interleaved (the order alternates every
repeat) so that machine noise hits both sides alike. Prints the median ratio; the
target is <= 1.05, because all sanity work happens once, at train end.

    python benchmarks/bench_autolog.py [--repeats 3] [--rows 50000] [--epochs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import keras
    import mlflow
    import numpy as np

    import mlflow_sanity

    tmp = tempfile.mkdtemp(prefix="bench-autolog-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench-autolog")
    mlflow.keras.autolog()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 20)).astype("float32")
    w = rng.normal(size=20)
    y = (x @ w + rng.normal(scale=2.0, size=args.rows) > 0).astype("int64")

    def fit(epochs: int) -> float:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((20,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x, y, epochs=epochs, batch_size=args.batch_size, validation_split=0.2, verbose=0)
        return time.perf_counter() - start

    def run(mode: str, epochs: int) -> float:
        if mode == "sanity":
            mlflow_sanity.autolog()
        else:
            mlflow_sanity.autolog(disable=True)
        return fit(epochs)

    for mode in ("mlflow", "sanity"):  # warm-up: imports, first traces, matplotlib
        run(mode, 1)
    times: dict[str, list[float]] = {"mlflow": [], "sanity": []}
    for r in range(args.repeats):
        order = ("mlflow", "sanity") if r % 2 == 0 else ("sanity", "mlflow")
        for mode in order:
            seconds = run(mode, args.epochs)
            times[mode].append(seconds)
            print(f"repeat {r + 1} {mode:>6}: {seconds:7.2f} s", flush=True)
    base, sanity = statistics.median(times["mlflow"]), statistics.median(times["sanity"])
    paired = [s / b for s, b in zip(times["sanity"], times["mlflow"], strict=True)]
    print(
        f"rows={args.rows} epochs={args.epochs} batch_size={args.batch_size} repeats={args.repeats}"
    )
    print(f"median mlflow.keras.autolog alone : {base:.2f} s")
    print(f"median + mlflow_sanity.autolog    : {sanity:.2f} s")
    print(f"median ratio: {sanity / base:.3f} (paired median {statistics.median(paired):.3f})")


if __name__ == "__main__":
    main()

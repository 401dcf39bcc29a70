"""Overhead of ``mlflow_sanity.autolog()`` on top of ``mlflow.keras.autolog()``.

A 20-epoch fit on 50,000 rows, timed with MLflow's Keras autologging alone and with
mlflow-sanity added, in one process, runs interleaved (the order alternates every
repeat) so that machine noise hits both sides alike. Prints the median ratio; the
target is <= 1.05, because all sanity work happens once, at train end. The train-end
work is also timed on its own, so a noisy machine cannot hide (or invent) overhead.
The training-cause probes (``ProbeCallback``: gradient probes, NaN watch, dead units)
and the input/label statistics are timed separately too; their target is <= 2% of the fit.

    python benchmarks/bench_autolog.py [--repeats 3] [--rows 50000] [--epochs 20]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import tempfile
import time
from typing import Any

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

    adapter = importlib.import_module("mlflow_sanity.adapters.keras.patch")
    probes = importlib.import_module("mlflow_sanity.adapters.keras.probes")
    analyse = importlib.import_module("mlflow_sanity.adapters.keras.analyse")
    check_and_log = adapter.check_and_log
    sanity_seconds: list[float] = []
    probe_clock = {"during": 0.0, "after": 0.0}

    def clocked(fn: Any, slot: str) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                probe_clock[slot] += time.perf_counter() - start

        return wrapper

    for hook in ("on_train_begin", "on_epoch_end", "finish"):
        setattr(probes.ProbeCallback, hook, clocked(getattr(probes.ProbeCallback, hook), "during"))
    analyse.with_cause_data = clocked(analyse.with_cause_data, "after")
    probe_during: list[float] = []
    probe_after: list[float] = []

    def timed_check_and_log(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return check_and_log(*a, **kw)
        finally:
            sanity_seconds.append(time.perf_counter() - start)

    adapter.check_and_log = timed_check_and_log

    class EpochsTimer(keras.callbacks.Callback):
        """Seconds from on_train_begin to on_train_end: the epochs, where no sanity code runs."""

        def on_train_begin(self, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_train_end(self, logs: Any = None) -> None:
            self.seconds = time.perf_counter() - self.start

    tmp = tempfile.mkdtemp(prefix="bench-autolog-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench-autolog")
    mlflow.keras.autolog()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 20)).astype("float32")
    w = rng.normal(size=20)
    y = (x @ w + rng.normal(scale=2.0, size=args.rows) > 0).astype("int64")

    def run(mode: str, epochs: int) -> tuple[float, float]:
        if mode == "sanity":
            mlflow_sanity.autolog()
        else:
            mlflow_sanity.autolog(disable=True)
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((20,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        timer = EpochsTimer()
        probe_clock.update(during=0.0, after=0.0)
        start = time.perf_counter()
        model.fit(
            x,
            y,
            epochs=epochs,
            batch_size=args.batch_size,
            validation_split=0.2,
            verbose=0,
            callbacks=[timer],
        )
        if mode == "sanity":
            probe_during.append(probe_clock["during"])
            probe_after.append(probe_clock["after"])
        return time.perf_counter() - start, timer.seconds

    for mode in ("mlflow", "sanity"):  # warm-up: imports, first traces, matplotlib
        run(mode, 1)
    sanity_seconds.clear()
    probe_during.clear()
    probe_after.clear()
    fits: dict[str, list[float]] = {"mlflow": [], "sanity": []}
    epochs_only: dict[str, list[float]] = {"mlflow": [], "sanity": []}
    for r in range(args.repeats):
        for mode in ("mlflow", "sanity") if r % 2 == 0 else ("sanity", "mlflow"):
            seconds, training = run(mode, args.epochs)
            fits[mode].append(seconds)
            epochs_only[mode].append(training)
            print(
                f"repeat {r + 1} {mode:>6}: fit {seconds:7.2f} s (epochs {training:7.2f} s)",
                flush=True,
            )

    med = statistics.median
    base, sanity, work = med(fits["mlflow"]), med(fits["sanity"]), med(sanity_seconds)
    paired = [s / b for s, b in zip(fits["sanity"], fits["mlflow"], strict=True)]
    print(f"rows={args.rows} epochs={args.epochs} batch_size={args.batch_size} x{args.repeats}")
    print(f"median fit, mlflow.keras.autolog alone: {base:.2f} s")
    print(f"median fit, + mlflow_sanity.autolog   : {sanity:.2f} s")
    print(
        f"median epochs-only time: {med(epochs_only['mlflow']):.2f} s alone, "
        f"{med(epochs_only['sanity']):.2f} s with mlflow-sanity (no sanity code runs there)"
    )
    print(f"median sanity work at train end: {work:.2f} s ({work / base:.1%} of the fit)")
    print(f"median ratio: {sanity / base:.3f} (paired median {med(paired):.3f})")
    print(f"ratio from the measured train-end work: {(base + work) / base:.3f}")
    during, after = med(probe_during), med(probe_after)
    print(
        f"median probe time (ProbeCallback hooks, incl. train-end dead units): {during:.3f} s "
        f"= {during / base:.2%} of the fit"
    )
    print(
        f"median cause data at train end (input/label statistics + probe spec): {after:.3f} s "
        f"= {after / base:.2%} of the fit; together {(during + after) / base:.2%} (target <= 2%)"
    )


if __name__ == "__main__":
    main()

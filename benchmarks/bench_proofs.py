"""Cost of the cause experiments against the fit they explain.

A stuck fit (a two-input model fed raw minutes and ages at SGD's default rate: accuracy
stays at the majority baseline) on ``--rows`` rows for ``--epochs`` epochs, with
``mlflow_sanity.autolog()`` at its default budget (``prove_causes="auto"``). Times the
user's fit and the experiments (``adapters/keras/proofs.prove``: one shared control and
remedied copies, at most 2,000 training rows and 5 epochs an arm, more seeds only while
undecided) and prints their ratio as a share of the fit, the work units the experiments
spent and were allowed (counted from the fit, not the clock), and the verdicts, per
repeat. ``--busy`` runs the same repeats beside a CPU-bound process: the seconds grow,
the work units and verdicts must not change.
A healthy fit runs no experiment (``bench_autolog.py`` measures that cost).

    python benchmarks/bench_proofs.py [--rows 50000] [--epochs 10] [--repeats 2] [--busy]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="beside a CPU-bound process")
    args = parser.parse_args()
    hog = None
    if args.busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"])
    try:
        _bench(args)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def _bench(args: argparse.Namespace) -> None:

    import keras
    import mlflow
    import numpy as np

    import mlflow_sanity
    from mlflow_sanity.adapters.keras import patch, proofs

    clock: dict[str, Any] = {}
    prove = proofs.prove

    def timed(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            report = prove(*a, **kw)
            clock["verdicts"] = report.inputs.get("proofs") or {}
            clock["work"] = report.inputs.get("experiments") or {}
            return report
        finally:
            clock["proofs"] = time.perf_counter() - start
            clock["fit"] = a[1].seconds or float("nan")

    proofs.prove = timed
    rng = np.random.default_rng(0)
    age = rng.uniform(18, 90, args.rows).astype("float32")
    minutes = rng.uniform(0, 10080, args.rows).astype("float32")
    y = (age + rng.normal(0, 8, args.rows) > 54).astype("int64")
    x = {"minutes": minutes[:, None], "age": age[:, None]}

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("bench-proofs")
        mlflow_sanity.autolog(silent=True)
        ratios = []
        for i in range(args.repeats):
            keras.utils.set_random_seed(i)
            a, b = keras.Input((1,), name="minutes"), keras.Input((1,), name="age")
            h = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([a, b]))
            out = keras.layers.Dense(1, activation="sigmoid")(h)
            model = keras.Model({"minutes": a, "age": b}, out)
            model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy", metrics=["accuracy"])
            with mlflow.start_run():
                model.fit(x, y, validation_split=0.2, epochs=args.epochs, verbose=0)
            run = mlflow.last_active_run()
            verdict = run.data.tags.get("sanity.findings", "")
            ratio = clock["proofs"] / clock["fit"]
            ratios.append(ratio)
            work = clock.get("work", {})
            print(
                f"repeat {i}: fit {clock['fit']:.1f} s, experiments {clock['proofs']:.1f} s, "
                f"ratio {ratio:.2f} of the fit; work {work.get('work_units')} of "
                f"{work.get('allowed_units')} units; experiments: {clock['verdicts']} "
                f"(flagged: {verdict})"
            )
        patch.autolog(disable=True)
    where = "beside a CPU-bound process" if args.busy else "idle"
    print(f"median experiments/fit ratio ({where}): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

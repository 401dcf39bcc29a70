"""Cost of the cause experiments against the fit they explain.

A stuck fit (Adam at learning rate 1.0, 1000x its default: the ReLUs die and one class
is predicted) on ``--rows`` rows of Gaussian classes for ``--epochs`` epochs, with
``mlflow_sanity.autolog()`` at its default budget (``prove_causes="auto"``). Times the
user's fit and the experiments (``adapters/keras/proofs.prove``: control and remedied
copies, at most 2,000 training rows and 5 epochs an arm) and prints their ratio, with
the verdict, per repeat.
A healthy fit runs no experiment (``bench_autolog.py`` measures that cost).

    python benchmarks/bench_proofs.py [--rows 50000] [--epochs 10] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    args = parser.parse_args()

    import keras
    import mlflow
    import numpy as np

    import mlflow_sanity
    from mlflow_sanity.adapters.keras import patch, proofs

    clock: dict[str, float] = {}
    prove = proofs.prove

    def timed(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return prove(*a, **kw)
        finally:
            clock["proofs"] = time.perf_counter() - start
            clock["fit"] = a[1].seconds or float("nan")

    proofs.prove = timed
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 20)) * 2.0
    y = rng.permutation(np.arange(args.rows) % 5)
    x = (centers[y] + rng.normal(size=(args.rows, 20)) * 1.5).astype("float32")

    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("bench-proofs")
        mlflow_sanity.autolog(silent=True)
        ratios = []
        for i in range(args.repeats):
            keras.utils.set_random_seed(i)
            model = keras.Sequential(
                [
                    keras.Input((20,)),
                    keras.layers.Dense(64, activation="relu"),
                    keras.layers.Dense(5, activation="softmax"),
                ]
            )
            model.compile(
                keras.optimizers.Adam(1.0), "sparse_categorical_crossentropy", metrics=["accuracy"]
            )
            with mlflow.start_run():
                model.fit(x, y, validation_split=0.2, epochs=args.epochs, verbose=0)
            run = mlflow.last_active_run()
            verdict = run.data.tags.get("sanity.findings", "")
            ratio = clock["proofs"] / clock["fit"]
            ratios.append(ratio)
            print(
                f"repeat {i}: fit {clock['fit']:.1f} s, experiments {clock['proofs']:.1f} s, "
                f"ratio {ratio:.2f} (flagged: {verdict})"
            )
        patch.autolog(disable=True)
    print(f"median experiments/fit ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

"""Evaluator cost: `sanity` vs MLflow's `default` evaluator on the same static predictions.

Prints ratios measured in one process (absolute times on shared machines are noise).
Targets: sanity <= 1.0x default wall time including artifact logging; the core
metrics+findings under 0.2 s at 50k rows, growing linearly up to 5M rows.

    python benchmarks/bench_evaluator.py [--rows 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    score = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1)
    return pd.DataFrame(
        {"f0": rng.normal(size=n), "label": y, "pred": (score > 0.5).astype(int), "proba": score}
    )


def time_evaluate(df: pd.DataFrame, evaluators: str) -> float:
    import mlflow

    config = {"probability_columns": "proba"} if evaluators == "sanity" else {}
    with mlflow.start_run():
        start = time.perf_counter()
        mlflow.models.evaluate(
            data=df,
            targets="label",
            predictions="pred",
            model_type="classifier",
            evaluators=evaluators,
            evaluator_config=config,
        )
        return time.perf_counter() - start


def time_core(n: int, repeats: int) -> float:
    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.core.pipeline import build_report

    df = frame(n)
    y, pred, proba = df["label"].to_numpy(), df["pred"].to_numpy(), df["proba"].to_numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        build_report(Context(eval=classify(y, pred, proba)))
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-scale-rows", type=int, default=5_000_000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
        mlflow.set_experiment("bench-evaluator")
        df = frame(args.rows)
        time_evaluate(df, "sanity")  # warm-up: imports, DB tables, plugin load
        time_evaluate(df, "default")
        sanity, default = [], []
        for _ in range(args.repeats):  # interleaved so machine noise hits both alike
            sanity.append(time_evaluate(df, "sanity"))
            default.append(time_evaluate(df, "default"))
    s, d = statistics.median(sanity), statistics.median(default)
    print(
        f"evaluate() on {args.rows:,} rows of static binary predictions, median of {args.repeats}"
    )
    print(f"  default evaluator : {d:7.3f} s")
    print(f"  sanity evaluator  : {s:7.3f} s")
    print(f"  ratio sanity/default: {s / d:.2f}x   (target <= 1.00x)")

    print("\ncore metrics + findings (no MLflow), best of 3")
    base_n = args.rows
    base = time_core(base_n, 3)
    print(f"  {base_n:>9,} rows: {base:7.3f} s   (target < 0.2 s at 50k)")
    n = base_n * 10
    while n <= args.max_scale_rows:
        t = time_core(n, 1 if n >= 1_000_000 else 3)
        print(
            f"  {n:>9,} rows: {t:7.3f} s   time ratio {t / base:6.1f}x for {n / base_n:.0f}x rows"
        )
        n *= 10


if __name__ == "__main__":
    main()

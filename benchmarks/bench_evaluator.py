"""Evaluator cost: `sanity` vs MLflow's `default` evaluator on the same static predictions.

Two frames of static binary predictions (``predictions="pred"``, a probability column):
a one-feature frame and a realistic one with 20 numeric feature columns. For each frame
it prints, measured in one process with interleaved repeats (absolute times on shared
machines are noise; ratios and medians are not):

- the end-to-end ratio ``mlflow.models.evaluate(evaluators="sanity")`` /
  ``evaluators="default"`` (target <= 1.00x);
- sanity's own time: ``SanityEvaluator.evaluate`` itself (MLflow's dataset logging
  excluded), broken down into its stages (target <= 0.15 s on 50k x 20).

Then many classes: 1,000 classes x 3 rows of static hard predictions, sanity's own time
(target <= 2 s; the plots aggregate above 30 classes), and the core metrics + findings
without MLflow (target <= 0.05 s at 50k rows) and their scaling to 500k and 5M rows
(linear).

    python benchmarks/bench_evaluator.py [--rows 50000] [--features 20] [--repeats 5]
                                         [--classes 1000] [--only-many-classes]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import os
import statistics
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import pandas as pd

# Stages of SanityEvaluator.evaluate, as (label, module, attribute); nested stages are
# timed inside their parent and reported both ways. Missing attributes are skipped.
STAGES = [
    ("read predictions", "mlflow_sanity.adapters.evaluator", "static_outputs"),
    ("classify (metrics)", "mlflow_sanity.adapters.evaluator", "classify"),
    ("leakage inputs (MLflow reads)", "mlflow_sanity.adapters.evaluator", "leakage_inputs"),
    ("checks (build_report)", "mlflow_sanity.adapters.evaluator", "build_report"),
    ("plots + csv", "mlflow_sanity.adapters.evaluator", "classification_files"),
    ("log_report", "mlflow_sanity.tracking.reports", "log_report"),
    ("  render json", "mlflow_sanity.tracking.reports", "render_json"),
    ("  render html", "mlflow_sanity.tracking.reports", "render_html"),
]
LEAKAGE_SCAN = "feature_target_leakage"  # the univariate scan of the evaluation data


def frame(n: int, features: int = 1, seed: int = 0) -> pd.DataFrame:
    """Binary labels (20% positive), hard predictions and a positive-class probability."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    score = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1)
    data = {f"f{i}": rng.normal(size=n) for i in range(features)}
    data.update(label=y, pred=(score > 0.5).astype(int), proba=score)
    return pd.DataFrame(data)


class StageTimer:
    """Wall time of named functions while ``SanityEvaluator.evaluate`` runs."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, list[float]] = defaultdict(list)  # process CPU: load-robust
        self._current: dict[str, float] = defaultdict(float)
        self._current_cpu: dict[str, float] = defaultdict(float)

    def wrap(self, label: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._current[label] += time.perf_counter() - start
                self._current_cpu[label] += time.process_time() - cpu

        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from mlflow_sanity.adapters.evaluator import SanityEvaluator
        from mlflow_sanity.checks.registry import REGISTRY

        undo = []
        for label, module_name, attr in STAGES:
            module = importlib.import_module(module_name)
            if hasattr(module, attr):
                original = getattr(module, attr)
                setattr(module, attr, self.wrap(label, original))
                undo.append((module, attr, original))
        chk = REGISTRY[LEAKAGE_SCAN]
        REGISTRY[LEAKAGE_SCAN] = dataclasses.replace(chk, fn=self.wrap("  leakage scan", chk.fn))
        original_eval = SanityEvaluator.evaluate
        SanityEvaluator.evaluate = self.wrap("SanityEvaluator.evaluate", original_eval)
        try:
            yield
        finally:
            SanityEvaluator.evaluate = original_eval
            REGISTRY[LEAKAGE_SCAN] = chk
            for module, attr, original in reversed(undo):
                setattr(module, attr, original)

    def end_call(self) -> None:
        for label, seconds in self._current.items():
            self.times[label].append(seconds)
            self.cpu[label].append(self._current_cpu[label])
        self._current.clear()
        self._current_cpu.clear()

    def median(self, label: str) -> float:
        values = self.times.get(label)
        return statistics.median(values) if values else float("nan")


def time_evaluate(df: pd.DataFrame, evaluators: str) -> float:
    import mlflow

    with_proba = evaluators == "sanity" and "proba" in df.columns
    config = {"probability_columns": "proba"} if with_proba else {}
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


def bench_frame(df: pd.DataFrame, repeats: int) -> None:
    timer = StageTimer()
    time_evaluate(df, "sanity")  # warm-up: imports, DB tables, plugin load, templates
    time_evaluate(df, "default")
    sanity, default = [], []
    with timer.installed():
        for _ in range(repeats):  # interleaved so machine noise hits both alike
            sanity.append(time_evaluate(df, "sanity"))
            timer.end_call()
            default.append(time_evaluate(df, "default"))
    s, d = statistics.median(sanity), statistics.median(default)
    n_features = df.shape[1] - 3
    print(f"\n{df.shape[0]:,} rows x {n_features} feature column(s), median of {repeats}")
    print(f"  evaluate(evaluators='default'): {d:7.3f} s")
    print(f"  evaluate(evaluators='sanity') : {s:7.3f} s")
    print(f"  ratio sanity/default          : {s / d:7.2f}x   (target <= 1.00x)")
    own = timer.median("SanityEvaluator.evaluate")
    own_cpu = statistics.median(timer.cpu["SanityEvaluator.evaluate"])
    ok = "met" if own <= 0.15 else "NOT MET"
    print(
        f"  sanity's own work (SanityEvaluator.evaluate): {own:.3f} s wall, "
        f"{own_cpu:.3f} s CPU   (target <= 0.15 s on 50k x 20: {ok})"
    )
    labels = [label for label, _, _ in STAGES] + ["  leakage scan"]
    for label in labels:
        if label in timer.times:
            print(f"    {label:<32} {timer.median(label):7.3f} s")
    accounted = sum(timer.median(label) for label, _, _ in STAGES if not label.startswith(" "))
    print(f"    {'rest (glue, Split, config)':<32} {own - accounted:7.3f} s")


def many_classes_frame(classes: int, per_class: int = 3, seed: int = 0) -> pd.DataFrame:
    """``per_class`` rows of each of ``classes`` labels; 30% of predictions are wrong."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per_class)
    pred = y.copy()
    wrong = rng.random(y.size) < 0.3
    pred[wrong] = rng.integers(0, classes, int(wrong.sum()))
    return pd.DataFrame({"f0": rng.normal(size=y.size), "label": y, "pred": pred})


def bench_many_classes(classes: int, repeats: int) -> None:

    df = many_classes_frame(classes)
    timer = StageTimer()

    def once() -> float:
        return time_evaluate(df, "sanity")

    once()  # warm-up
    walls = []
    with timer.installed():
        for _ in range(repeats):
            walls.append(once())
            timer.end_call()
    own = timer.median("SanityEvaluator.evaluate")
    print(f"\n{classes:,} classes x 3 rows (static hard predictions), median of {repeats}")
    print(f"  evaluate(evaluators='sanity') wall time: {statistics.median(walls):7.3f} s")
    ok = "OK" if own <= 2.0 else "TOO SLOW"
    print(f"  sanity's own work (SanityEvaluator.evaluate): {own:.3f} s   (target <= 2 s: {ok})")
    for label in [label for label, _, _ in STAGES] + ["  leakage scan"]:
        if label in timer.times:
            print(f"    {label:<32} {timer.median(label):7.3f} s")


def time_core(n: int, repeats: int) -> float:
    """Best of ``repeats``: pure computation, so the minimum is the least noisy estimate."""
    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.pipeline import build_report

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
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-scale-rows", type=int, default=5_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--only-many-classes", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    print("evaluate() on static binary predictions (predictions='pred', a probability column)")
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/bench.db")
        mlflow.set_experiment("bench-evaluator")
        if not args.only_many_classes:
            for features in dict.fromkeys([1, args.features]):
                bench_frame(frame(args.rows, features), args.repeats)
        bench_many_classes(args.classes, args.repeats)
    if args.only_many_classes:
        return

    print("\ncore metrics + findings (classify + build_report, no MLflow), best of 3-5")
    base_n = args.rows
    time_core(base_n, 1)  # warm-up
    base = time_core(base_n, 5)
    print(f"  {base_n:>9,} rows: {base:7.3f} s   (target <= 0.05 s at 50k)")
    n = base_n * 10
    while n <= args.max_scale_rows:
        t = time_core(n, 2 if n >= 1_000_000 else 3)
        print(
            f"  {n:>9,} rows: {t:7.3f} s   time ratio {t / base:6.1f}x for {n / base_n:.0f}x rows"
        )
        n *= 10


if __name__ == "__main__":
    main()

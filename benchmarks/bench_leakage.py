"""Benchmark: train/test overlap detection (exact + near duplicates).

Builds ROWS x 20 training rows and 50,000 test rows of which 1% are planted duplicates
(half exact copies, half float32 round trips of training rows), then times

- mlflow-sanity: fingerprint the training data, look up every test row (grid + boundary
  probes for near duplicates) and tell exact copies from near ones;
- the floor: a bare ``pandas.util.hash_pandas_object`` + ``numpy.isin`` join (exact only);
- the evaluation-side scan: ``feature_target_leakage`` (one-feature ROC-AUC of every
  column) on the 50,000 test rows alone, and ``build_report`` with only that context;
- deepchecks' ``TrainTestSamplesMix`` on the same frames, in a separate virtualenv
  (deepchecks 0.19.1 needs numpy<2, pandas<2.2, scikit-learn 1.5.2, category-encoders<2.7),
  or a skip message when that environment cannot be built.

Usage::

    python benchmarks/bench_leakage.py                    # 200,000 training rows
    python benchmarks/bench_leakage.py --rows 10000000    # memory check: peak RSS
    python benchmarks/bench_leakage.py --no-deepchecks

Not a test: numbers depend on the machine and its load (best of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import venv
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlflow_sanity.checks import REGISTRY, Context
from mlflow_sanity.checks.leakage import overlap, univariate_scores
from mlflow_sanity.core import fingerprint
from mlflow_sanity.core.splits import Split
from mlflow_sanity.pipeline import build_report

N_FEATURES = 20
N_TEST = 50_000
DUP_SHARE = 0.01
DEEPCHECKS_VENV = Path(tempfile.gettempdir()) / "mlflow-sanity-bench-deepchecks"
DEEPCHECKS_REQS = [
    "deepchecks==0.19.1",
    "numpy<2",
    "pandas<2.2",
    "scikit-learn==1.5.2",
    "category-encoders<2.7",
]
DEEPCHECKS_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
warnings.filterwarnings("ignore")
from deepchecks.tabular import Dataset
from deepchecks.tabular.checks import TrainTestSamplesMix
folder = sys.argv[1]
cols = [f"f{i}" for i in range(int(sys.argv[2]))]
train = pd.DataFrame(np.load(f"{folder}/train.npy"), columns=cols)
test = pd.DataFrame(np.load(f"{folder}/test.npy"), columns=cols)
train["label"] = np.load(f"{folder}/y_train.npy")
test["label"] = np.load(f"{folder}/y_test.npy")
start = time.perf_counter()
tr = Dataset(train, label="label", cat_features=[])
te = Dataset(test, label="label", cat_features=[])
result = TrainTestSamplesMix().run(tr, te)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "value": str(result.value)[:200]}))
"""


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Training frame, test frame with planted duplicates, and the planted test rows."""
    rng = np.random.default_rng(seed)
    cols = [f"f{i}" for i in range(N_FEATURES)]
    train = pd.DataFrame(rng.standard_normal((rows, N_FEATURES)), columns=cols, copy=False)
    test_values = rng.standard_normal((N_TEST, N_FEATURES))
    n_dup = int(N_TEST * DUP_SHARE)
    planted = rng.choice(N_TEST, n_dup, replace=False)
    source = rng.choice(rows, n_dup, replace=False)
    copied = train.to_numpy()[source]
    half = n_dup // 2
    copied[half:] = copied[half:].astype(np.float32).astype(np.float64)  # near duplicates
    test_values[planted] = copied
    return train, pd.DataFrame(test_values, columns=cols), np.sort(planted)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run_sanity(train: pd.DataFrame, test: pd.DataFrame):
    fp = fingerprint.compute(train)
    alpha = REGISTRY["train_test_overlap"].defaults["chance_alpha"]
    return overlap(fp, Split(test), Split(train), chance_alpha=alpha)


def run_scan(test: pd.DataFrame, repeat: int) -> None:
    """The evaluation data alone: the univariate scan and the report it is part of."""
    y = np.random.default_rng(2).integers(0, 2, len(test))
    t_scan, _ = best_of(lambda: univariate_scores(test, y), repeat)
    t_report, report = best_of(lambda: build_report(Context(test=Split(test, y))), repeat)
    ran = ", ".join(f.id for f in report.findings)
    print(
        f"evaluation-side scan (univariate_scores, {test.shape[0]} x {test.shape[1]}): "
        f"{t_scan * 1000:.1f} ms; build_report with only test data ({ran}): "
        f"{t_report * 1000:.1f} ms"
    )


def run_floor(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    h_train = pd.util.hash_pandas_object(train, index=False).to_numpy()
    h_test = pd.util.hash_pandas_object(test, index=False).to_numpy()
    return np.isin(h_test, h_train)


def deepchecks_python(build: bool) -> Path | None:
    py = DEEPCHECKS_VENV / "bin" / "python"
    if py.exists():
        return py
    if not build:
        return None
    print(f"building the deepchecks environment in {DEEPCHECKS_VENV} (once) ...", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(DEEPCHECKS_VENV)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *DEEPCHECKS_REQS],
            check=True,
            timeout=1800,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  could not build it: {exc}")
        return None
    return py


def run_deepchecks(py: Path, train: pd.DataFrame, test: pd.DataFrame) -> float | None:
    with tempfile.TemporaryDirectory(prefix="bench-leakage-") as tmp:
        np.save(f"{tmp}/train.npy", train.to_numpy())
        np.save(f"{tmp}/test.npy", test.to_numpy())
        rng = np.random.default_rng(1)
        np.save(f"{tmp}/y_train.npy", rng.integers(0, 2, len(train)))
        np.save(f"{tmp}/y_test.npy", rng.integers(0, 2, len(test)))
        script = Path(tmp) / "run.py"
        script.write_text(DEEPCHECKS_SCRIPT)
        proc = subprocess.run(
            [str(py), str(script), tmp, str(N_FEATURES)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print("  deepchecks failed: " + " | ".join(tail))
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  deepchecks result: {result['value']}")
    return float(result["seconds"])


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="training rows")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (best kept)")
    parser.add_argument("--no-deepchecks", action="store_true", help="skip deepchecks")
    parser.add_argument(
        "--no-build", action="store_true", help="use the deepchecks venv only if it exists"
    )
    args = parser.parse_args()
    big = args.rows > 1_000_000

    print(f"machine: {os.cpu_count()} CPUs; numpy {np.__version__}, pandas {pd.__version__}")
    train, test, planted = make_data(args.rows)
    print(f"data: train {train.shape}, test {test.shape}, planted duplicates {planted.size}")
    rss_data = peak_rss_gib()

    repeat = 1 if big else args.repeat
    run_scan(test, repeat)
    t_sanity, ov = best_of(lambda: run_sanity(train, test), repeat)
    working = 0.0
    if big:  # a second, traced run: tracemalloc slows allocation, so it is not timed
        tracemalloc.start()
        run_sanity(train, test)
        working = tracemalloc.get_traced_memory()[1] / 1024**3
        tracemalloc.stop()
    found = np.flatnonzero(ov.match.in_train)
    exact = int(ov.exact.sum())
    assert np.array_equal(found, planted), "sanity missed or invented duplicates"
    print(
        f"mlflow-sanity overlap (exact + near): {t_sanity:.3f} s  -> found {found.size} "
        f"({exact} exact, {found.size - exact} near), all planted rows, no false matches"
    )
    if big:
        print(
            f"peak RSS: {peak_rss_gib():.2f} GiB (after building the data: {rss_data:.2f} GiB; "
            f"training frame {train.memory_usage().sum() / 1024**3:.2f} GiB); peak memory "
            f"allocated by the overlap check: {working:.2f} GiB"
        )

    t_floor, floor_hits = best_of(lambda: run_floor(train, test), repeat)
    print(
        f"floor (hash_pandas_object + np.isin, exact only): {t_floor:.3f} s  -> found "
        f"{int(floor_hits.sum())}"
    )
    print(f"ratio sanity / floor: {t_sanity / t_floor:.2f}x (target: within 3x)")

    if args.no_deepchecks or big:
        print("deepchecks: skipped" + (" (--rows > 1M)" if big else ""))
        return
    py = deepchecks_python(build=not args.no_build)
    if py is None:
        print("deepchecks: skipped (no environment with deepchecks 0.19.1)")
        return
    t_deep = run_deepchecks(py, train, test)
    if t_deep is None:
        print("deepchecks: skipped (it did not run)")
        return
    print(f"deepchecks TrainTestSamplesMix: {t_deep:.2f} s")
    print(f"speed-up over deepchecks: {t_deep / t_sanity:.0f}x (target: >= 100x)")


if __name__ == "__main__":
    main()

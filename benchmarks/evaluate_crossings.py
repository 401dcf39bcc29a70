"""How many times one ``model.evaluate`` crosses from one module of the package into another.

The measure of docs/architecture.md ("the path of one model.evaluate"): a small Keras model
is fitted under ``mlflow_sanity.autolog()`` (a temporary SQLite store), then one
``model.evaluate`` runs under ``sys.setprofile``; every Python call whose caller and
callee are both in ``mlflow_sanity`` but in different modules counts once. The path's
count is the number of distinct function-to-function calls between two modules, the checks'
own calls left out (running the registry counts once): the figure docs/architecture.md
gives. Also prints the count issue 27 gave (88 at its base, 83fadef): the distinct
calls from a module into another module's function, constructors, context-manager
entries and exits and lambdas left out. Run on that base commit, this script gives 88 that
way (and 104 the strict way). Also prints all cross-module calls and the busiest module pairs.

    PYTHONPATH=$PWD python benchmarks/evaluate_crossings.py [--top 15] [--edges]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


EDGES: set[tuple[str, str, str, str]] = set()


def _module(frame) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if name == "mlflow_sanity" or name.startswith("mlflow_sanity.") else None


def count(top: int = 15) -> tuple[int, Counter, set[str]]:
    import mlflow

    import mlflow_sanity

    tmp = tempfile.mkdtemp(prefix="crossings-")
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("crossings")
    mlflow_sanity.autolog()
    total, pairs, touched, edges = trace_one_evaluate()
    EDGES.update(edges)
    return total, pairs, touched


def trace_one_evaluate() -> tuple[int, Counter, set[str], set[tuple[str, str, str, str]]]:
    """Fit the small model and trace its ``model.evaluate`` under the active store and autolog."""
    import keras
    import mlflow
    import numpy as np

    keras.utils.set_random_seed(0)  # the same model, findings and path on every run
    r = np.random.default_rng(0)
    x = r.normal(size=(400, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with mlflow.start_run():
        model.fit(x[:300], y[:300], validation_split=0.2, epochs=2, verbose=0)
        pairs: Counter = Counter()
        touched: set[str] = set()
        edges: set = set()

        def profile(frame, event, arg):
            if event != "call":
                return
            callee = _module(frame)
            caller = _module(frame.f_back) if frame.f_back is not None else None
            if callee:
                touched.add(callee)
            if callee and caller and callee != caller:
                pairs[(caller, callee)] += 1
                edges.add((caller, frame.f_back.f_code.co_name, callee, frame.f_code.co_name))

        sys.setprofile(profile)
        try:
            model.evaluate(x[300:], y[300:], verbose=0)
        finally:
            sys.setprofile(None)
    return sum(pairs.values()), pairs, touched, edges


def on_the_path(edges: set[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    """The path's crossings: the checks' own calls left out (running the registry is one)."""
    return sorted(e for e in edges if not (_in_checks(e[0]) or _in_checks(e[2])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--edges", action="store_true", help="list every crossing")
    args = parser.parse_args()
    total, pairs, touched = count(args.top)
    path = on_the_path(EDGES)
    modules = {m for e in path for m in (e[0], e[2])}
    print(f"{len(path)} module crossings on the path ({len(modules)} modules); ")
    print(f"{len(issue_count(path))} counted as issue 27 did (module -> function, no constructors)")
    print(f"{total} cross-module calls in all, checks included ({len(touched)} modules)")
    for (a, b), n in pairs.most_common(args.top):
        print(f"{n:4d}  {_short(a)} -> {_short(b)}")
    if args.edges:
        for a, f, b, g in path:
            print(f"  {_short(a)}.{f} -> {_short(b)}.{g}")


def issue_count(path: list[tuple[str, str, str, str]]) -> set[tuple[str, str, str]]:
    """Issue 27's way: one per (calling module, called function), protocol calls left out.

    Building a dataclass, entering or leaving a ``with`` block and a lambda are not calls
    a reader follows from one module into another; counted this way the issue's base gives
    its 88.
    """
    return {(a, b, g) for a, _, b, g in path if not (g.startswith("__") or g.startswith("<"))}


def _in_checks(module: str) -> bool:
    return module.startswith("mlflow_sanity.checks")


def _short(module: str) -> str:
    return module.removeprefix("mlflow_sanity.")


if __name__ == "__main__":
    main()

"""Findings on generated contexts, as JSON: run it before and after a refactor and diff.

    PYTHONPATH=$PWD python benchmarks/findings_snapshot.py 400 > before.json
    ... refactor ...
    PYTHONPATH=$PWD python benchmarks/findings_snapshot.py 400 > after.json
    cmp before.json after.json

Each context mixes what the pure checks read (predictions, a history, a model and fit
spec, train/test splits with some shared rows, scaled or not, and evidence said missing),
drawn from one seed, so the output is the same on every machine for the same code.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from mlflow_sanity.checks import CheckOptions, Context, run_checks, skipped_checks
from mlflow_sanity.core.keras_spec import FitSpec, LayerSpec, ModelSpec, ProbeSpec
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.splits import Split
from mlflow_sanity.core.task import task_of_classes


def _model(r: np.random.Generator, k: int) -> ModelSpec:
    act = str(r.choice(["softmax", "sigmoid", "relu", None]))
    loss = str(r.choice(["sparse_categorical_crossentropy", "mse", "binary_crossentropy"]))
    hidden = [LayerSpec(f"h{i}", "Dense", str(r.choice(["relu", "sigmoid"])), 16) for i in range(3)]
    return ModelSpec(
        layers=(*hidden, LayerSpec("out", "Dense", act, k)),
        output_units=k,
        output_activation=act,
        output_rank=2,
        output_layer="out",
        loss=loss,
        optimizer="Adam",
    )


def _history(r: np.random.Generator) -> dict[str, list[float]]:
    n = int(r.integers(1, 12))
    loss = np.cumprod(r.uniform(0.6, 1.3, n)).tolist()
    acc = np.clip(np.cumsum(r.uniform(-0.05, 0.15, n)) + 0.4, 0, 1).tolist()
    val = (np.array(loss) * r.uniform(0.8, 1.6)).tolist()
    return {"loss": loss, "accuracy": acc, "val_loss": val, "val_accuracy": acc[::-1]}


def _splits(r: np.random.Generator, y: np.ndarray) -> tuple[Split, Split]:
    n_tr, n_te, d = 300, len(y), int(r.integers(2, 6))
    x_tr = pd.DataFrame(r.normal(size=(n_tr, d)), columns=[f"c{i}" for i in range(d)])
    x_te = pd.DataFrame(r.normal(size=(n_te, d)), columns=x_tr.columns)
    shared = int(r.integers(0, n_te // 2))
    x_te.iloc[:shared] = x_tr.iloc[:shared].to_numpy()
    if r.random() < 0.3:  # a column that gives the label away
        x_te["leak"] = y.astype(float)
        x_tr["leak"] = r.integers(0, y.max() + 1, n_tr).astype(float)
    y_tr = r.integers(0, y.max() + 1, n_tr)
    return Split(x_tr, y_tr), Split(x_te, y)


def context(seed: int) -> Context:
    r = np.random.default_rng(seed)
    k, n = int(r.integers(2, 5)), int(r.integers(30, 400))
    y = r.choice(k, n, p=r.dirichlet(np.ones(k) * r.uniform(0.3, 3)))
    acc = r.uniform(0.3, 1.0)
    right = r.random(n) < acc
    pred = np.where(right, y, (y + r.integers(1, k, n)) % k)
    proba = r.dirichlet(np.ones(k), n) * 0.5
    proba[np.arange(n), pred] += 0.5
    ctx = Context(eval=classify(y, pred, proba, labels=list(range(k))), task=task_of_classes(k))
    if r.random() < 0.6:
        ctx.model = _model(r, k)
        probes = ProbeSpec(learning_rate_start=float(10 ** r.uniform(-6, 1)), updates=50)
        ctx.fit = FitSpec(probes=probes, epochs=int(r.integers(1, 20)))
        ctx.history = _history(r)
    if r.random() < 0.5:
        ctx.train, ctx.test = _splits(r, y)
    if r.random() < 0.2:
        ctx.missing = {"train": "training data (not readable)", "history": "no history"}
    return ctx


def main(n: int) -> None:
    out = []
    for seed in range(n):
        ctx = context(seed)
        findings = [f.to_dict() for f in run_checks(ctx, CheckOptions(), "snapshot")]
        skipped = [s.to_dict() for s in skipped_checks(ctx, CheckOptions(), "snapshot")]
        out.append({"seed": seed, "findings": findings, "skipped": skipped})
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

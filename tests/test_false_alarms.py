"""Issue 13: no false alarms on healthy models, while the buggy cases still fire.

Each dataset gets a healthy Keras fit (stratified train/validation/test split, a scaler
fitted on the training rows only, a small MLP trained long enough), checked twice:

- the fit's own report (``mlflow_sanity.autolog()``, on the validation rows);
- ``mlflow.models.evaluate(..., evaluators="sanity")`` on the held-out test rows, with the
  training fingerprint the fit logged, so the leakage checks run too.

Both must be ``pass``: no warn or fail finding (info is context). A perfect validation
score in the fit's report is the one documented exception: the fit report has no
training data to run the leakage checks on, so ``perfect_score`` stays a warning there
(see the README's rules) and that cell is an expected failure, not a silent pass.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlflow_sanity import check_predictions
from mlflow_sanity.core.findings import Report, Severity

PNG = b"\x89PNG\r\n\x1a\n"


def _sklearn(name: str):
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _blobs200(k: int = 200, per_class: int = 30, d: int = 16, seed: int = 0):
    """200 well-separated Gaussian classes, 30 rows each (18 train, 6 validation, 6 test)."""
    r = np.random.default_rng(seed)
    centers = r.normal(size=(k, d)) * 4.0
    y = np.repeat(np.arange(k), per_class)
    return centers[y] + r.normal(size=(len(y), d)), y


def _separable(n: int = 600, d: int = 32, seed: int = 0):
    """Two classes 6 apart along the diagonal, nothing in between; no single feature
    separates them (each carries a weak share of the signal)."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, d))
    w = np.ones(d) / np.sqrt(d)
    y = (x @ w > 0).astype(int)
    return x + np.where(y == 1, 3.0, -3.0)[:, None] * w, y


@dataclass(frozen=True)
class Case:
    load: Any
    hidden: int
    epochs: int
    batch: int = 32


CASES = {
    "iris": Case(lambda: _sklearn("iris"), 16, 60),
    "wine": Case(lambda: _sklearn("wine"), 16, 40),
    "breast_cancer": Case(lambda: _sklearn("breast_cancer"), 16, 30),
    "digits": Case(lambda: _sklearn("digits"), 32, 25, 64),
    "blobs_200_classes": Case(_blobs200, 64, 25, 64),
    "trivially_separable": Case(_separable, 8, 10),
}


@dataclass
class Checked:
    fit: Report
    evaluation: Report


def _split(x, y, seed: int = 0):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x_tr, y_tr, test_size=0.25, stratify=y_tr, random_state=seed
    )
    scaler = StandardScaler().fit(x_tr)  # fitted on the training rows only
    xs = [scaler.transform(a).astype("float32") for a in (x_tr, x_va, x_te)]
    return xs, (y_tr, y_va, y_te)


def _fit_and_evaluate(keras, name: str, case: Case) -> Checked:
    import mlflow

    from mlflow_sanity.tracking.reports import read_report

    x, y = case.load()
    (x_tr, x_va, x_te), (y_tr, y_va, y_te) = _split(x, y)
    k = len(np.unique(y))
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(case.hidden, activation="relu"),
            keras.layers.Dense(1 if k == 2 else k, activation="sigmoid" if k == 2 else "softmax"),
        ]
    )
    loss = "binary_crossentropy" if k == 2 else "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.Adam(0.01), loss, metrics=["accuracy"])
    with mlflow.start_run(run_name=f"{name}-fit") as fit_run:
        model.fit(
            x_tr,
            y_tr,
            validation_data=(x_va, y_va),
            epochs=case.epochs,
            batch_size=case.batch,
            verbose=0,
        )
    proba = model.predict(x_te, verbose=0, batch_size=1024)
    test = pd.DataFrame(x_te, columns=[f"f{i}" for i in range(x.shape[1])])
    if k == 2:
        columns: Any = "p"
        test = test.assign(p=proba[:, 0], pred=(proba[:, 0] > 0.5).astype(int))
    else:
        columns = [f"p{j}" for j in range(k)]
        test = pd.concat([test, pd.DataFrame(proba, columns=columns)], axis=1)
        test["pred"] = proba.argmax(axis=1)
    test["label"] = y_te
    with mlflow.start_run(run_name=f"{name}-evaluate") as eval_run:
        mlflow.models.evaluate(
            data=test,
            targets="label",
            predictions="pred",
            model_type="classifier",
            evaluators="sanity",
            evaluator_config={
                "probability_columns": columns,
                "training_run_id": fit_run.info.run_id,
            },
        )
    return Checked(read_report(fit_run.info.run_id), read_report(eval_run.info.run_id))


@pytest.fixture(scope="module")
def checked(keras, tracking_uri):
    """Every healthy fit, trained once per module (plots skipped: findings only)."""
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.report import plots

    mlflow.set_experiment(f"false-alarms-{uuid.uuid4().hex[:8]}")
    results = {}
    mlflow_sanity.autolog()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name in ("learning_curves_png", "confusion_matrix_png", "class_balance_png"):
                mp.setattr(plots, name, lambda *args, **kwargs: PNG)
            for name, case in CASES.items():
                results[name] = _fit_and_evaluate(keras, name, case)
    finally:
        mlflow_sanity.autolog(disable=True)
        while mlflow.active_run() is not None:
            mlflow.end_run()
    return results


def _flagged(report: Report) -> dict[str, str]:
    return {f.id: f"{f.severity.value}: {f.message}" for f in report.findings if f.severity.flagged}


def _info(report: Report) -> list[str]:
    """The info findings, with the margin of a perfect score (shown with ``-s``)."""
    info = []
    for f in report.findings:
        if f.severity is Severity.INFO:
            margin = f.evidence.get("separation_margin") if f.id == "perfect_score" else None
            info.append(f.id if margin is None else f"{f.id} (margin {margin})")
    return sorted(info)


@pytest.mark.parametrize("name", list(CASES))
def test_healthy_fit_passes_on_held_out_data(checked, name):
    report = checked[name].evaluation
    assert report is not None
    assert report.status == "pass", _flagged(report)
    ran = {f.id for f in report.findings}
    assert {"train_test_overlap", "preprocessing_leakage", "uncalibrated"} <= ran
    print(f"{name} evaluate: {report.status}, info {_info(report)}")


@pytest.mark.parametrize("name", list(CASES))
def test_healthy_fit_passes_on_its_validation_data(checked, name):
    """The fit report checks its validation rows against the training rows too, so an
    honest perfect validation score is cleared there as well."""
    report = checked[name].fit
    assert report is not None
    assert report.status == "pass", _flagged(report)
    assert {"train_test_overlap", "preprocessing_leakage"} <= {f.id for f in report.findings}
    print(f"{name} fit: {report.status}, info {_info(report)}")


# -- the buggy counterparts still fire ------------------------------------------------------


def test_collapse_on_95_5_data_still_fails():
    y = np.array([0] * 95 + [1] * 5)
    report = check_predictions(y, np.zeros(100, int))
    assert report.status == "fail"
    assert {"prediction_collapse", "minority_class_missed", "accuracy_at_baseline"} <= set(
        report.flagged_ids
    )


def test_overconfident_model_still_warns():
    r = np.random.default_rng(0)
    y = np.arange(600) % 3
    pred = np.where(r.random(600) < 0.7, y, (y + 1) % 3)
    proba = np.full((600, 3), 0.005)
    proba[np.arange(600), pred] = 0.99
    f = check_predictions(y, pred, proba).get("uncalibrated")
    assert f.severity is Severity.WARN and f.evidence["direction"] == "over-confident"


def test_binary_imbalance_still_warns_below_one_percent():
    y = np.array([0] * 995 + [1] * 5)
    assert check_predictions(y, y).get("class_imbalance").severity is Severity.WARN


def test_perfect_score_with_test_rows_in_training_still_warns():
    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.core.splits import Split
    from mlflow_sanity.pipeline import build_report

    x, y = _separable(300)
    score = np.where(y == 1, 0.99, 0.01)
    leaky = Context(
        eval=classify(y, proba=score),
        test=Split(pd.DataFrame(x), y, "evaluation data"),
        train=Split(pd.DataFrame(np.vstack([x, x])), np.concatenate([y, y]), "train"),
    )
    report = build_report(leaky)
    assert report.get("perfect_score").severity is Severity.WARN
    assert report.get("train_test_overlap").severity is Severity.FAIL


def test_gallery_expectations_do_not_rest_on_the_changed_rules():
    """The gallery's buggy variants are flagged by other checks than the four recalibrated
    ones (``overfit_small_data`` by the accuracy gap, which weights do not touch);
    tests/test_e2e_gallery.py runs them for real."""
    from mlflow_sanity.project.gallery import EXPECTED

    changed = {"class_imbalance", "uncalibrated", "perfect_score"}
    assert all(not (expected & changed) for expected in EXPECTED.values())
    assert EXPECTED["overfit_small_data"] == {"overfitting"}

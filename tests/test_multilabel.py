"""Multi-label heads: each label judged as its own yes/no task, binary accuracy against
predicting no label at all."""

from __future__ import annotations

import csv
import io
import uuid

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from mlflow_sanity.checks import Context
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.multilabel import best_f1_threshold, evaluate_multilabel
from mlflow_sanity.pipeline import build_report

K, D = 6, 10


def rare_labels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six labels at about 4% positives each that the features hardly tell (a noisy rule)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype("float32")
    noisy = x[:, :K] + 3.0 * rng.normal(size=(n, K))
    return x, (noisy > 5.5).astype("float32")


def common_labels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six learnable labels at 25-40% positives each (a linear rule per label)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype("float32")
    w = np.random.default_rng(42).normal(size=(D, K))
    return x, ((x @ w) > 1.0).astype("float32")


# -- the pure evaluation -------------------------------------------------------------------


def test_metrics_are_scikit_learns():
    _, y = common_labels(300, seed=1)
    rng = np.random.default_rng(2)
    proba = np.clip(y * 0.7 + rng.random(y.shape) * 0.5, 0, 1)
    ml = evaluate_multilabel(y, proba, labels=list("abcdef"))
    pred = (proba > 0.5).astype(int)
    assert ml.metrics["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert ml.metrics["micro_f1"] == pytest.approx(f1_score(y, pred, average="micro"))
    assert ml.metrics["subset_accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert ml.metrics["accuracy"] == pytest.approx((pred == y).mean())  # Keras' binary_accuracy
    per_label = recall_score(y, pred, average=None)
    assert [r["recall"] for r in ml.per_label] == pytest.approx(list(per_label))
    assert [r["label"] for r in ml.per_label] == list("abcdef")
    assert all(r["roc_auc"] is not None and r["best_threshold"] is not None for r in ml.per_label)


def test_threshold_advice_maximises_f1_on_these_rows():
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    score = np.array([0.05, 0.1, 0.2, 0.3, 0.32, 0.4, 0.45, 0.6])
    threshold, best = best_f1_threshold(y, score)
    assert threshold == pytest.approx(0.32)  # all three positives, one negative above
    assert best == pytest.approx(f1_score(y, score >= threshold), abs=1e-4)
    assert best_f1_threshold(np.zeros(4), score[:4]) == (None, None)


def test_bad_multi_label_inputs_are_named():
    with pytest.raises(InputError, match="0/1 per label"):
        evaluate_multilabel([[0, 2], [1, 0]], y_pred=[[0, 1], [1, 0]])
    with pytest.raises(InputError, match="shape mismatch"):
        evaluate_multilabel([[0, 1], [1, 0]], proba=[[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    with pytest.raises(InputError, match="logits"):
        evaluate_multilabel([[0, 1], [1, 0]], proba=[[2.0, -1.0], [0.1, 0.2]])


def test_predicting_no_label_is_flagged_per_label_and_a_good_model_passes():
    _, y = rare_labels(400)
    nothing = build_report(Context(multilabel=evaluate_multilabel(y, np.full(y.shape, 0.03))))
    flagged = {f.id: f for f in nothing.flagged}
    assert {"accuracy_at_baseline", "prediction_collapse", "minority_class_missed"} <= set(flagged)
    assert "'0' never predicted" in flagged["prediction_collapse"].message
    assert "no label at all" in flagged["accuracy_at_baseline"].message
    assert nothing.metrics["accuracy"] > 0.95 and nothing.metrics["macro_f1"] == 0.0
    rows = {r["label"]: r for r in nothing.tables["per_class"]}
    assert set(rows) == {str(j) for j in range(K)} and rows["0"]["predicted"] == 0
    good = evaluate_multilabel(y, np.clip(y * 0.8 + 0.1, 0, 1))
    assert build_report(Context(multilabel=good)).status == "pass"


def test_one_collapsed_label_is_named_alone():
    _, y = common_labels(300)
    pred = y.copy()
    pred[:, 2] = 0  # label 2 given up on
    report = build_report(Context(multilabel=evaluate_multilabel(y, y_pred=pred)))
    collapse = report.get("prediction_collapse")
    assert collapse.severity.value == "fail" and collapse.evidence["flagged_labels"] == ["2"]
    assert collapse.message.startswith("1 of 6 labels collapsed: '2' never predicted")


# -- real Keras fits -------------------------------------------------------------------------


def _head(keras, width: int = 0):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((D,))]
    layers += [keras.layers.Dense(width, activation="relu")] if width else []
    return keras.Sequential([*layers, keras.layers.Dense(K, activation="sigmoid")])


@pytest.fixture(scope="module")
def multilabel_runs(keras, tracking_uri):
    """Two multi-label models, each fitted and evaluated once under autolog: one that
    learned to predict no label (binary accuracy 0.96), one that learned the labels."""
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.report import plots

    mlflow.set_experiment(f"multilabel-{uuid.uuid4().hex[:8]}")
    cases = {
        "nothing": (rare_labels(600), _head(keras), keras.optimizers.Adam(0.05), 5),
        "healthy": (common_labels(600), _head(keras, 16), keras.optimizers.Adam(0.01), 20),
    }
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("learning_curves_png", "confusion_matrix_png", "class_balance_png"):
            mp.setattr(plots, name, lambda *a, **k: b"\x89PNG\r\n\x1a\n")
        mlflow_sanity.autolog(silent=True)
        try:
            for name, ((x, y), model, optimizer, epochs) in cases.items():
                model.compile(optimizer, "binary_crossentropy", metrics=["binary_accuracy"])
                with mlflow.start_run() as run:
                    history = model.fit(
                        x[:400],
                        y[:400],
                        validation_data=(x[400:], y[400:]),
                        epochs=epochs,
                        batch_size=32,
                        verbose=0,
                    )
                    model.evaluate(x[400:], y[400:], verbose=0)
                pred = (np.asarray(model(x[400:], training=False)) > 0.5).astype(int)
                out[name] = (run.info.run_id, history.history, pred, y[400:])
        finally:
            mlflow_sanity.autolog(disable=True)
    return out


def _run(runs, name):
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.tracking.reports import read_report

    run_id, history, pred, y = runs[name]
    data = MlflowClient().get_run(run_id).data
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="sanity/validation_per_class.csv"
    )
    with open(path) as fh:
        table = list(csv.DictReader(io.StringIO(fh.read())))
    return data.tags, data.metrics, read_report(run_id), history, pred, y, table


def test_the_model_that_predicts_no_label_is_flagged(multilabel_runs):
    tags, metrics, report, history, pred, y, table = _run(multilabel_runs, "nothing")
    assert pred.sum() == 0  # the story: no label for any row ...
    assert history["val_binary_accuracy"][-1] > 0.95  # ... and Keras prints 0.96
    assert tags["sanity.status"] == "fail" and tags["sanity.coverage"] == "full"
    assert tags["sanity.task"] == "multilabel"
    flagged = set(tags["sanity.findings"].split(","))
    assert {"accuracy_at_baseline", "prediction_collapse", "minority_class_missed"} <= flagged
    assert metrics["sanity/accuracy"] == pytest.approx((pred == y).mean(), abs=1e-6)
    assert metrics["sanity/macro_f1"] == 0.0 and metrics["sanity/micro_f1"] == 0.0
    # model.evaluate on the same rows is judged the same way
    assert metrics["sanity/evaluate/1/accuracy"] == pytest.approx(metrics["sanity/accuracy"])
    assert metrics["sanity/evaluate/1/macro_f1"] == 0.0
    assert [row["label"] for row in table] == [str(j) for j in range(K)]
    assert all(row["predicted"] == "0" for row in table)
    assert report.get("metric_disagreement").severity.value == "pass"  # 0.96 is what it is


def test_a_multi_label_model_that_learned_passes(multilabel_runs):
    tags, metrics, report, _history, pred, y, table = _run(multilabel_runs, "healthy")
    assert tags["sanity.status"] == "pass", tags["sanity.findings"]
    assert tags["sanity.coverage"] == "full" and tags["sanity.task"] == "multilabel"
    assert metrics["sanity/macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert metrics["sanity/subset_accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert float(table[0]["recall"]) == pytest.approx(recall_score(y[:, 0], pred[:, 0]))
    disagreement = report.get("metric_disagreement")
    evaluated = disagreement.evidence["metrics"]["binary_accuracy"]  # model.evaluate's
    assert evaluated["keras_evaluate"] == pytest.approx(evaluated["sklearn"], abs=1e-3)

"""Regression through every entry point, on real (tiny) Keras fits of scikit-learn's diabetes
data: fit, model.evaluate, the evaluator with model_type="regressor", and seeds; and the
autoencoder the tool does not judge. The fits are shared by module-scoped fixtures."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from sklearn.metrics import r2_score

from mlflow_sanity.core.findings import Severity

# The checks that judge class predictions: none may speak about a regression or an
# autoencoder (leakage, history and cause checks hold for any task).
CLASSIFICATION_ONLY = {
    "single_class_eval",
    "class_imbalance",
    "minority_class_missed",
    "accuracy_at_baseline",
    "small_eval_set",
    "perfect_score",
    "uncalibrated",
    "label_shift",
    "logits_thresholded",
    "metric_disagreement",
    "loss_accuracy_divergence",
    "class_weight_ignored",
    "invalid_labels",
}


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True, scaled=False)  # integer targets 25..346
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    return (
        ((x_tr - mean) / std).astype("float32"),
        ((x_val - mean) / std).astype("float32"),
        y_tr,
        y_val,
    )


def _mlp(keras, *, l2=None, lr=0.001, width=32, out=1):
    keras.utils.set_random_seed(0)
    reg = keras.regularizers.l2(l2) if l2 else None
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(width, "relu", kernel_regularizer=reg),
            keras.layers.Dense(out, kernel_regularizer=reg),
        ]
    )
    model.compile(keras.optimizers.Adam(lr), "mse", metrics=["mae"])
    return model


@pytest.fixture(scope="module")
def runs(keras, tracking_uri, diabetes):
    """Every fit of this module, autologged once: {name: (model, run id, report)}."""
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.report import plots
    from mlflow_sanity.tracking.reports import read_report

    x_tr, x_val, y_tr, y_val = diabetes
    mlflow.set_experiment(f"regression-{uuid.uuid4().hex[:8]}")
    patch = pytest.MonkeyPatch()
    patch.setattr(plots, "learning_curves_png", lambda *a, **k: b"\x89PNG\r\n\x1a\n")
    mlflow_sanity.autolog()
    out = {}

    def fit(name, model, x, y, **kwargs):
        with mlflow.start_run() as run:
            model.fit(x, y, verbose=0, **kwargs)
        out[name] = (model, run.info.run_id, read_report(run.info.run_id))

    try:
        # the first example: raw integer targets, a 32-unit ReLU MLP with MSE
        fit("raw", _mlp(keras), x_tr, y_tr, validation_data=(x_val, y_val), epochs=5)
        # heavy L2: every weight shrinks to 0, the output is its bias (the training mean)
        fit(
            "mean",
            _mlp(keras, l2=1000.0, lr=0.5),
            x_tr,
            y_tr,
            validation_data=(x_val, y_val),
            epochs=15,
            batch_size=16,
        )
        mu, sd = y_tr.mean(), y_tr.std()
        stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
        fit(
            "healthy",
            _mlp(keras, lr=0.003),
            x_tr,
            (y_tr - mu) / sd,
            validation_data=(x_val, (y_val - mu) / sd),
            epochs=200,
            callbacks=[stop],
        )
        keras.utils.set_random_seed(0)
        auto = keras.Sequential(
            [keras.Input((10,)), keras.layers.Dense(4, "relu"), keras.layers.Dense(10)]
        )
        auto.compile("adam", "mse")
        fit("autoencoder", auto, x_tr, x_tr, validation_data=(x_val, x_val), epochs=2)
    finally:
        mlflow_sanity.autolog(disable=True)
        patch.undo()
    return out


def _tags(run_id):
    from mlflow.tracking import MlflowClient

    return MlflowClient().get_run(run_id).data.tags


def _metrics(run_id):
    from mlflow.tracking import MlflowClient

    return MlflowClient().get_run(run_id).data.metrics


def test_integer_targets_are_a_regression_not_214_classes(runs):
    _, run_id, report = runs["raw"]
    assert _tags(run_id)["sanity.task"] == "regression"
    assert not CLASSIFICATION_ONLY & {f.id for f in report.findings}
    assert "sanity/r2" in _metrics(run_id)


def test_the_mean_predictor_is_at_baseline(runs):
    _, run_id, report = runs["mean"]
    flagged = {f.id: f.severity for f in report.flagged}
    assert flagged["regression_at_baseline"] is Severity.FAIL
    assert _metrics(run_id)["sanity/r2"] < 0.05
    f = report.get("regression_at_baseline")
    assert f.evidence["baseline_from"] == "training"
    assert not CLASSIFICATION_ONLY & {f.id for f in report.findings}


def test_the_regression_plots_are_logged(runs):
    from mlflow.tracking import MlflowClient

    _, run_id, _ = runs["mean"]
    names = {a.path for a in MlflowClient().list_artifacts(run_id, "sanity")}
    assert {"sanity/validation_predicted_vs_actual.png", "sanity/validation_residuals.png"} <= names
    assert not any("confusion_matrix" in n for n in names)


def test_sanity_r2_is_scikit_learns(runs, diabetes):
    model, run_id, _ = runs["mean"]
    _, x_val, _, y_val = diabetes
    expected = r2_score(y_val, model.predict(x_val, verbose=0)[:, 0])
    assert abs(_metrics(run_id)["sanity/r2"] - expected) < 1e-6


def test_a_healthy_regressor_passes_with_full_coverage(runs):
    _, run_id, report = runs["healthy"]
    tags = _tags(run_id)
    assert tags["sanity.status"] == "pass", report.flagged
    assert tags["sanity.coverage"] == "full"
    assert tags["sanity.task"] == "regression"
    ran = {f.id for f in report.findings}
    assert {"regression_at_baseline", "prediction_collapse", "feature_target_leakage"} <= ran
    assert report.get("regression_at_baseline").severity is Severity.PASSED


def test_the_autoencoder_is_unsupported_and_gets_no_classification_verdict(runs):
    _, run_id, report = runs["autoencoder"]
    tags = _tags(run_id)
    assert tags["sanity.task"] == "unsupported"
    assert "autoencoder" in tags["sanity.coverage"]
    ran = {f.id for f in report.findings}
    assert not CLASSIFICATION_ONLY & ran
    assert not {"regression_at_baseline", "rare_targets_missed"} & ran


def test_model_evaluate_of_a_regressor_uses_the_fits_baseline(runs, diabetes):
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.tracking.reports import read_report

    model, run_id, _ = runs["mean"]
    _, x_val, _, y_val = diabetes
    mlflow_sanity.autolog()
    try:
        with mlflow.start_run(run_id=run_id):
            model.evaluate(x_val, y_val, verbose=0)
    finally:
        mlflow_sanity.autolog(disable=True)
    report = read_report(run_id)
    f = next(
        f for f in report.findings if f.id == "regression_at_baseline" and "evaluate" in f.source
    )
    assert f.severity is Severity.FAIL and f.evidence["baseline_from"] == "training"
    assert _tags(run_id)["sanity.task"] == "regression"


def test_the_evaluator_flags_training_rows_in_a_regressors_test_set(
    runs, diabetes, mlflow_experiment
):
    import mlflow
    import pandas as pd

    model, _, _ = runs["healthy"]
    x_tr, x_val, y_tr, y_val = diabetes
    cols = [f"f{i}" for i in range(10)]
    x_test = np.vstack([x_val[:60], x_tr[:30]])  # one-third training rows
    y_test = np.concatenate([y_val[:60], y_tr[:30]])
    data = pd.DataFrame(x_test, columns=cols).assign(target=y_test)
    train = pd.DataFrame(x_tr, columns=cols).assign(target=y_tr)
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(
            lambda frame: model.predict(frame.to_numpy("float32"), verbose=0)[:, 0],
            data,
            targets="target",
            model_type="regressor",
            evaluators="sanity",
            evaluator_config={"train_data": train},
        )
    tags = _tags(run.info.run_id)
    assert tags["sanity.task"] == "regression"
    assert tags["sanity.finding.train_test_overlap"] in ("warn", "fail")
    assert "sanity/r2" in result.metrics or any(k.endswith("r2") for k in result.metrics)
    assert not CLASSIFICATION_ONLY & set(tags.get("sanity.findings", "").split(","))


def test_the_evaluator_with_static_predictions_names_its_baseline(mlflow_experiment):
    import mlflow
    import pandas as pd

    rng = np.random.default_rng(0)
    y = rng.normal(100, 20, 200)
    data = pd.DataFrame({"a": rng.normal(size=200), "target": y, "pred": np.full(200, 100.0)})
    with mlflow.start_run() as run:
        mlflow.models.evaluate(
            data=data,
            targets="target",
            predictions="pred",
            model_type="regressor",
            evaluators=["sanity"],
        )
    tags = _tags(run.info.run_id)
    assert tags["sanity.task"] == "regression"
    assert "regression_at_baseline" in tags["sanity.findings"]


def test_seeds_of_a_regressor_judge_r2_against_the_constant(keras, mlflow_experiment):
    from seed_keras_fns import regressor_seed

    from mlflow_sanity import seed_sweep

    summary = seed_sweep(regressor_seed, 3, executor="sequential", progress=False)
    assert summary.report.task == "regression"
    f = summary.report.get("seed_variance")
    assert f.evidence["metric"] == "r2"
    assert f.evidence["reference_source"].startswith("constant baseline")

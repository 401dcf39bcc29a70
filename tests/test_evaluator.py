"""The `sanity` evaluator through mlflow.models.evaluate, as a user calls it."""

from __future__ import annotations

import io
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_sanity.core.metrics import InputError


def _tags(run_id):
    return MlflowClient().get_run(run_id).data.tags


def _artifact_text(run_id, path):
    local = MlflowClient().download_artifacts(run_id, path)
    with open(local, encoding="utf-8") as fh:
        return fh.read()


def _evaluate(df, **kwargs):
    kwargs.setdefault("evaluators", "sanity")
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(data=df, targets="label", model_type="classifier", **kwargs)
    return run.info.run_id, result


@pytest.fixture
def collapsed(mlflow_experiment):
    rng = np.random.default_rng(0)
    y = (np.arange(400) % 20 == 0).astype(int)  # 5% positives
    return pd.DataFrame({"x": rng.normal(size=400), "label": y, "pred": 0, "p1": 0.1})


def test_seed_situation_static_predictions(collapsed):
    run_id, result = _evaluate(
        collapsed, predictions="pred", evaluator_config={"probability_columns": "p1"}
    )
    tags = _tags(run_id)
    assert tags["sanity.status"] == "fail"
    assert (
        tags["sanity.findings"] == "accuracy_at_baseline,minority_class_missed,prediction_collapse"
    )
    assert tags["sanity.finding.prediction_collapse"] == "fail"
    assert tags["sanity.version"]
    assert "mlflow-sanity: FAIL" in tags["mlflow.note.content"]
    metrics = MlflowClient().get_run(run_id).data.metrics
    assert metrics["sanity/accuracy"] == pytest.approx(0.95)
    assert metrics["sanity/majority_baseline_accuracy"] == pytest.approx(0.95)
    assert metrics["sanity/balanced_accuracy"] == pytest.approx(0.5)
    assert result.metrics["sanity/min_class_recall"] == 0.0
    # the verdict metrics describe the run's union, not this evaluation: not returned
    verdict = {"sanity/status_level": 2.0, "sanity/flagged_count": 3.0}
    assert {k: metrics[k] for k in verdict} == verdict
    assert set(result.metrics) == {k for k in metrics if k.startswith("sanity/")} - set(verdict)
    files = {a.path for a in MlflowClient().list_artifacts(run_id, "sanity")}
    assert {
        "sanity/report.json",
        "sanity/report.html",
        "sanity/confusion_matrix.png",
        "sanity/class_balance.png",
        "sanity/per_class.csv",
    } <= files
    report = json.loads(_artifact_text(run_id, "sanity/report.json"))
    assert report["status"] == "fail"
    first = report["findings"][0]
    assert {"id", "severity", "message", "evidence", "remedy"} <= set(first)


def test_user_description_is_kept_and_section_replaced(collapsed):
    with mlflow.start_run(description="Baseline model, trained on Tuesday.") as run:
        for _ in range(2):  # a second evaluation replaces our section instead of stacking it
            mlflow.models.evaluate(
                data=collapsed,
                targets="label",
                predictions="pred",
                model_type="classifier",
                evaluators="sanity",
            )
    note = _tags(run.info.run_id)["mlflow.note.content"]
    assert note.startswith("Baseline model, trained on Tuesday.")
    assert note.count("mlflow-sanity: FAIL") == 1


def test_single_class_eval_set(mlflow_experiment):
    df = pd.DataFrame({"x": np.arange(30.0), "label": 0, "pred": 0})
    run_id, _ = _evaluate(df, predictions="pred")
    tags = _tags(run_id)
    assert tags["sanity.status"] == "fail"
    assert "single_class_eval" in tags["sanity.findings"].split(",")


def test_labels_are_escaped_in_html(mlflow_experiment):
    evil = "<script>alert(1)</script>"
    y = np.array([evil, "ok"] * 50)
    pred = y.copy()
    pred[:10] = "ok"
    df = pd.DataFrame({"x": np.arange(100.0), "label": y, "pred": pred})
    run_id, _ = _evaluate(df, predictions="pred")
    html = _artifact_text(run_id, "sanity/report.html")
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "<script>" not in _tags(run_id)["mlflow.note.content"]


def test_callable_model_string_labels_and_pos_label(mlflow_experiment):
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    df = pd.DataFrame({"x": x, "label": np.where(x + rng.normal(0, 0.5, 300) > 0, "yes", "no")})

    def predict(frame):
        return np.where(frame["x"] > 0, "yes", "no")

    run_id, result = _evaluate(df, model=predict, evaluator_config={"pos_label": "yes"})
    assert _tags(run_id)["sanity.status"] == "pass"
    assert result.metrics["sanity/accuracy"] > 0.8


def test_pyfunc_probability_output_and_bool_labels(mlflow_experiment):
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    df = pd.DataFrame({"x": x, "label": (x + rng.normal(0, 0.7, 400)) > 0})

    def predict(frame):
        p = 1 / (1 + np.exp(-2 * frame["x"].to_numpy()))
        return np.column_stack([1 - p, p])

    run_id, result = _evaluate(df, model=predict)
    assert "sanity/roc_auc" in result.metrics
    assert _tags(run_id)["sanity.status"] == "pass"


def test_runs_beside_default_with_nested_config(collapsed):
    run_id, result = _evaluate(
        collapsed,
        predictions="pred",
        evaluators=["default", "sanity"],
        evaluator_config={"sanity": {"disable": ["small_eval_set"]}, "default": {}},
    )
    assert "accuracy_score" in result.metrics  # the default evaluator ran too
    assert _tags(run_id)["sanity.status"] == "fail"


def test_evaluators_none_runs_the_plugin(collapsed):
    run_id, result = _evaluate(collapsed, predictions="pred", evaluators=None)
    assert _tags(run_id)["sanity.status"] == "fail"
    assert "sanity/accuracy" in result.metrics


def test_classifiers_and_regressors_are_ours_other_model_types_are_not():
    from mlflow_sanity.adapters.evaluator import SanityEvaluator

    assert SanityEvaluator.can_evaluate(model_type="classifier", evaluator_config={})
    assert SanityEvaluator.can_evaluate(model_type="regressor", evaluator_config={})
    assert not SanityEvaluator.can_evaluate(model_type="question-answering", evaluator_config={})


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        ({"label": [0, 1], "pred": [0, 1], "p": [0.1, np.nan]}, {}, "NaN or inf"),
        ({"label": [0, 1], "pred": [0, 1], "p": [0.1, 0.2]}, {"pos_label": 3}, "unknown pos_label"),
        ({"label": [0, 1], "pred": [0, 1]}, {"probability_columns": "nope"}, "not found"),
        ({"label": [0, 1, 2], "pred": [0, 1, 2], "p": [0.1, 0.2, 0.3]}, {}, "binary task"),
        (
            {"label": [0, 1], "pred": [0, 1], "p": [0.1, 0.2]},
            {"thresholds": {"overfitting": {"max_gapp": 0.1}}},
            r"unknown threshold.*max_gapp.*known: \[.*'max_gap'",
        ),
        (
            {"label": [0, 1], "pred": [0, 1], "p": [0.1, 0.2]},
            {"disable": ["perfect_scor"]},
            r"unknown finding id.*perfect_scor.*known: \[",
        ),
        (
            {"label": [0, 1], "pred": [0, 1], "p": [0.1, 0.2]},
            {"thresholds": {"overfitting": 0.1}},
            "thresholds must look like",
        ),
    ],
)
def test_bad_input_names_the_problem(mlflow_experiment, frame, kwargs, message):
    kwargs.setdefault("probability_columns", "p")
    with pytest.raises(InputError, match=message):
        _evaluate(pd.DataFrame(frame), predictions="pred", evaluator_config=kwargs)


# --- real Keras models, logged with mlflow.keras.log_model -------------------------------


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.35, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr).astype("float32"), y_tr, scaler.transform(x_te), y_te


def _train(keras, x, y, head, loss, epochs=30):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(16, "relu"), head])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.mark.parametrize(
    "variant",
    ["sigmoid", "softmax", "logits"],
)
def test_keras_model_uri_healthy_passes(keras, cancer, mlflow_experiment, variant):
    x_tr, y_tr, x_te, y_te = cancer
    L = keras.layers
    head, loss = {
        "sigmoid": (L.Dense(1, "sigmoid"), "binary_crossentropy"),
        "softmax": (L.Dense(2, "softmax"), "sparse_categorical_crossentropy"),
        "logits": (L.Dense(1), keras.losses.BinaryCrossentropy(from_logits=True)),
    }[variant]
    model = _train(keras, x_tr, y_tr, head, loss)
    df = pd.DataFrame(x_te, columns=[f"f{i}" for i in range(x_te.shape[1])]).assign(label=y_te)
    with mlflow.start_run() as run:
        info = mlflow.keras.log_model(model, name="model")
        result = mlflow.models.evaluate(
            info.model_uri, data=df, targets="label", model_type="classifier", evaluators="sanity"
        )
    tags = _tags(run.info.run_id)
    assert tags["sanity.status"] == "pass", tags.get("mlflow.note.content")
    assert result.metrics["sanity/accuracy"] > 0.9
    assert 0.9 < result.metrics["sanity/roc_auc"] < 1.0


def test_keras_collapsed_model_on_imbalanced_digits_fails(keras, mlflow_experiment):
    from sklearn.datasets import load_digits

    x, digit = load_digits(return_X_y=True)
    y = (digit == 9).astype(int)
    keras.utils.set_random_seed(0)
    # A sigmoid unit biased to "not 9" and never trained: the seeds' "predicts only class 0".
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(1, "sigmoid", bias_initializer="zeros", kernel_initializer="zeros"),
        ]
    )
    model.layers[-1].bias.assign([-4.0])
    df = pd.DataFrame(x[:600], columns=[f"p{i}" for i in range(64)]).assign(label=y[:600])
    with mlflow.start_run() as run:
        info = mlflow.keras.log_model(model, name="model")
        mlflow.models.evaluate(
            info.model_uri, data=df, targets="label", model_type="classifier", evaluators="sanity"
        )
    tags = _tags(run.info.run_id)
    assert tags["sanity.status"] == "fail"
    assert {"accuracy_at_baseline", "minority_class_missed", "prediction_collapse"} <= set(
        tags["sanity.findings"].split(",")
    )


def test_deprecated_mlflow_evaluate_still_reaches_the_plugin(collapsed):
    with mlflow.start_run() as run, pytest.warns(FutureWarning):
        mlflow.evaluate(
            data=collapsed,
            targets="label",
            predictions="pred",
            model_type="classifier",
            evaluators="sanity",
        )
    assert _tags(run.info.run_id)["sanity.status"] == "fail"


@pytest.mark.parametrize("k", [1, 2, 7, 30])
def test_evaluator_plots_are_valid_pngs(k):
    """Confusion matrix and class balance are drawn without matplotlib: any class count,
    long and non-ASCII labels, empty classes."""
    from PIL import Image

    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.report import classification_files

    rng = np.random.default_rng(k)
    names = np.array([f"class {i} — {'x' * (i % 40)}" for i in range(k)])
    y = names[rng.integers(0, k, 500)]
    pred = names[np.zeros(500, int)] if k > 2 else y[::-1]
    files = classification_files(classify(y, pred), prefix="validation_")
    for name in ("validation_confusion_matrix.png", "validation_class_balance.png"):
        image = Image.open(io.BytesIO(files[name]))
        image.load()
        assert image.format == "PNG" and min(image.size) > 100
    assert files["validation_per_class.csv"].decode().startswith("label,")

"""The corrected number: the figure to read beside a misleading headline.

Pure tests on arrays (the rule, JSON, merge, renderers), then real Keras fits with autolog
and through ``mlflow.models.evaluate``: a test set half made of training rows must report
the accuracy of its unseen half.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Corrected, Finding, Report, Severity
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.splits import Split
from mlflow_sanity.pipeline import build_report
from mlflow_sanity.report import render_html, render_json
from mlflow_sanity.report.console import summary_lines
from mlflow_sanity.report.markdown import note_section


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"f{j}" for j in range(4)])


def _leaked_context(seed: int = 0):
    """300 training rows, a test set of 100 training rows + 100 unseen rows; the
    predictions are right on every seen row and on 60% of the unseen ones."""
    rng = np.random.default_rng(seed)
    train, unseen = _frame(rng, 300), _frame(rng, 100)
    y_train, y_unseen = rng.integers(0, 2, 300), rng.integers(0, 2, 100)
    test = pd.concat([train.iloc[:100], unseen], ignore_index=True)
    y_test = np.concatenate([y_train[:100], y_unseen])
    right = np.concatenate([np.ones(100, bool), rng.random(100) < 0.6])
    y_pred = np.where(right, y_test, 1 - y_test)
    ctx = Context(
        eval=classify(y_test, y_pred), test=Split(test, y_test), train=Split(train, y_train)
    )
    return ctx, float(np.mean(right[100:]))


def test_overlap_reports_the_accuracy_of_the_unseen_rows():
    ctx, unseen_accuracy = _leaked_context()
    report = build_report(ctx, source="python")
    f = report.get("train_test_overlap")
    assert f.severity is Severity.FAIL
    assert f.corrected is not None and f.corrected.finding == "train_test_overlap"
    assert f.corrected.value == pytest.approx(unseen_accuracy)
    assert f.corrected.headline == pytest.approx(report.metrics["accuracy"])
    assert report.metrics["corrected_accuracy"] == pytest.approx(unseen_accuracy)
    assert report.corrected_text.startswith(
        f"accuracy {report.metrics['accuracy']:.2f} → {unseen_accuracy:.2f} "
    )
    assert "(100 evaluation rows not in the training data)" in report.corrected_text


def test_duplicated_evaluation_rows_report_the_accuracy_on_distinct_rows():
    rng = np.random.default_rng(1)
    rows = _frame(rng, 100)
    y = rng.integers(0, 2, 100)
    right = rng.random(100) < 0.5
    right[:10] = True  # ten rows the model gets right, each copied nine more times
    copies = np.concatenate([np.arange(100), np.repeat(np.arange(10), 9)])
    test = rows.iloc[copies].reset_index(drop=True)
    y_test, ok = y[copies], right[copies]
    ctx = Context(eval=classify(y_test, np.where(ok, y_test, 1 - y_test)), test=Split(test, y_test))
    report = build_report(ctx, source="python")
    f = report.get("duplicate_eval_rows")
    assert f.severity.flagged
    assert f.corrected.value == pytest.approx(right.mean())
    assert f.corrected.rows == 100
    assert report.metrics["corrected_accuracy"] == pytest.approx(right.mean())
    assert "100 distinct rows, each counted once" in report.corrected_text


def test_a_collapse_on_imbalanced_data_reports_balanced_accuracy_and_the_baseline():
    report = build_report(Context(eval=classify([0] * 95 + [1] * 5, [0] * 100)))
    c = report.corrected
    assert c is not None and c.measure == "balanced accuracy"
    assert (c.headline, c.value) == (pytest.approx(0.95), pytest.approx(0.5))
    assert (
        report.corrected_text == "accuracy 0.95 → balanced accuracy 0.50 (majority baseline 0.95)"
    )


def test_seed_luck_reports_the_mean_and_interval_over_seeds():
    from mlflow_sanity.core.seed_stats import SeedResults

    values = [0.62, 0.80, 0.66, 0.74, 0.70]
    seeds = {i: {"accuracy": v, "majority_baseline_accuracy": 0.68} for i, v in enumerate(values)}
    report = build_report(Context(seeds=SeedResults("accuracy", seeds)), source="seeds")
    assert report.get("seed_variance").severity.flagged
    c = report.corrected
    assert (c.headline, c.value) == (pytest.approx(0.80), pytest.approx(np.mean(values)))
    assert report.metrics["corrected_accuracy"] == pytest.approx(np.mean(values))
    assert report.corrected_text.startswith("accuracy (best seed) 0.80 → 0.70 (mean over 5 seeds")
    steady = {i: {"accuracy": 0.9 + i / 1000, "majority_baseline_accuracy": 0.5} for i in range(5)}
    assert build_report(Context(seeds=SeedResults("accuracy", steady))).corrected is None


def test_a_healthy_evaluation_has_no_corrected_number():
    rng = np.random.default_rng(2)
    train, test = _frame(rng, 300), _frame(rng, 200)
    y_train, y_test = rng.integers(0, 2, 300), rng.integers(0, 2, 200)
    y_pred = np.where(rng.random(200) < 0.9, y_test, 1 - y_test)
    ctx = Context(
        eval=classify(y_test, y_pred), test=Split(test, y_test), train=Split(train, y_train)
    )
    report = build_report(ctx)
    assert report.status == "pass", report.flagged
    assert report.corrected is None and report.corrected_text is None
    assert "corrected_accuracy" not in report.metrics
    assert json.loads(render_json(report))["corrected"] is None
    assert "Corrected" not in note_section(report)


def test_the_most_misleading_figure_wins_and_survives_merge_and_json():
    small = Corrected("accuracy", 0.9, 0.85, "a", 50, finding="duplicate_eval_rows")
    big = Corrected("accuracy", 0.9, 0.6, "b", 50, finding="train_test_overlap")
    first = Report([Finding("duplicate_eval_rows", Severity.FAIL, "m", corrected=small)])
    second = Report([Finding("train_test_overlap", Severity.WARN, "m", corrected=big)])
    merged = first.merge(second)
    assert merged.corrected == big  # the larger gap, whatever the severity
    back = Report.from_dict(json.loads(render_json(merged)))
    assert back.corrected == big
    assert back.get("duplicate_eval_rows").corrected == small
    assert json.loads(render_json(merged))["corrected"]["text"] == merged.corrected_text


def test_an_info_finding_keeps_its_figure_but_does_not_move_the_headline():
    """A restored EarlyStopping epoch on a healthy run: the figure is evidence, not a tag."""
    figure = Corrected("val_accuracy", 0.84, 0.88, "restored weights", 100, finding="x")
    report = Report([Finding("metric_disagreement", Severity.INFO, "m", corrected=figure)])
    assert report.get("metric_disagreement").corrected == figure
    assert report.corrected is None and report.corrected_text is None
    flagged = Report([Finding("metric_disagreement", Severity.WARN, "m", corrected=figure)])
    assert flagged.corrected == figure


def test_old_reports_without_a_corrected_figure_still_load():
    old = {"findings": [{"id": "eval_is_train", "severity": "fail", "message": "x"}]}
    assert Report.from_dict(old).corrected is None
    broken = {"findings": [{"id": "x", "severity": "warn", "corrected": {"value": 1}}]}
    assert Report.from_dict(broken).get("x").corrected is None


def test_the_renderers_lead_with_the_corrected_figure():
    ctx, _ = _leaked_context()
    report = build_report(ctx, source="python")
    lines = summary_lines(report, "abc", "evaluate", "sqlite:///mlflow.db")
    assert lines[0] == f"mlflow-sanity: {report.corrected_text}"
    assert "this evaluate is FAIL" in lines[1]
    assert "**Corrected:** accuracy" in note_section(report)
    assert "Corrected:</b> accuracy" in render_html(report)


# ------------------------------------------------------------------ real Keras fits


def _noisy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, ((x[:, 0] + rng.normal(0, 1.0, n)) > 0).astype(int)


def _memorising_model(keras):
    """A wide network for noisy labels: fitted long, it is near-perfect on its training
    rows and much worse on new rows, so a leaked test set looks far better than it is."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.005), "binary_crossentropy", metrics=["accuracy"])
    return model


def _memorising_fit(keras):
    x, y = _noisy(500, 7)
    x_tr, y_tr, x_new, y_new = x[:300], y[:300], x[300:], y[300:]
    model = _memorising_model(keras)
    model.fit(x_tr, y_tr, epochs=120, batch_size=64, verbose=0)
    half = 100
    x_test = np.concatenate([x_tr[:half], x_new[:half]])
    y_test = np.concatenate([y_tr[:half], y_new[:half]])
    return model, (x_tr, y_tr), (x_test, y_test), (x_new[:half], y_new[:half])


def test_keras_evaluate_on_a_half_leaked_test_set_reports_the_unseen_half(keras, sanity_on, caplog):
    import mlflow
    from mlflow.tracking import MlflowClient

    model, _, (x_test, y_test), (x_new, y_new) = _memorising_fit(keras)
    with caplog.at_level(logging.WARNING, logger="mlflow_sanity"):
        _, headline = model.evaluate(x_test, y_test, verbose=0)
    run_id = mlflow.last_active_run().info.run_id
    data = MlflowClient().get_run(run_id).data
    sanity_on.autolog(disable=True)
    _, unseen = model.evaluate(x_new, y_new, verbose=0)
    assert headline - unseen > 0.1  # the leak makes a real difference here
    assert data.metrics["sanity/evaluate/1/corrected_accuracy"] == pytest.approx(unseen, abs=0.02)
    tag = data.tags["sanity.corrected"]
    assert tag.startswith("accuracy ") and "100 evaluation rows not in the training data" in tag
    assert "model.evaluate #1" in tag
    assert "**Corrected:**" in data.tags["mlflow.note.content"]
    assert "mlflow-sanity: accuracy " in caplog.text


def test_evaluator_on_a_half_leaked_test_set_reports_the_unseen_half(keras, mlflow_experiment):
    import mlflow
    from mlflow.tracking import MlflowClient

    model, (x_tr, y_tr), (x_test, y_test), (x_new, y_new) = _memorising_fit(keras)
    _, unseen = model.evaluate(x_new, y_new, verbose=0)
    cols = [f"f{j}" for j in range(6)]
    train = pd.DataFrame(x_tr, columns=cols).assign(label=y_tr)
    test = pd.DataFrame(x_test, columns=cols).assign(label=y_test)
    with mlflow.start_run() as run:
        info = mlflow.keras.log_model(model, name="model")
        mlflow.models.evaluate(
            info.model_uri,
            data=test,
            targets="label",
            model_type="classifier",
            evaluators="sanity",
            evaluator_config={"train_data": train},
        )
    data = MlflowClient().get_run(run.info.run_id).data
    corrected = [v for k, v in data.metrics.items() if k.endswith("corrected_accuracy")]
    assert corrected and corrected[0] == pytest.approx(unseen, abs=0.02)
    assert "100 evaluation rows not in the training data" in data.tags["sanity.corrected"]


def test_keras_healthy_held_out_evaluation_has_no_corrected_number(keras, sanity_on):
    import mlflow
    from keras_data import blobs, mlp
    from mlflow.tracking import MlflowClient

    x, y = blobs(n=900, spread=1.0, seed=3)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:600], y[:600], validation_split=0.2, epochs=15, verbose=0)
    model.evaluate(x[600:], y[600:], verbose=0)
    data = MlflowClient().get_run(mlflow.last_active_run().info.run_id).data
    assert data.tags["sanity.status"] == "pass"
    assert "sanity.corrected" not in data.tags
    assert not [k for k in data.metrics if k.endswith("corrected_accuracy")]


def test_keras_evaluate_on_the_training_rows_reports_the_validation_score(keras, sanity_on):
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.tracking.reports import read_report

    x, y = _noisy(400, 8)
    model = _memorising_model(keras)
    model.fit(x[:300], y[:300], validation_data=(x[300:], y[300:]), epochs=60, verbose=0)
    model.evaluate(x[:300], y[:300], verbose=0)
    run_id = mlflow.last_active_run().info.run_id
    sanity_on.autolog(disable=True)
    _, val_accuracy = model.evaluate(x[300:], y[300:], verbose=0)
    f = read_report(run_id).get("eval_is_train")
    assert f.severity is Severity.FAIL
    assert f.corrected.value == pytest.approx(val_accuracy, abs=0.01)  # the fit's val rows
    assert (
        "the fit's 100 validation rows"
        in MlflowClient().get_run(run_id).data.tags["sanity.corrected"]
    )


def test_restored_early_stopping_weights_report_the_restored_epoch(keras, sanity_on):
    import mlflow

    from mlflow_sanity.tracking.reports import read_report

    x, y = _noisy(400, 9)
    model = _memorising_model(keras)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=4, restore_best_weights=True)
    history = model.fit(
        x[:300], y[:300], validation_data=(x[300:], y[300:]), epochs=40, callbacks=[stop], verbose=0
    )
    report = read_report(mlflow.last_active_run().info.run_id)
    f = report.get("metric_disagreement")
    restored = f.evidence["restored_epoch"] - 1
    values = history.history["val_accuracy"]
    assert restored < len(values) - 1 and values[restored] != values[-1]  # the setting
    assert f.corrected.metric == "val_accuracy"
    assert (f.corrected.headline, f.corrected.value) == (values[-1], values[restored])
    assert f"restored weights of epoch {restored + 1}" in f.corrected.reason
    # the restored model's own validation accuracy is the corrected figure
    assert report.metrics["accuracy"] == pytest.approx(values[restored], abs=0.01)


def test_the_logged_model_description_and_tags_carry_the_corrected_figure():
    from mlflow_sanity.tracking.models import merged_tags, model_verdict

    ctx, _ = _leaked_context()
    report = build_report(ctx, source="python")
    tags = merged_tags({}, report)
    assert tags["sanity.corrected"] == report.corrected_text
    assert f"**Corrected:** {report.corrected_text}" in note_section(model_verdict(tags, report))


def test_keras_evaluate_on_an_oversampled_test_set_reports_the_distinct_rows(keras, sanity_on):
    import mlflow
    from mlflow.tracking import MlflowClient

    x, y = _noisy(500, 10)
    model = _memorising_model(keras)
    model.fit(x[:300], y[:300], epochs=20, batch_size=64, verbose=0)
    x_new, y_new = x[300:], y[300:]
    sanity_on.autolog(disable=True)
    right = (model.predict(x_new, verbose=0)[:, 0] > 0.5) == y_new
    sanity_on.autolog()
    # "resampled" test set: forty rows the model gets right, each copied five more times
    copies = np.concatenate([np.arange(200), np.repeat(np.flatnonzero(right)[:40], 5)])
    model.evaluate(x_new[copies], y_new[copies], verbose=0)
    data = MlflowClient().get_run(mlflow.last_active_run().info.run_id).data
    assert data.tags["sanity.finding.duplicate_eval_rows"] in ("warn", "fail")
    assert data.metrics["sanity/evaluate/1/corrected_accuracy"] == pytest.approx(right.mean())
    assert "200 distinct rows, each counted once" in data.tags["sanity.corrected"]

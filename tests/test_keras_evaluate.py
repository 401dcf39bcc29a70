"""``model.evaluate`` is checked: the number Keras prints, on real (tiny) fits."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from keras_data import blobs, mlp

from mlflow_sanity.core.findings import Severity
from mlflow_sanity.tracking.reports import read_report


def _binary_model(keras, d=10):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(10, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _last_report(scope_index: int | None = None):
    import mlflow

    run = mlflow.last_active_run()
    return run, read_report(run.info.run_id)


def _flags(report):
    return {f.id: f.severity.value for f in report.flagged}


def test_fit_and_evaluate_on_the_same_imbalanced_rows(keras, sanity_on, caplog):
    """Seed story: 990/10 data, fitted and evaluated on the same rows, "Accuracy: 0.99"."""
    import mlflow
    from mlflow.tracking import MlflowClient

    rng = np.random.default_rng(0)
    x = rng.random((1000, 10))
    y = np.concatenate([np.zeros(990), np.ones(10)])
    model = _binary_model(keras)
    model.fit(x, y, epochs=3, verbose=0)
    with caplog.at_level(logging.WARNING, logger="mlflow_sanity"):
        _, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(0.99)
    run = mlflow.last_active_run()
    report = read_report(run.info.run_id)
    flags = _flags(report)
    assert flags["eval_is_train"] == "fail"
    assert flags["prediction_collapse"] == "fail" or flags["accuracy_at_baseline"] == "fail"
    assert report.get("eval_is_train").source == "model.evaluate #1"
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["sanity.finding.eval_is_train"] == "fail"
    assert "(model.evaluate #1)" in tags["mlflow.note.content"]
    metrics = MlflowClient().get_run(run.info.run_id).data.metrics
    assert metrics["sanity/evaluate/1/accuracy"] == pytest.approx(0.99)
    assert "this evaluate is FAIL" in caplog.text and run.info.run_id in caplog.text
    assert f"/#/runs/{run.info.run_id}" in caplog.text  # a link the UI opens


def test_fit_without_validation_is_judged_on_its_training_rows(keras, sanity_on):
    rng = np.random.default_rng(1)
    x = rng.random((600, 10))
    y = (np.arange(600) < 570).astype(int) ^ 1  # 30 positives: a 95/5 split
    model = _binary_model(keras)
    model.fit(x, y, epochs=2, verbose=0)
    _, report = _last_report()
    collapse = report.get("prediction_collapse")
    assert collapse.severity is Severity.FAIL
    assert collapse.message.startswith("On its training data")
    assert report.get("perfect_score") is None and report.get("small_eval_set") is None


@pytest.mark.parametrize("return_dict", [False, True])
def test_evaluate_returns_exactly_what_keras_returns(keras, sanity_on, return_dict):
    x, y = blobs(n=240)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:180], y[:180], epochs=2, verbose=0)
    with_check = model.evaluate(x[180:], y[180:], verbose=0, return_dict=return_dict)
    sanity_on.autolog(disable=True)
    bare = model.evaluate(x[180:], y[180:], verbose=0, return_dict=return_dict)
    assert type(with_check) is type(bare)
    assert with_check == bare


def test_healthy_held_out_evaluation_passes_for_arrays_and_tf_data(keras, sanity_on):
    import tensorflow as tf

    x, y = blobs(n=900, spread=1.0, seed=3)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:600], y[:600], validation_split=0.2, epochs=15, verbose=0)
    model.evaluate(x[600:], y[600:], verbose=0)
    test = tf.data.Dataset.from_tensor_slices((x[600:], y[600:])).batch(64)
    model.evaluate(test, verbose=0)
    _, report = _last_report()
    assert report.status == "pass", report.flagged
    calls = report.state.calls["evaluate"]
    assert [c["status"] for c in calls] == ["pass", "pass"]
    assert report.get("train_test_overlap").severity is Severity.PASSED


def test_evaluate_without_a_fit_still_checks_the_evaluation_set(keras, sanity_on):
    import mlflow

    rng = np.random.default_rng(2)
    x = rng.random((100, 10))
    y = np.concatenate([np.zeros(99), np.ones(1)])
    model = _binary_model(keras)
    assert mlflow.active_run() is None
    model.evaluate(x, y, verbose=0)
    run, report = _last_report()
    assert run.info.status == "FINISHED"
    assert report.status == "fail"
    assert "model.evaluate #1: leakage checks (no fit of this model in this process)" in (
        report.not_checked
    )
    assert {r.check for r in report.skipped} >= {"eval_is_train", "train_test_overlap"}
    assert report.get("eval_is_train") is None


def test_scaler_fitted_before_the_split_is_found_through_evaluate(keras, sanity_on):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = blobs(n=600, k=2, d=8, seed=4)
    x = x * np.arange(1, 9) + 5
    leaky = StandardScaler().fit_transform(x)  # fitted on everything, then split
    x_tr, x_te, y_tr, y_te = train_test_split(leaky, y, test_size=0.3, random_state=0)
    model = mlp(keras, 1, "sigmoid", d=8)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=3, verbose=0)
    model.evaluate(x_te, y_te, verbose=0)
    _, report = _last_report()
    assert report.get("preprocessing_leakage").severity is Severity.WARN

    raw_tr, raw_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(raw_tr)  # the corrected twin
    model = mlp(keras, 1, "sigmoid", d=8)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(scaler.transform(raw_tr), y_tr, epochs=3, verbose=0)
    model.evaluate(scaler.transform(raw_te), y_te, verbose=0)
    _, report = _last_report()
    assert report.get("preprocessing_leakage").severity is Severity.PASSED


def test_evaluating_the_early_stopping_set_is_validation_reuse(keras, sanity_on):
    x, y = blobs(n=600, seed=5)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    val = (x[450:], y[450:])
    model.fit(x[:450], y[:450], validation_data=val, epochs=4, callbacks=[stop], verbose=0)
    model.evaluate(*val, verbose=0)
    _, report = _last_report()
    assert report.get("validation_reuse").severity is Severity.FAIL


def test_generators_and_infinite_datasets_are_never_consumed(keras, sanity_on):
    import tensorflow as tf

    x, y = blobs(n=200)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    forever = tf.data.Dataset.from_tensor_slices((x, y)).batch(50).repeat()
    model.evaluate(forever, steps=2, verbose=0)
    _, report = _last_report()
    notes = report.inputs["evaluate"]["notes"]
    assert any("repeats forever" in n for n in notes)


def test_an_internal_error_is_one_warning_and_the_result_is_intact(
    keras, sanity_on, monkeypatch, lenient
):
    from mlflow_sanity.adapters.keras import patch

    def boom(*args, **kwargs):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(patch, "analyse_evaluate", boom)
    x, y = blobs(n=120)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.evaluate(x, y, verbose=0)
    ours = [w for w in caught if issubclass(w.category, sanity_on.SanityWarning)]
    assert len(ours) == 1 and "evaluate" in str(ours[0].message)
    assert len(result) == 2 and 0.0 <= result[1] <= 1.0


def test_validation_inside_fit_is_not_checked_as_an_evaluate(keras, sanity_on):
    x, y = blobs(n=300)
    model = mlp(keras, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:200], y[:200], validation_data=(x[200:], y[200:]), epochs=2, verbose=0)
    _, report = _last_report()
    assert "evaluate" not in report.state.calls


@pytest.mark.parametrize("spelling", ["accuracy", "acc", "metric object"])
def test_evaluate_metrics_are_recomputed_whatever_their_spelling(keras, sanity_on, spelling):
    """Logits + from_logits=True + accuracy at 0.5: evaluate's number is not the accuracy."""
    x, y = blobs(n=400, k=2, seed=6)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    metric = keras.metrics.BinaryAccuracy() if spelling == "metric object" else spelling
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile("adam", loss, metrics=[metric])
    model.fit(x[:300], y[:300], epochs=5, verbose=0)
    model.evaluate(x[300:], y[300:], verbose=0)
    _, report = _last_report()
    found = report.get("metric_disagreement")
    assert found.evidence["returned_by"] == "model.evaluate"
    assert found.evidence["metrics"], "no accuracy metric was found to recompute"
    (values,) = found.evidence["metrics"].values()
    assert "sklearn" in values and "keras_evaluate" in values


INPUT_CHECKS = {
    "eval_is_train",
    "train_test_overlap",
    "preprocessing_leakage",
    "feature_target_leakage",
    "duplicate_eval_rows",
    "validation_reuse",
}


def _two_outputs(keras, binary: str = "big", binary_loss: str = "binary_crossentropy"):
    """A shared trunk with a 3-class softmax head ``kind`` and a sigmoid head ``binary``."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    hidden = keras.layers.Dense(16, activation="relu")(inp)
    model = keras.Model(
        inp,
        {
            "kind": keras.layers.Dense(3, activation="softmax", name="kind")(hidden),
            binary: keras.layers.Dense(1, activation="sigmoid", name=binary)(hidden),
        },
    )
    model.compile(
        "adam",
        loss={"kind": "sparse_categorical_crossentropy", binary: binary_loss},
        metrics={"kind": ["accuracy"], binary: ["accuracy"]},
    )
    return model


def test_a_two_output_model_is_checked_per_head(keras, sanity_on):
    """Each classification head with its own activation, loss and metrics; findings name it."""
    x, kind = blobs(n=400, k=3, seed=7)
    flag = (np.arange(400) % 20 == 0).astype(int)  # 5% positives: the flag head collapses
    model = _two_outputs(keras, binary="flag", binary_loss="mse")
    y = {"kind": kind, "flag": flag}
    model.fit(x, y, validation_split=0.25, epochs=3, verbose=0)
    _, report = _last_report()
    heads = report.inputs["heads"]
    assert set(heads) == {"kind", "flag"}
    assert heads["kind"]["model"]["output_activation"] == "softmax"
    assert heads["flag"]["model"]["loss"] == "mean_squared_error"
    mismatch = report.get("loss_output_mismatch")
    assert mismatch.severity.flagged and mismatch.message.startswith("Output 'flag'")
    assert {"prediction_collapse", "accuracy_at_baseline"} & set(heads["flag"]["flagged"])
    model.evaluate(x, y, verbose=0)
    _, report = _last_report()
    calls = report.state.calls["evaluate"]
    assert calls[-1]["status"] == "fail"


def test_a_two_output_model_gets_the_input_checks_once(keras, sanity_on):
    """Leakage is about rows, not heads: a multi-output fit compares its validation rows
    with its training rows, and its evaluate calls with both, once for the model."""
    x, kind = blobs(n=600, k=3, seed=11)
    y = {"kind": kind, "big": (x[:, 0] + x[:, 1] > 0).astype(int)}
    train = {k: v[:400] for k, v in y.items()}
    held_out = {k: v[400:] for k, v in y.items()}
    model = _two_outputs(keras)
    model.fit(
        x[:400],
        train,
        validation_data=(x[400:500], {k: v[:100] for k, v in held_out.items()}),
        epochs=3,
        verbose=0,
    )
    _, report = _last_report()
    assert report.inputs["heads_leakage"].startswith(
        "once on the model's inputs, with the labels of output '"
    )
    assert report.get("train_test_overlap") is not None  # it ran, and
    assert not INPUT_CHECKS & set(report.flagged_ids), report.flagged  # found nothing
    assert report.coverage == "full", report.not_checked
    model.evaluate(x[500:], {k: v[100:] for k, v in held_out.items()}, verbose=0)
    _, report = _last_report()
    assert not INPUT_CHECKS & set(report.flagged_ids) and report.coverage == "full"
    model.evaluate(x[:400], train, verbose=0)  # the rows it was trained on
    _, report = _last_report()
    found = report.get("eval_is_train")
    assert found.severity is Severity.FAIL and found.source == "model.evaluate #2"


def test_a_two_output_fit_validated_on_its_training_rows_is_flagged(keras, sanity_on):
    x, kind = blobs(n=400, k=3, seed=12)
    y = {"kind": kind, "big": (x[:, 0] + x[:, 1] > 0).astype(int)}
    model = _two_outputs(keras)
    model.fit(
        x, y, validation_data=(x[:100], {k: v[:100] for k, v in y.items()}), epochs=2, verbose=0
    )
    _, report = _last_report()
    assert report.get("train_test_overlap").severity is Severity.FAIL


def test_a_sanity_callback_checks_evaluate_without_the_patch(keras, mlflow_experiment):
    import mlflow_sanity

    rng = np.random.default_rng(8)
    x = rng.random((200, 10))
    y = np.concatenate([np.zeros(196), np.ones(4)])
    model = _binary_model(keras)
    callback = mlflow_sanity.SanityCallback((x, y))
    model.evaluate(x, y, verbose=0, callbacks=[callback])
    _, report = _last_report()
    assert report.provenance.source == "model.evaluate"
    assert report.status == "fail"
    assert report.get("metric_disagreement").evidence["returned_by"] == "model.evaluate"


def test_a_failed_forward_pass_is_reported_per_check_not_passed(keras, sanity_on, monkeypatch):
    """The head loop says what it could not check: each head's evaluation-set checks become
    NotChecked records with the reason; the row checks (leakage, duplicates) still run."""
    from mlflow_sanity.adapters.keras import heads as heads_module
    from mlflow_sanity.checks import REGISTRY

    x, kind = blobs(n=300, k=3, seed=3)
    y = {"kind": kind, "big": (x[:, 0] > 0).astype(int)}
    model = _two_outputs(keras)
    model.fit(x[:200], {k: v[:200] for k, v in y.items()}, epochs=2, verbose=0)

    def broken(*args, **kwargs):
        raise RuntimeError("no forward pass today")

    monkeypatch.setattr(heads_module, "predict_heads", broken)
    model.evaluate(x[200:], {k: v[200:] for k, v in y.items()}, verbose=0)
    _, report = _last_report()
    skipped = {r.check for r in report.skipped}
    assert {"accuracy_at_baseline", "prediction_collapse"} <= skipped
    assert all(REGISTRY[c].judges_predictions for c in skipped)
    assert report.not_checked == ["model.evaluate #1: the model's predictions (they failed)"]
    assert report.coverage.startswith("partial: model.evaluate #1: the model's predictions")
    assert report.get("train_test_overlap") is not None  # the rows were still checked
    assert report.provenance.evaluated_on is None  # nothing was judged on predictions


def test_the_rows_are_looked_up_once_beside_the_metrics(keras, sanity_on, monkeypatch):
    """The lookup of the evaluated rows in the fit's training fingerprint starts on a
    second thread before the metrics (``analyse_evaluate``); every check that reads it
    reads that one lookup, and the copies of training rows are still found."""
    import threading

    from mlflow_sanity.core import fingerprint as fpm

    calls: list[str] = []
    real = fpm.match

    def counted(*args, **kwargs):
        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(fpm, "match", counted)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 10)), rng.integers(0, 2, 400)
    model = _binary_model(keras)
    model.fit(x[:300], y[:300], epochs=2, verbose=0)
    calls.clear()  # the fit's own lookups
    during: list[int] = []  # lookups begun by the end of Keras' own pass

    class Watch(keras.callbacks.Callback):
        def on_test_end(self, logs=None):
            for _ in range(500):  # the lookup began before the pass: it shows up here
                if calls:
                    break
                threading.Event().wait(0.01)
            during.append(len(calls))

    model.evaluate(
        np.concatenate([x[300:], x[:100]]),
        np.concatenate([y[300:], y[:100]]),
        callbacks=[Watch()],
        verbose=0,
    )
    assert during == [1], "the lookup should begin beside Keras' pass, not after it"
    assert len(calls) == 1 and calls[0].startswith("mlflow-sanity-lookup"), calls
    _, report = _last_report()
    overlap = report.get("train_test_overlap")
    assert overlap.severity is Severity.FAIL and overlap.message.startswith("100 of 200")


def test_a_failing_evaluate_raises_the_users_error_with_the_lookup_begun(keras, sanity_on):
    """The lookup begun before Keras' pass is let go when the user's call fails; the
    user sees Keras' own error, and the next evaluate is checked as usual."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 10)), rng.integers(0, 2, 300)
    model = _binary_model(keras)
    model.fit(x[:200], y[:200], epochs=1, verbose=0)
    with pytest.raises(ValueError):
        model.evaluate(x[200:, :7], y[200:], verbose=0)  # three columns short
    model.evaluate(x[200:], y[200:], verbose=0)
    _, report = _last_report()
    assert report.get("train_test_overlap") is not None


def test_a_measurement_started_elsewhere_is_waited_for_and_raises_where_it_is_read():
    from concurrent.futures import ThreadPoolExecutor

    from mlflow_sanity.checks import Context

    def boom():
        raise ValueError("the lookup failed")

    ctx = Context()
    with ThreadPoolExecutor(1) as pool:
        ctx.started("a", pool.submit(lambda: 41 + 1))
        ctx.started("b", pool.submit(boom))
        assert ctx.measure("a", lambda: 0) == 42  # the started value, not recomputed
        assert ctx.measure("a", lambda: 0) == 42
        with pytest.raises(ValueError, match="the lookup failed"):
            ctx.measure("b", lambda: 0)


def test_a_two_output_model_reads_its_input_scale(keras, sanity_on):
    """``unscaled_inputs`` reads the model's inputs for every head (it used to run for
    one-output models only): unscaled columns are named, scaled ones pass."""
    x, kind = blobs(n=400, k=3, seed=13)
    y = {"kind": kind, "big": (x[:, 0] + x[:, 1] > 0).astype(int)}
    scaled = _two_outputs(keras)
    scaled.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
    _, report = _last_report()
    assert report.get("unscaled_inputs").severity is Severity.PASSED
    raw = _two_outputs(keras)
    raw.fit(x * 1000.0, y, validation_split=0.25, epochs=2, verbose=0)
    _, report = _last_report()
    found = report.get("unscaled_inputs")
    assert found.severity is not Severity.PASSED, found.message
    assert found.message.startswith("Output '") and "unscaled" in found.message

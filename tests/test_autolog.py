"""The Keras autolog extension on real (tiny) Keras fits, logged to a real MLflow store."""

from __future__ import annotations

import importlib
import math
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from keras_data import blobs, mlp

from mlflow_sanity.core.findings import Severity
from mlflow_sanity.tracking.reports import read_report

ROWS = 360
PNG = b"\x89PNG\r\n\x1a\n"  # stand-in image where a test only looks at findings
PLOTS = ("learning_curves_png", "confusion_matrix_png", "class_balance_png")


def _n_val(n: int, split: float) -> int:
    """Rows Keras' validation_split holds out (it floors the training share)."""
    return n - math.floor(n * (1.0 - split))


_blobs = blobs
_model = mlp


@pytest.fixture(scope="module")
def autolog_module(keras):
    return importlib.import_module("mlflow_sanity.adapters.keras.patch")


@pytest.fixture(scope="module")
def module_experiment(tracking_uri):
    import mlflow

    exp_id = mlflow.set_experiment(f"autolog-{uuid.uuid4().hex[:8]}").experiment_id
    yield exp_id
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def sanity_on(autolog_module, mlflow_experiment):
    autolog_module.autolog()
    yield autolog_module
    autolog_module.autolog(disable=True)


@pytest.fixture
def mlflow_keras_autolog(keras):
    import mlflow

    mlflow.keras.autolog(log_models=False, log_datasets=False, silent=True)
    yield
    mlflow.keras.autolog(disable=True)


def _fit_and_read(model, *args, **kwargs):
    """Fit (sanity autolog on), return the History, the run and the logged report."""
    import mlflow

    history = model.fit(*args, verbose=0, **kwargs)
    run = mlflow.last_active_run()
    return history, run, read_report(run.info.run_id)


def _severity(report, finding_id):
    f = report.get(finding_id)
    return f.severity.value if f is not None else None


# -- the seed situations, trained once per module ---------------------------------------------


@pytest.fixture(scope="module")
def seed_runs(keras, autolog_module, module_experiment):
    """Each pitfall from the project's origin stories, as a real fit with autolog on."""
    from mlflow_sanity.report import plots

    autolog_module.autolog()
    runs = {}
    x, y = _blobs()
    with pytest.MonkeyPatch.context() as mp:
        for name in PLOTS:
            mp.setattr(plots, name, lambda *args, **kwargs: PNG)
        _train_seed_situations(keras, runs, x, y)
    autolog_module.autolog(disable=True)
    return runs


def _train_seed_situations(keras, runs, x, y):
    """Train the seed situations into ``runs`` (name -> (history, run, report))."""
    m = _model(keras, 3, "softmax")
    m.compile("adam", "mse", metrics=["accuracy"])
    runs["mse_softmax"] = _fit_and_read(
        m, x, keras.utils.to_categorical(y, 3), validation_split=0.3, epochs=3
    )

    m = _model(keras, 3, "softmax", hidden="softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    runs["hidden_softmax"] = _fit_and_read(m, x, y, validation_split=0.3, epochs=3)

    yb = (y == 0).astype("int64")
    m = _model(keras, 1, None)
    m.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    runs["logits"] = _fit_and_read(m, x, yb, validation_split=0.3, epochs=3)

    m = _model(keras, 1, "sigmoid")
    m.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    runs["cce_one_unit"] = _fit_and_read(m, x, yb, validation_split=0.3, epochs=3)

    order = np.argsort(y, kind="stable")
    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    runs["sorted_split"] = _fit_and_read(m, x[order], y[order], validation_split=0.2, epochs=2)

    rng = np.random.default_rng(3)
    xo = rng.normal(size=(80, 20)).astype("float32")
    yo = (xo[:, 0] + rng.normal(scale=1.0, size=80) > 0).astype("int64")
    m = _model(keras, 1, "sigmoid", d=20, width=64)
    m.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    runs["overfit"] = _fit_and_read(m, xo, yo, validation_split=0.25, epochs=100)

    m = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(1, activation="sigmoid"),
            keras.layers.Reshape(()),
        ]
    )
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    runs["rank1"] = _fit_and_read(m, x, yb, validation_split=0.3, epochs=2)

    m = _model(keras, 1, "sigmoid")
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    runs["string_class_weight"] = _fit_and_read(
        m, x, yb, validation_split=0.3, epochs=2, class_weight={"0": 1.0, "1": 2.0}
    )


@pytest.fixture(scope="module")
def healthy_run(keras, autolog_module, module_experiment):
    """A well-configured model on balanced data."""
    autolog_module.autolog()
    try:
        x, y = _blobs(seed=1)
        m = _model(keras, 3, "softmax")
        m.compile(
            keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return _fit_and_read(m, x, y, validation_split=0.35, epochs=12)
    finally:
        autolog_module.autolog(disable=True)


SEEDS = [
    ("mse_softmax", "loss_output_mismatch", "warn"),
    ("hidden_softmax", "hidden_softmax", "warn"),
    ("logits", "logits_thresholded", "warn"),
    ("logits", "metric_disagreement", "fail"),
    ("cce_one_unit", "loss_output_mismatch", "fail"),
    ("cce_one_unit", "loss_accuracy_divergence", "fail"),
    ("sorted_split", "label_shift", "fail"),
    ("sorted_split", "single_class_eval", "fail"),
    ("overfit", "overfitting", "warn"),
    ("rank1", "metric_disagreement", "fail"),
    ("string_class_weight", "class_weight_ignored", "warn"),
]


@pytest.mark.parametrize(("seed", "finding_id", "severity"), SEEDS)
def test_seed_situation_flags_on_a_real_fit(seed_runs, seed, finding_id, severity):
    _, run, report = seed_runs[seed]
    assert _severity(report, finding_id) == severity, report.get(finding_id)
    import mlflow

    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags[f"sanity.finding.{finding_id}"] == severity
    assert finding_id in tags["sanity.findings"].split(",")
    assert tags["sanity.status"] in ("warn", "fail")


def test_the_logits_disagreement_is_explained_and_emulated(seed_runs):
    history, _, report = seed_runs["logits"]
    metric = report.get("metric_disagreement").evidence["metrics"]["accuracy"]
    assert metric["keras_validation"] == pytest.approx(
        history.history["val_accuracy"][-1], abs=1e-4
    )
    assert metric["keras_emulated"] == pytest.approx(metric["keras_validation"], abs=1e-4)
    assert metric["sklearn_validation"] > metric["keras_validation"]


def test_healthy_model_passes(healthy_run):
    import mlflow

    history, run, report = healthy_run
    assert report.status == "pass", [(f.id, f.message) for f in report.flagged]
    ran = {f.id for f in report.findings}
    expected = {
        "loss_output_mismatch",
        "hidden_softmax",
        "overfitting",
        "loss_accuracy_divergence",
        "metric_disagreement",
        "label_shift",
        "single_class_eval",
        "prediction_collapse",
        "accuracy_at_baseline",
        "small_eval_set",
    }
    assert expected <= ran
    assert all(f.severity in (Severity.PASSED, Severity.INFO) for f in report.findings)
    data = mlflow.get_run(run.info.run_id).data
    assert data.tags["sanity.status"] == "pass" and data.tags["sanity.findings"] == ""
    assert "mlflow-sanity" in data.tags["mlflow.note.content"]
    assert math.isfinite(data.metrics["sanity/balanced_accuracy"])
    assert all(math.isfinite(v) for k, v in data.metrics.items() if k.startswith("sanity/"))
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "sanity")}
    for name in (
        "report.json",
        "report.html",
        "learning_curves.png",
        "validation_confusion_matrix.png",
        "validation_class_balance.png",
        "validation_per_class.csv",
    ):
        assert f"sanity/{name}" in names
    assert report.provenance.source == "autolog"
    assert report.inputs["fit"]["validation"] == "validation_split"
    assert report.inputs["fit"]["n_val"] == _n_val(ROWS, 0.35)
    assert report.metrics["accuracy"] == pytest.approx(
        history.history["val_accuracy"][-1], abs=1e-4
    )


# -- explicit callback -----------------------------------------------------------------------


def test_sanity_callback_gives_the_same_result(
    keras, autolog_module, mlflow_experiment, seed_runs, fast_plots
):
    x, y = _blobs()
    yb = (y == 0).astype("int64")
    split = ROWS - _n_val(ROWS, 0.3)
    m = _model(keras, 1, None)
    m.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    cb = autolog_module.SanityCallback(
        validation_data=(x[split:], yb[split:]), training_data=(x[:split], yb[:split])
    )
    _, _run, report = _fit_and_read(
        m, x[:split], yb[:split], validation_data=(x[split:], yb[split:]), epochs=3, callbacks=[cb]
    )
    assert report.flagged_ids == seed_runs["logits"][2].flagged_ids
    assert report.provenance.source == "callback"


def test_sanity_callback_without_data_runs_config_checks(
    keras, autolog_module, mlflow_experiment, fast_plots
):
    import mlflow

    x, y = _blobs()
    m = _model(keras, 3, "softmax", hidden="softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with mlflow.start_run() as run:
        m.fit(
            x,
            y,
            validation_split=0.3,
            epochs=2,
            verbose=0,
            callbacks=[autolog_module.SanityCallback()],
        )
    report = read_report(run.info.run_id)
    assert _severity(report, "hidden_softmax") == "warn"
    assert _severity(report, "label_shift") == "info"
    assert "not given training_data or validation_data" in report.get("label_shift").message
    assert report.get("single_class_eval") is None  # no validation predictions without data


def test_sanity_callback_judges_weights_early_stopping_restores_after_it(
    keras, autolog_module, mlflow_experiment, fast_plots
):
    x, y = _blobs(seed=2)
    split = ROWS - _n_val(ROWS, 0.3)
    m = _model(keras, 3, "softmax")
    m.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    cb = autolog_module.SanityCallback(validation_data=(x[split:], y[split:]))
    history, _, report = _fit_and_read(
        m,
        x[:split],
        y[:split],
        validation_data=(x[split:], y[split:]),
        epochs=40,
        callbacks=[cb, stop],  # EarlyStopping restores only after SanityCallback.on_train_end
    )
    assert report.model_selection.monitors == ("val_loss",)
    best = int(np.argmin(history.history["val_loss"]))
    evidence = report.get("metric_disagreement").evidence
    assert evidence["judged_epoch"] == best + 1
    metric = evidence["metrics"]["accuracy"]
    assert metric["keras_validation"] == pytest.approx(metric["sklearn_validation"], abs=1e-4)


def test_autolog_hands_the_fit_to_an_explicit_callback(keras, sanity_on, fast_plots):
    x, y = _blobs()
    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    _, _run, report = _fit_and_read(
        m, x, y, validation_split=0.3, epochs=2, callbacks=[sanity_on.SanityCallback()]
    )
    assert report.provenance.source == "autolog"  # the wrapper's data, reported once
    assert report.inputs["fit"]["n_train"] == ROWS - _n_val(ROWS, 0.3)
    assert report.get("label_shift").severity is Severity.PASSED


# -- robustness ------------------------------------------------------------------------------


def _broken_analysis(keras, monkeypatch):
    """Data and a compiled model whose fit analysis raises (a bug inside mlflow-sanity)."""
    from mlflow_sanity.adapters.keras import record

    def boom(*args, **kwargs):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(record, "analyse", boom)
    x, y = _blobs(n=60)
    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return x, y, m


@pytest.mark.parametrize("with_mlflow_autolog", [False, True])
def test_internal_error_gives_one_warning_and_fit_still_works(
    keras, sanity_on, monkeypatch, request, with_mlflow_autolog, lenient
):
    import mlflow

    if with_mlflow_autolog:  # MLflow reroutes warnings it attributes to its own code
        request.getfixturevalue("mlflow_keras_autolog")

    x, y, m = _broken_analysis(keras, monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = m.fit(x, y, epochs=2, verbose=0)
    ours = [w for w in caught if issubclass(w.category, sanity_on.SanityWarning)]
    assert len(ours) == 1 and "forced failure" in str(ours[0].message)
    assert isinstance(history, keras.callbacks.History) and len(history.history["loss"]) == 2
    assert mlflow.active_run() is None
    run = mlflow.last_active_run()
    assert run.info.status == "FINISHED" and "sanity.status" not in run.data.tags


def test_internal_error_raises_in_strict_mode(keras, sanity_on, monkeypatch):
    """Under the suite's strict mode the same bug is a red test, not a quiet warning."""

    x, y, m = _broken_analysis(keras, monkeypatch)
    with pytest.raises(RuntimeError, match="forced failure"):
        m.fit(x, y, epochs=1, verbose=0)


def test_a_failing_fit_raises_and_ends_the_run_failed(keras, sanity_on):
    import mlflow

    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError):
        m.fit(np.zeros((10, 4), "float32"), np.zeros(10), verbose=0)
    assert mlflow.active_run() is None
    assert mlflow.last_active_run().info.status == "FAILED"


def test_tf_data_inputs_are_read_but_not_consumed(keras, sanity_on, fast_plots):
    """Finite datasets are read once more (Keras' pass is untouched) and fully checked."""
    import tensorflow as tf

    x, y = _blobs(n=120)
    train = tf.data.Dataset.from_tensor_slices((x[:90], y[:90])).batch(32)
    val = tf.data.Dataset.from_tensor_slices((x[90:], y[90:])).batch(32)
    m = _model(keras, 3, "softmax", hidden="softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    _, _, report = _fit_and_read(m, train, validation_data=val, epochs=2)
    assert _severity(report, "hidden_softmax") == "warn"
    shift = report.get("label_shift")
    assert shift.evidence["n_train"] == 90 and shift.evidence["n_validation"] == 30
    assert report.provenance.evaluated_on == "validation data"
    assert report.get("prediction_collapse") is not None
    assert sum(1 for _ in train) == 3  # the user's pipeline is intact


def test_generators_are_never_consumed(keras, sanity_on, fast_plots):
    x, y = _blobs(n=120)

    def batches():
        for start in range(0, 90, 30):
            yield x[start : start + 30], y[start : start + 30]

    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    _, _, report = _fit_and_read(m, batches(), epochs=1, steps_per_epoch=3)
    shift = report.get("label_shift")
    assert shift.severity is Severity.INFO and "generator cannot be read" in shift.message


def test_pandas_inputs_and_early_stopping(keras, sanity_on, fast_plots):
    x, y = _blobs(seed=2)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    m = _model(keras, 3, "softmax")
    m.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history, _, report = _fit_and_read(
        m, frame, pd.Series(y), validation_split=0.3, epochs=40, callbacks=[stop]
    )
    assert report.model_selection.to_dict() == {
        "monitors": ["val_loss"],
        "callbacks": ["EarlyStopping"],
    }
    best = int(np.argmin(history.history["val_loss"]))
    disagreement = report.get("metric_disagreement")
    assert disagreement.evidence["judged_epoch"] == best + 1
    metric = disagreement.evidence["metrics"]["accuracy"]
    assert metric["keras_validation"] == pytest.approx(metric["sklearn_validation"], abs=1e-4)
    if best + 1 < len(history.history["loss"]):
        assert disagreement.severity is Severity.INFO
        assert f"restored the weights of epoch {best + 1}" in disagreement.message


# -- lifecycle: runs, MLflow autolog, evaluate, disable ---------------------------------------


@pytest.mark.parametrize("mlflow_first", [True, False])
def test_coexists_with_mlflow_keras_autolog(
    keras, autolog_module, mlflow_experiment, mlflow_first, fast_plots
):
    import mlflow

    if mlflow_first:
        mlflow.keras.autolog(log_models=False, log_datasets=False, silent=True)
        autolog_module.autolog()
    else:
        autolog_module.autolog()
        mlflow.keras.autolog(log_models=False, log_datasets=False, silent=True)
    try:
        x, y = _blobs(n=90)
        m = _model(keras, 3, "softmax", hidden="softmax")
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x, y, validation_split=0.3, epochs=2, verbose=0)
    finally:
        autolog_module.autolog(disable=True)
        mlflow.keras.autolog(disable=True)
    runs = mlflow.search_runs([mlflow_experiment], output_format="list")
    assert len(runs) == 1
    data = runs[0].data
    assert "val_accuracy" in data.metrics and "epochs" in data.params  # MLflow's autolog
    assert data.tags["sanity.finding.hidden_softmax"] == "warn"  # ours, same run


@pytest.mark.parametrize("with_mlflow_autolog", [True, False])
def test_fit_twice_with_and_without_an_active_run(
    keras, sanity_on, mlflow_experiment, with_mlflow_autolog, request, fast_plots
):
    import mlflow

    if with_mlflow_autolog:
        request.getfixturevalue("mlflow_keras_autolog")
    x, y = _blobs(n=90)
    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, validation_split=0.3, epochs=1, verbose=0)
    m.fit(x, y, validation_split=0.3, epochs=1, verbose=0)
    assert mlflow.active_run() is None
    runs = mlflow.search_runs([mlflow_experiment], output_format="list")
    assert len(runs) == 2 and all("sanity.status" in r.data.tags for r in runs)

    with mlflow.start_run() as run:
        m.fit(x, y, validation_split=0.3, epochs=1, verbose=0)
        m.fit(x[:, ::-1], y, validation_split=0.3, epochs=1, verbose=0)
        assert mlflow.active_run().info.run_id == run.info.run_id
    assert len(mlflow.search_runs([mlflow_experiment], output_format="list")) == 3
    assert "sanity.status" in mlflow.get_run(run.info.run_id).data.tags


def test_still_works_after_mlflow_models_evaluate(
    keras, sanity_on, mlflow_keras_autolog, mlflow_experiment
):
    import mlflow

    data = pd.DataFrame({"f": np.arange(40.0), "y": np.tile([0, 1], 20)})
    data["pred"] = data["y"]
    with mlflow.start_run():
        mlflow.models.evaluate(
            data=data,
            targets="y",
            predictions="pred",
            model_type="classifier",
            evaluators=["sanity"],
        )
    x, y = _blobs(n=90)
    m = _model(keras, 3, "softmax", hidden="softmax")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, validation_split=0.3, epochs=1, verbose=0)
    run = mlflow.last_active_run()
    assert "val_accuracy" in run.data.metrics  # MLflow's patch is back
    assert run.data.tags["sanity.finding.hidden_softmax"] == "warn"  # and ours still runs


def test_disable_removes_the_wrapper(keras, autolog_module, mlflow_experiment):
    import mlflow

    owner, eval_owner = autolog_module._owner("fit"), autolog_module._owner("evaluate")
    before, eval_before = owner.__dict__["fit"], eval_owner.__dict__["evaluate"]
    autolog_module.autolog()
    assert owner.__dict__["fit"] is autolog_module._fit_wrapper
    assert eval_owner.__dict__["evaluate"] is autolog_module._evaluate_wrapper
    autolog_module.autolog()  # idempotent
    autolog_module.autolog(disable=True)
    assert owner.__dict__["fit"] is before
    assert eval_owner.__dict__["evaluate"] is eval_before
    x, y = _blobs(n=30)
    m = _model(keras, 3, "softmax")
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, verbose=0)
    assert mlflow.search_runs([mlflow_experiment], output_format="list") == []


def test_autolog_validates_ids_and_thresholds_eagerly(autolog_module):
    with pytest.raises(ValueError, match="unknown finding id"):
        autolog_module.autolog(disable_checks=["no_such_check"])
    with pytest.raises(ValueError, match="unknown threshold"):
        autolog_module.autolog(thresholds={"overfitting": {"nope": 1.0}})
    assert not autolog_module._STATE.enabled


def test_thresholds_and_disabled_checks_apply(keras, autolog_module, mlflow_experiment, fast_plots):
    autolog_module.autolog(
        thresholds={"small_eval_set": {"max_ci_width": 0.01}}, disable_checks=["hidden_softmax"]
    )
    try:
        x, y = _blobs(n=90)
        m = _model(keras, 3, "softmax", hidden="softmax")
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        _, _, report = _fit_and_read(m, x, y, validation_split=0.3, epochs=1)
    finally:
        autolog_module.autolog(disable=True)
    assert report.get("hidden_softmax") is None
    assert _severity(report, "small_eval_set") == "warn"


def test_package_exports_are_lazy_and_callable(autolog_module):
    import mlflow_sanity

    assert mlflow_sanity.SanityCallback is autolog_module.SanityCallback
    assert callable(mlflow_sanity.autolog)
    mlflow_sanity.autolog(disable=True)


# -- training fingerprint: what later leakage checks read back --------------------------------


def _fingerprint_files(*data):
    from mlflow_sanity.adapters.keras.fit_facts import fingerprints_of

    fps = fingerprints_of(*data)
    return {name: blob for role, fp in fps.items() for name, blob in fp.to_files(role).items()}


def test_fingerprint_files_round_trip(keras):
    from mlflow_sanity.core.fingerprint import Fingerprint

    rng = np.random.default_rng(0)
    x_train, x_val = rng.normal(size=(50, 3)), rng.normal(size=(20, 3))
    files = _fingerprint_files(x_train, np.arange(50) % 2, x_val, None)
    assert sorted(files) == [
        "fingerprint_train.json",
        "fingerprint_train.npy",
        "fingerprint_validation.json",
        "fingerprint_validation.npy",
    ]
    train = Fingerprint.from_files(files, role="train")
    assert train.match(x_train[:5]).in_train.all()
    assert not train.match(x_val).in_train.any()
    only_train = _fingerprint_files(x_train, None, None, None)
    assert "fingerprint_validation.npy" not in only_train

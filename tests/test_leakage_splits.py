"""Leakage over every split the model saw: a scaler fitted before a train / validation /
test split shows only in the union of the three, which the tool has seen by the time
``model.evaluate`` runs on the test rows. Real (tiny) Keras fits with autolog."""

from __future__ import annotations

import numpy as np
from keras_data import blobs

from mlflow_sanity.core.findings import Severity
from mlflow_sanity.tracking.reports import read_report


def _three_way(seed: int = 4):
    """Raw features far from unit scale, split 60 / 20 / 20 in row order."""
    x, y = blobs(n=600, k=2, d=8, seed=seed)
    x = (x * np.arange(1, 9) + 5).astype("float64")
    cut = [360, 480]
    return np.split(x, cut), np.split(y, cut)


def _model(keras, *front):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), *front, keras.layers.Dense(8, "relu"), keras.layers.Dense(1, "sigmoid")]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def _scaler_verdicts(keras, fitted_on_all: bool):
    """StandardScaler on all rows (or on the training rows) before the split; fit on the
    training rows, then model.evaluate on the validation rows and on the test rows."""
    import mlflow
    from sklearn.preprocessing import StandardScaler

    (x_tr, x_val, x_te), (y_tr, y_val, y_te) = _three_way()
    scaler = StandardScaler().fit(np.concatenate([x_tr, x_val, x_te]) if fitted_on_all else x_tr)
    model = _model(keras)
    model.fit(scaler.transform(x_tr), y_tr, epochs=2, verbose=0)
    model.evaluate(scaler.transform(x_val), y_val, verbose=0)
    model.evaluate(scaler.transform(x_te), y_te, verbose=0)
    report = read_report(mlflow.last_active_run().info.run_id)
    return {c["call"]: c["flagged"] for c in report.state.calls["evaluate"]}, report.get(
        "preprocessing_leakage"
    )


def test_a_scaler_fitted_before_a_three_way_split_is_flagged_at_the_test_evaluate(keras, sanity_on):
    calls, found = _scaler_verdicts(keras, fitted_on_all=True)
    # no two splits reproduce the scaler's statistics; all three do
    assert "preprocessing_leakage" not in calls["model.evaluate #1"]
    assert "preprocessing_leakage" in calls["model.evaluate #2"]
    assert found.severity is Severity.WARN and found.source == "model.evaluate #2"
    assert found.evidence["data"]["splits"] == ["training", "evaluation", "model.evaluate #1"]
    assert "The training, evaluation and model.evaluate #1 rows together" in found.message


def test_a_scaler_fitted_on_the_training_rows_passes_every_evaluate(keras, sanity_on):
    calls, found = _scaler_verdicts(keras, fitted_on_all=False)
    assert not any("preprocessing_leakage" in flagged for flagged in calls.values())
    assert found.severity is Severity.PASSED


def _normalization_verdict(keras, adapted_on_all: bool):
    """A Normalization layer adapted on all rows (or the training rows) before the split;
    fit with validation data, then model.evaluate on the test rows."""
    import mlflow

    (x_tr, x_val, x_te), (y_tr, y_val, y_te) = _three_way(seed=6)
    norm = keras.layers.Normalization()
    norm.adapt(np.concatenate([x_tr, x_val, x_te]) if adapted_on_all else x_tr)
    model = _model(keras, norm)
    model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=2, verbose=0)
    fit_report = read_report(mlflow.last_active_run().info.run_id)
    model.evaluate(x_te, y_te, verbose=0)
    report = read_report(mlflow.last_active_run().info.run_id)
    return fit_report.get("preprocessing_leakage"), report.get("preprocessing_leakage")


def test_a_normalization_layer_adapted_before_a_three_way_split_is_flagged(keras, sanity_on):
    at_fit, at_evaluate = _normalization_verdict(keras, adapted_on_all=True)
    assert not at_fit.severity.flagged  # training + validation rows alone do not match
    assert at_evaluate.severity is Severity.WARN
    assert at_evaluate.source == "model.evaluate #1"
    assert at_evaluate.evidence["model"]["splits"] == ["training", "evaluation", "validation"]
    assert "adapted on training, evaluation and validation rows" in at_evaluate.message


def test_a_normalization_layer_adapted_on_the_training_rows_passes(keras, sanity_on):
    at_fit, at_evaluate = _normalization_verdict(keras, adapted_on_all=False)
    assert at_fit.severity is Severity.PASSED
    assert at_evaluate.severity is Severity.PASSED

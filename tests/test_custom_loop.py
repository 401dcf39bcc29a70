"""Custom training loops: a history whose meaning is unknown is judged on the predictions."""

from __future__ import annotations

import uuid

import numpy as np

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import ModelSpec
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.pipeline import build_report

ZERO_LOSS = {"loss": [0.0] * 5, "val_loss": [0.6, 0.5, 0.4, 0.35, 0.3]}
CUSTOM = ModelSpec(
    output_units=2,
    output_activation="softmax",
    loss="sparse_categorical_crossentropy",
    custom_loop="the model overrides train_step",
)


def _learned(n: int = 200) -> object:
    y = np.arange(n) % 2
    pred = y.copy()
    pred[:10] = 1 - pred[:10]  # 95% right on balanced classes
    return classify(y, pred)


def _stuck(n: int = 200) -> object:
    return classify(np.arange(n) % 2, np.zeros(n, dtype=int))


def test_a_zero_loss_with_learned_predictions_is_a_logged_loss_problem_not_a_dead_model():
    report = build_report(Context(eval=_learned(), model=CUSTOM, history=ZERO_LOSS))
    divergence = report.get("loss_accuracy_divergence")
    assert divergence.severity is Severity.INFO
    assert "nothing was learned" not in divergence.message
    disagreement = report.get("metric_disagreement")
    assert disagreement.severity is Severity.WARN
    assert "overrides train_step" in disagreement.message
    assert "loss tracker" in disagreement.message
    assert report.status != "fail"


def test_a_zero_loss_the_predictions_confirm_still_fails():
    report = build_report(Context(eval=_stuck(), model=CUSTOM, history=ZERO_LOSS))
    assert report.get("loss_accuracy_divergence").severity is Severity.FAIL
    assert report.get("metric_disagreement").severity is Severity.PASSED


def test_without_predictions_a_custom_loop_s_zero_loss_is_worded_as_the_history_and_demoted():
    report = build_report(Context(model=CUSTOM, history=ZERO_LOSS))
    divergence = report.get("loss_accuracy_divergence")
    assert divergence.severity is Severity.WARN
    assert divergence.message.startswith("The logged training loss is 0")
    assert "overrides train_step" in divergence.message
    standard = build_report(Context(model=ModelSpec(output_units=1), history=ZERO_LOSS))
    assert standard.get("loss_accuracy_divergence").severity is Severity.FAIL


def test_a_constant_logged_loss_is_flagged_the_same_way():
    history = {"loss": [0.6931] * 4}
    report = build_report(Context(eval=_learned(), model=CUSTOM, history=history))
    assert "constant at 0.6931 over 4 epochs" in report.get("metric_disagreement").message


# -- a real custom train_step ------------------------------------------------------------------


def _custom_model(keras):
    import tensorflow as tf

    class OwnStep(keras.Model):
        """Returns its loss without updating Keras' loss tracker: history shows loss 0.0."""

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(y, self(x, training=True))
                )
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
            return {"loss": loss}

    keras.utils.set_random_seed(0)
    inp = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="relu")(inp)
    model = OwnStep(inp, keras.layers.Dense(2, activation="softmax")(hidden))
    model.compile(keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def test_a_custom_train_step_that_learns_is_not_failed(keras, tracking_uri, fast_plots):
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.tracking.reports import read_report

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")
    model = _custom_model(keras)
    mlflow.set_experiment(f"custom-loop-{uuid.uuid4().hex[:8]}")
    mlflow_sanity.autolog(silent=True)
    try:
        with mlflow.start_run() as run:
            history = model.fit(
                x[:400], y[:400], validation_data=(x[400:], y[400:]), epochs=8, verbose=0
            )
    finally:
        mlflow_sanity.autolog(disable=True)
    assert history.history["loss"] == [0.0] * 8  # the story: Keras logs 0 ...
    accuracy = float((np.asarray(model(x[400:])).argmax(-1) == y[400:]).mean())
    assert accuracy > 0.9  # ... while the model learns
    report = read_report(run.info.run_id)
    assert report.status != "fail", report.flagged_ids
    assert not any("nothing was learned" in f.message for f in report.findings)
    assert report.get("metric_disagreement").severity is Severity.WARN
    assert report.inputs["model"]["custom_loop"] == "the model overrides train_step"


def test_a_custom_loop_s_flat_logged_loss_does_not_make_the_learning_rate_too_low():
    from dataclasses import replace

    from mlflow_sanity.core.keras_spec import FitSpec, GradientProbe, ProbeSpec

    probes = ProbeSpec(
        gradients=(GradientProbe(4, (("a", 1.0), ("b", 1.0)), 1.0, 0.7),), learning_rate_start=1e-7
    )
    ctx = Context(model=CUSTOM, history={"loss": [0.6931] * 4}, fit=FitSpec(probes=probes))
    rate = build_report(ctx).get("learning_rate")
    assert rate.severity is Severity.INFO and "not judged" in rate.message
    standard = replace(ctx, model=replace(CUSTOM, custom_loop=""), shared={})
    assert "too low" in build_report(standard).get("learning_rate").message

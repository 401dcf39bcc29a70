"""History, metric-recomputation and split checks on synthetic histories and specs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from keras_specs import fit_spec, model_spec, run_one

from mlflow_sanity.checks import Context
from mlflow_sanity.checks.keras_semantics import keras_accuracy
from mlflow_sanity.checks.training.metrics import CauseKind, static_cause, true_accuracy
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import CallbackSpec, FitSpec, LayerSpec, MetricSpec, Predictions
from mlflow_sanity.core.predictions import predicted_classes
from mlflow_sanity.pipeline import build_report

EPOCHS = 30


def _history(train_acc, val_acc, loss, val_loss):
    return {
        "accuracy": list(train_acc),
        "val_accuracy": list(val_acc),
        "loss": list(loss),
        "val_loss": list(val_loss),
    }


def overfit_history():
    e = np.arange(EPOCHS)
    loss = 0.7 * np.exp(-e / 5)
    val_loss = 0.5 + 0.02 * (e - 8) ** 2 / 8  # minimum at epoch 9, then rising
    return _history(np.minimum(0.6 + e / 30, 1.0), np.full(EPOCHS, 0.7), loss, val_loss)


def healthy_history():
    e = np.arange(EPOCHS)
    loss = 0.3 + 0.4 * np.exp(-e / 4)
    return _history(0.9 - 0.3 * np.exp(-e / 4), 0.88 - 0.3 * np.exp(-e / 4), loss, loss + 0.02)


# -- overfitting ----------------------------------------------------------------------------


def test_overfitting_flags_gap_with_rising_validation_loss():
    f = run_one("overfitting", Context(history=overfit_history()))
    assert f.severity is Severity.WARN
    assert f.evidence["best_val_loss_epoch"] == 9 and f.evidence["val_loss_rising"]
    assert f.evidence["gap"] >= 0.1


def test_overfitting_passes_a_healthy_curve():
    f = run_one("overfitting", Context(history=healthy_history()))
    assert f.severity is Severity.PASSED


def test_overfitting_single_signs_are_info():
    h = overfit_history()
    gap_only = {**h, "val_loss": list(np.linspace(0.6, 0.5, EPOCHS))}
    assert run_one("overfitting", Context(history=gap_only)).severity is Severity.INFO
    rising_only = {**h, "val_accuracy": h["accuracy"]}
    assert run_one("overfitting", Context(history=rising_only)).severity is Severity.INFO


def test_overfitting_without_validation_is_info_and_uses_thresholds():
    h = healthy_history()
    f = run_one("overfitting", Context(history={"loss": h["loss"], "accuracy": h["accuracy"]}))
    assert f.severity is Severity.INFO and "validation" in f.message
    strict = run_one("overfitting", Context(history=overfit_history()), max_gap=0.9)
    assert strict.severity is Severity.INFO


def test_overfitting_is_judged_at_the_restored_epoch():
    cb = CallbackSpec("EarlyStopping", "val_loss", True, best_epoch=8, restored=True)
    fit = FitSpec(callbacks=(cb,), epochs_run=EPOCHS)
    f = run_one("overfitting", Context(history=overfit_history(), fit=fit))
    assert f.evidence["judged_epoch"] == 9 and not f.evidence["val_loss_rising"]
    assert f.severity is not Severity.WARN


def test_overfitting_uses_the_loss_ratio_without_accuracy():
    h = overfit_history()
    f = run_one("overfitting", Context(history={"loss": h["loss"], "val_loss": h["val_loss"]}))
    assert f.severity is Severity.WARN and "loss_ratio" in f.evidence


@pytest.mark.parametrize(
    "weights",
    [{"class_weight": {0: 1.0, 1: 500.0}}, {"sample_weight": True}],
    ids=["class_weight", "sample_weight"],
)
def test_overfitting_loss_ratio_stands_down_on_weighted_training_loss(weights):
    # Issue 13: a 1/count weighting shrinks the training loss thousands of times; the
    # validation loss is unweighted, so their ratio says nothing about overfitting.
    e = np.arange(EPOCHS)
    loss = 0.4 * np.exp(-e / 5) / 1000
    h = {"loss": list(loss), "val_loss": list(0.3 * np.exp(-e / 5) + 0.05)}
    plain = run_one("overfitting", Context(history=h))
    assert plain.severity is Severity.INFO and plain.evidence["loss_ratio"] > 100
    f = run_one("overfitting", Context(history=h, fit=FitSpec(epochs_run=EPOCHS, **weights)))
    assert f.severity is Severity.INFO
    assert f.evidence["losses_comparable"] is False and f.evidence["loss_ratio"] is None
    assert next(iter(weights)) in f.message and "not compared" in f.message
    # With an accuracy metric the (unweighted) accuracy gap is still judged.
    overfit = Context(history=overfit_history(), fit=FitSpec(epochs_run=EPOCHS, **weights))
    assert run_one("overfitting", overfit).severity is Severity.WARN


def test_overfitting_weighted_loss_still_reports_a_rising_validation_loss():
    h = overfit_history()
    h = {"loss": h["loss"], "val_loss": h["val_loss"]}
    f = run_one("overfitting", Context(history=h, fit=FitSpec(class_weight={0: 1.0, 1: 9.0})))
    assert f.severity is Severity.INFO and f.evidence["val_loss_rising"]
    assert "rose" in f.message and "class_weight" in f.message


# -- loss_accuracy_divergence ----------------------------------------------------------------


def test_divergence_fails_on_zero_loss():
    h = {"loss": [0.0] * 5, "accuracy": [0.5, 0.49, 0.5, 0.5, 0.5]}
    f = run_one("loss_accuracy_divergence", Context(history=h))
    assert f.severity is Severity.FAIL and "0 at every" in f.message


def test_divergence_flags_validation_accuracy_stuck_at_a_class_share():
    h = healthy_history()
    h["val_accuracy"] = [2 / 3] * EPOCHS
    y_train, y_val = np.repeat([0, 1], [50, 50]), np.repeat([0, 1], [20, 40])
    fit = fit_spec(y_train, y_val, units=1)
    f = run_one("loss_accuracy_divergence", Context(history=h, fit=fit))
    assert f.severity is Severity.WARN
    assert "collapse during training" in f.message and "class 1" in f.message


def test_divergence_flags_accuracy_stuck_at_zero():
    h = healthy_history()
    h["val_accuracy"] = [0.0] * EPOCHS
    f = run_one("loss_accuracy_divergence", Context(history=h))
    assert f.severity is Severity.WARN and "is 0 at every epoch" in f.message


def test_divergence_passes_healthy_and_saturated_curves():
    assert (
        run_one("loss_accuracy_divergence", Context(history=healthy_history())).severity
        is Severity.PASSED
    )
    # Converged in epoch 1 at 97%, loss still creeping down: a finished model, not a bug.
    h = healthy_history()
    h["accuracy"] = [0.97, 0.971, 0.972, 0.97, 0.973] * 6
    h["val_accuracy"] = [0.96] * EPOCHS
    fit = fit_spec(np.repeat([0, 1], 50), np.repeat([0, 1], 30), units=1)
    f = run_one("loss_accuracy_divergence", Context(history=h, fit=fit))
    assert f.severity is Severity.PASSED


def test_divergence_without_class_shares_is_only_info():
    h = healthy_history()
    h["val_accuracy"] = [0.55] * EPOCHS
    h["val_loss"] = list(np.linspace(1.0, 0.5, EPOCHS))
    f = run_one("loss_accuracy_divergence", Context(history=h))
    assert f.severity is Severity.INFO


# -- metric_disagreement ------------------------------------------------------------------


def _preds(y, out, sw=None):
    return Predictions(np.asarray(y), np.asarray(out, dtype=float), sw)


def test_decisions_and_true_accuracy():
    logit_rows = np.array([[-1.0], [0.2]])
    assert predicted_classes(logit_rows, "linear", from_logits=True).tolist() == [0, 1]
    assert predicted_classes(np.array([[0.4], [0.6]]), "sigmoid").tolist() == [0, 1]
    assert predicted_classes(np.array([[0.1, 0.9], [0.8, 0.2]]), "softmax").tolist() == [1, 0]
    p = _preds([0, 1, 1, 0], [[-1.0], [0.2], [0.7], [0.3]])
    logits = model_spec(1, "linear", "binary_crossentropy", from_logits=True)
    assert true_accuracy(p, logits) == 0.75
    sigmoid = model_spec(1, "sigmoid", "binary_crossentropy")
    assert true_accuracy(_preds([0.3, 1.2], [[0.1], [0.2]]), sigmoid) is None


def test_true_accuracy_reads_outputs_like_the_validation_metrics():
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.core.predictions import outputs_to_proba

    # A linear output is scores: cut at logit 0 even when the loss says from_logits=False
    # (loss_output_mismatch flags that pairing), exactly as the report's validation metrics.
    spec = model_spec(1, "linear", "binary_crossentropy")
    p = _preds([0, 1, 1], [[-0.2], [0.3], [0.7]])
    proba = outputs_to_proba(p.outputs, spec.output_activation, from_logits=spec.outputs_logits)
    assert true_accuracy(p, spec) == classify(p.y_true, proba=proba).metrics["accuracy"] == 1.0
    diverged = _preds([0, 1], [[np.nan], [0.3]])
    assert true_accuracy(diverged, spec) is None  # not scores: nothing to recompute


def test_keras_accuracy_emulates_the_variants():
    y, out = np.array([0, 1, 1, 1]), np.array([[-1.0], [0.2], [0.7], [0.3]])
    binary = MetricSpec("accuracy", "accuracy", "binary_accuracy")
    assert keras_accuracy(binary, _preds(y, out)) == 0.5  # 0.2 and 0.3 are not > 0.5
    onehot = np.eye(3)[[0, 1, 2, 2]]
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]])
    categorical = MetricSpec("accuracy", "accuracy", "categorical_accuracy")
    assert keras_accuracy(categorical, _preds(onehot, scores)) == 0.75
    elementwise = MetricSpec("binary_accuracy", "binary_accuracy", "binary_accuracy")
    assert keras_accuracy(elementwise, _preds(onehot, scores)) == pytest.approx(10 / 12)
    sparse = MetricSpec("acc", "acc", "sparse_categorical_accuracy", weighted=True)
    assert keras_accuracy(sparse, _preds([0, 1, 2, 2], scores, np.array([1, 1, 1, 3]))) == 0.5
    assert keras_accuracy(categorical, _preds(y, out[:, 0])) is None


def test_metric_disagreement_fails_on_thresholded_logits_with_predictions():
    spec = model_spec(1, "linear", "binary_crossentropy", from_logits=True)
    y = np.array([0, 1, 1, 1, 0, 1, 0, 1])
    out = np.array([[-2.0], [0.1], [0.2], [0.3], [-1.0], [2.0], [-0.5], [1.5]])
    fit = FitSpec(validation_outputs=_preds(y, out), epochs_run=2)
    h = {"loss": [0.6, 0.5], "val_accuracy": [0.5, 0.625], "accuracy": [0.5, 0.6]}
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.FAIL
    m = f.evidence["metrics"]["accuracy"]
    assert m["sklearn_validation"] == 1.0 and m["keras_emulated"] == 0.625
    assert "thresholds logits" in f.message


def test_thresholded_logits_without_data_are_left_to_logits_thresholded():
    spec = model_spec(1, "linear", "binary_crossentropy", from_logits=True)
    cause = static_cause(spec.metrics[0], spec, None)
    assert cause.kind is CauseKind.LOGITS_THRESHOLDED and not cause.shown_without_recomputation
    ctx = Context(model=spec, history={"loss": [0.5], "val_accuracy": [0.6]})
    f = run_one("metric_disagreement", ctx)
    assert f.severity is Severity.PASSED  # no predictions: logits_thresholded reports it
    assert "thresholds logits" in f.evidence["metrics"]["accuracy"]["cause"]
    assert run_one("logits_thresholded", ctx).severity is Severity.WARN


def test_a_cause_is_told_by_its_kind_not_by_its_wording():
    # The metric's name appears in the cause text; it must not silence a failing cause.
    name = "logits_thresholded_acc"
    metric = MetricSpec(name, name, "sparse_categorical_accuracy")
    spec = model_spec(1, "sigmoid", "binary_crossentropy", metrics=[metric])
    cause = static_cause(metric, spec, None)
    assert cause.kind is CauseKind.ONE_UNIT_ARGMAX and "logits_thresholded" in cause.text
    f = run_one("metric_disagreement", Context(model=spec, history={"loss": [0.5]}))
    assert f.severity is Severity.FAIL and "argmax is always 0" in f.message


def test_metric_disagreement_passes_when_keras_and_sklearn_agree():
    spec = model_spec(1, "sigmoid", "binary_crossentropy")
    y = np.array([0, 1, 1, 0])
    fit = FitSpec(validation_outputs=_preds(y, [[0.2], [0.7], [0.4], [0.1]]), epochs_run=1)
    h = {"loss": [0.5], "val_accuracy": [0.75], "accuracy": [0.7]}
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.PASSED and "matches" in f.message


def test_metric_disagreement_flags_rank1_output_without_data():
    spec = model_spec(1, "sigmoid", "binary_crossentropy", rank=1)
    f = run_one("metric_disagreement", Context(model=spec, history={"loss": [0.5]}))
    assert f.severity is Severity.FAIL and "rank-1" in f.message


def test_metric_disagreement_flags_binary_accuracy_on_softmax():
    metrics = [MetricSpec("binary_accuracy", "binary_accuracy", "binary_accuracy")]
    spec = model_spec(10, "softmax", "categorical_crossentropy", metrics=metrics)
    f = run_one("metric_disagreement", Context(model=spec))
    assert f.severity is Severity.FAIL and "90%" in f.message


def test_metric_disagreement_names_weighted_metrics_under_the_plain_name():
    metrics = [MetricSpec("accuracy", "accuracy", "binary_accuracy", weighted=True)]
    spec = model_spec(1, "sigmoid", "binary_crossentropy", metrics=metrics)
    fit = FitSpec(class_weight={0: 1.0, 1: 5.0}, epochs_run=1)
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history={"loss": [0.5]}))
    assert f.severity is Severity.WARN and "weighted_metrics" in f.message
    # Validation sample weights: Keras' number is the weighted accuracy.
    y = np.array([0, 1, 1, 0])
    preds = _preds(y, [[0.2], [0.7], [0.4], [0.1]], np.array([1.0, 1.0, 6.0, 1.0]))
    fit = FitSpec(validation_outputs=preds, epochs_run=1)
    h = {"loss": [0.5], "val_accuracy": [float(keras_accuracy(metrics[0], preds))]}
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.WARN and "validation sample weights" in f.message


def test_metric_disagreement_unexplained_gap_is_a_warning():
    spec = model_spec(1, "sigmoid", "binary_crossentropy")
    fit = FitSpec(validation_outputs=_preds([0, 1], [[0.2], [0.7]]), epochs_run=1)
    h = {"loss": [0.5], "val_accuracy": [0.5]}
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.WARN and "no configuration explains" in f.message


def test_metric_disagreement_notes_restored_weights_and_dropout_running_means():
    spec = model_spec(1, "sigmoid", "binary_crossentropy")
    spec = replace(spec, layers=(LayerSpec("drop", "Dropout"), *spec.layers))
    cb = CallbackSpec("EarlyStopping", "val_loss", True, best_epoch=1, restored=True)
    y = np.array([0, 1, 1, 0])
    out = [[0.2], [0.7], [0.6], [0.1]]
    fit = FitSpec(
        callbacks=(cb,),
        epochs_run=4,
        validation_outputs=_preds(y, out),
        train_outputs=_preds(y, out),
    )
    h = {
        "loss": [0.6, 0.5, 0.45, 0.4],
        "accuracy": [0.5, 0.6, 0.7, 0.7],
        "val_accuracy": [0.5, 1.0, 0.75, 0.75],
        "val_loss": [0.6, 0.4, 0.5, 0.6],
    }
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.INFO
    assert "restored the weights of epoch 2 of 4" in f.message
    assert "running mean" in f.message and "drop" in f.message
    assert f.evidence["metrics"]["accuracy"]["keras_validation"] == 1.0


def test_metric_disagreement_says_when_data_was_not_read():
    spec = model_spec(1, "sigmoid", "binary_crossentropy")
    fit = FitSpec(validation="validation_data", data_readable=False, data_note="tf.data")
    h = {"loss": [0.5], "val_accuracy": [0.7]}
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.INFO and "not recomputed" in f.message


# -- label_shift ------------------------------------------------------------------------------


def _shift(y_train, y_val, **kwargs):
    fit = fit_spec(np.asarray(y_train), np.asarray(y_val), units=3, **kwargs)
    return run_one("label_shift", Context(fit=fit))


def test_label_shift_fails_on_a_split_of_label_sorted_data():
    y = np.repeat([0, 1, 2], 40)
    f = _shift(y[:96], y[96:], y_all=y, validation="validation_split", validation_split=0.2)
    assert f.severity is Severity.FAIL
    assert "no rows of class(es) 0, 1" in f.message and "ordered by label" in f.message


def test_label_shift_warns_on_a_significant_large_shift():
    rng = np.random.default_rng(0)
    f = _shift(rng.choice(3, 2000, p=[0.6, 0.3, 0.1]), rng.choice(3, 500, p=[0.4, 0.3, 0.3]))
    assert f.severity is Severity.WARN and f.evidence["p_value"] < 0.01


def test_label_shift_passes_stratified_and_trivial_differences():
    rng = np.random.default_rng(1)
    assert _shift(np.repeat([0, 1, 2], 100), np.repeat([0, 1, 2], 25)).severity is Severity.PASSED
    big = _shift(rng.choice(3, 20000, p=[0.5, 0.3, 0.2]), rng.choice(3, 20000, p=[0.48, 0.32, 0.2]))
    assert big.severity is Severity.PASSED  # significant, but too small to matter


def test_label_shift_info_without_validation_or_readable_data():
    f = run_one("label_shift", Context(fit=fit_spec(np.repeat([0, 1], 5))))
    assert f.severity is Severity.INFO and "No validation" in f.message
    f = run_one(
        "label_shift", Context(fit=FitSpec(data_readable=False, data_note="x is a tf.data"))
    )
    assert f.severity is Severity.INFO and "tf.data" in f.message
    assert (
        run_one("label_shift", Context(fit=fit_spec(np.array([0.2, 1.5]), validation="x"))) is None
    )


def test_divergence_is_info_when_final_predictions_are_spread():
    from mlflow_sanity.core.metrics import classify

    h = healthy_history()
    h["val_accuracy"] = [0.9] * EPOCHS
    fit = fit_spec(np.repeat([0, 1], [90, 10]), np.repeat([0, 1], [90, 10]), units=1)
    y = np.repeat([0, 1], [90, 10])
    pred = np.concatenate([np.repeat([0, 1], [85, 5]), np.repeat([1, 0], [5, 5])])
    spread = classify(y, pred)  # 90% accurate, but 10% of predictions are class 1
    f = run_one("loss_accuracy_divergence", Context(history=h, fit=fit, eval=spread))
    assert f.severity is Severity.INFO and "spread over the classes" in f.message
    collapsed = classify(y, np.zeros(100, dtype=int))
    f = run_one("loss_accuracy_divergence", Context(history=h, fit=fit, eval=collapsed))
    assert f.severity is Severity.WARN


def test_validation_freq_and_validation_steps_are_respected():
    spec = model_spec(1, "sigmoid", "binary_crossentropy")
    y = np.array([0, 1, 1, 0])
    preds = _preds(y, [[0.2], [0.7], [0.4], [0.1]])
    h = {"loss": [0.6, 0.5, 0.4, 0.3], "val_loss": [0.5, 0.4], "val_accuracy": [0.5, 0.75]}
    fit = FitSpec(validation_outputs=preds, epochs_run=4, validation_freq=2)
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.PASSED
    assert f.evidence["metrics"]["accuracy"]["keras_validation"] == 0.75
    f = run_one("overfitting", Context(history=h, fit=fit))
    assert f.severity is Severity.INFO and "validation_freq" in f.message
    h = {"loss": [0.5], "val_accuracy": [0.5]}
    fit = FitSpec(validation_outputs=preds, epochs_run=1, validation_steps=1)
    f = run_one("metric_disagreement", Context(model=spec, fit=fit, history=h))
    assert f.severity is Severity.INFO and "validation_steps=1" in f.message


def test_binary_accuracy_on_a_multi_label_output_is_fine():
    metrics = [MetricSpec("binary_accuracy", "binary_accuracy", "binary_accuracy")]
    spec = model_spec(4, "sigmoid", "binary_crossentropy", metrics=metrics, labels_rank=2)
    fit = fit_spec(np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0]]))
    f = run_one("metric_disagreement", Context(model=spec, fit=fit))
    assert f.severity is Severity.PASSED


def test_a_late_plateau_at_a_class_share_is_a_collapse_whatever_the_first_epochs_did():
    """Training accuracy 0.5385 (the share of class 0) for 143 of 150 epochs."""
    from mlflow_sanity.core.keras_spec import summarize_labels

    y = np.array([0] * 7 + [1] * 6)  # 7/13 = 0.5385
    acc = [0.46, 0.69, 0.38, 0.62, 0.54, 0.77, 0.46] + [7 / 13] * 143
    loss = list(np.linspace(0.9, 0.6, 150))
    fit = FitSpec(labels=summarize_labels(y, None, 1))
    ctx = Context(history={"loss": loss, "accuracy": acc}, fit=fit)
    found = build_report(ctx).get("loss_accuracy_divergence")
    assert found.severity is Severity.WARN
    assert "last 143 of 150 epochs" in found.message and "share of class 0" in found.message
    healthy = {"loss": loss, "accuracy": list(np.linspace(0.5, 0.9, 150))}
    assert (
        build_report(Context(history=healthy, fit=fit)).get("loss_accuracy_divergence").severity
        is Severity.PASSED
    )

"""Model-configuration checks on hand-written specs: no Keras, no MLflow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from keras_specs import fit_spec, model_spec, run_one

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    FitSpec,
    LayerSpec,
    MetricSpec,
    Predictions,
    canonical_name,
    class_weight_keys,
    label_encoding,
    label_indices,
    summarize_labels,
)

Y3 = np.repeat([0, 1, 2], 30)
Y2 = np.repeat([0, 1], 40)


def test_importing_the_package_does_not_import_tensorflow():
    code = (
        "import sys, mlflow_sanity, mlflow_sanity.checks, mlflow_sanity.core.keras_spec; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- keras_spec helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("BinaryCrossentropy", "binary_crossentropy"),
        ("mse", "mean_squared_error"),
        ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
        ("categorical_crossentropy", "categorical_crossentropy"),
        ("AUC", "auc"),
        ("acc", "accuracy"),
        (None, None),
    ],
)
def test_canonical_name(name, canonical):
    assert canonical_name(name) == canonical


@pytest.mark.parametrize(
    ("y", "encoding"),
    [
        (np.array([0, 1, 1, 0]), "binary"),
        (np.array([[0.0], [1.0]]), "binary"),
        (np.array([0, 2, 1]), "sparse"),
        (np.eye(3)[[0, 1, 2, 1]], "one_hot"),
        (np.array([[1, 1, 0], [0, 1, 0]]), "multi_hot"),
        (np.array([0.2, 1.7]), "continuous"),
        (np.array(["a", "b"]), "other"),
        (np.array([True, False]), "binary"),
    ],
)
def test_label_encoding(y, encoding):
    assert label_encoding(y) == encoding


def test_label_indices_and_summary():
    onehot = np.eye(3)[Y3]
    assert (label_indices(onehot) == Y3).all()
    assert label_indices(np.array([0.5, 1.5])) is None
    s = summarize_labels(Y3[:60], Y3[60:], output_units=3, y_all=Y3)
    assert s.encoding == "sparse" and s.n_classes == 3 and s.ordered
    assert s.train_counts == {"0": 30, "1": 30} and s.val_counts == {"2": 30}
    shuffled = np.random.default_rng(0).permutation(Y3)
    assert not summarize_labels(shuffled, y_all=shuffled).ordered
    assert summarize_labels(np.array([0.3, 0.9])).encoding == "continuous"
    assert summarize_labels(Y2, output_units=4).encoding == "sparse"


def test_class_weight_keys_separate_what_keras_ignores():
    unusable, usable = class_weight_keys({"0": 1.0, 1: 2.0, 2.0: 1.0, np.int64(3): 1.0, 0.5: 1})
    assert unusable == ["0", 0.5]
    assert usable == [1, 2, 3]


def test_fit_spec_weights_epoch_and_dict():
    from mlflow_sanity.core.keras_spec import CallbackSpec

    cb = CallbackSpec(
        "EarlyStopping", "val_loss", True, best_epoch=3, stopped_epoch=8, restored=True
    )
    fit = FitSpec(callbacks=(cb,), epochs_run=9, class_weight={"1": 2.0})
    assert fit.weights_epoch == 3 and fit.restored_epoch == 3 and fit.monitors == ["val_loss"]
    data = fit.to_dict()
    assert data["class_weight"] == {"'1'": 2.0} and data["weights_epoch"] == 3
    assert FitSpec(epochs_run=5).weights_epoch == 4


# -- loss_output_mismatch -----------------------------------------------------------------


def _lom(spec, fit=None):
    return run_one("loss_output_mismatch", Context(model=spec, fit=fit))


@pytest.mark.parametrize(
    ("spec", "y"),
    [
        (model_spec(3, "softmax", "sparse_categorical_crossentropy"), Y3),
        (model_spec(3, "softmax", "categorical_crossentropy", labels_rank=2), np.eye(3)[Y3]),
        (model_spec(1, "sigmoid", "binary_crossentropy"), Y2),
        (model_spec(1, "linear", "binary_crossentropy", from_logits=True), Y2),
        (model_spec(3, "linear", "sparse_categorical_crossentropy", from_logits=True), Y3),
        (model_spec(2, "softmax", "sparse_categorical_crossentropy"), Y2),
        (
            model_spec(3, "sigmoid", "binary_crossentropy", labels_rank=2),
            np.eye(3)[Y3][:, [0, 1, 1]],
        ),
    ],
)
def test_loss_output_mismatch_passes_matching_configurations(spec, y):
    f = _lom(spec, fit_spec(y, units=spec.output_units))
    assert f.severity is Severity.PASSED, f.message


@pytest.mark.parametrize(
    ("spec", "y", "severity", "words"),
    [
        (
            model_spec(3, "softmax", "mean_squared_error", labels_rank=2),
            np.eye(3)[Y3],
            "warn",
            "mean_squared_error",
        ),
        (model_spec(1, "sigmoid", "categorical_crossentropy"), Y2, "fail", "exactly 0"),
        (model_spec(1, "softmax", "binary_crossentropy"), Y2, "fail", "always outputs 1.0"),
        (
            model_spec(1, "sigmoid", "sparse_categorical_crossentropy"),
            Y2,
            "fail",
            "one output unit per class",
        ),
        (model_spec(1, "sigmoid", "binary_crossentropy"), Y3, "fail", "3 classes"),
        (
            model_spec(3, "softmax", "binary_crossentropy", labels_rank=2),
            np.eye(3)[Y3],
            "warn",
            "one-hot",
        ),
        (model_spec(1, "linear", "binary_crossentropy"), Y2, "warn", "from_logits=False"),
        (
            model_spec(3, "softmax", "sparse_categorical_crossentropy", from_logits=True),
            Y3,
            "warn",
            "twice",
        ),
        (model_spec(4, "softmax", "sparse_categorical_crossentropy"), Y3 + 1, "warn", "1-based"),
        (model_spec(1, "linear", "mean_squared_error"), Y2, "warn", "regression"),
    ],
)
def test_loss_output_mismatch_flags(spec, y, severity, words):
    f = _lom(spec, fit_spec(y, units=spec.output_units))
    assert f.severity.value == severity
    assert words in f.message
    assert f.remedy


def test_loss_output_mismatch_without_labels_still_judges_the_model():
    assert _lom(model_spec(1, "sigmoid", "categorical_crossentropy")).severity is Severity.FAIL
    assert _lom(model_spec(3, "softmax", "mse")).severity is Severity.WARN


def test_loss_output_mismatch_skips_regression_and_multi_output():
    regression = model_spec(1, "linear", "mean_squared_error", metrics=[])
    assert _lom(regression, fit_spec(np.array([0.3, 1.7, 2.2]))) is None
    from dataclasses import replace

    assert _lom(replace(model_spec(), n_outputs=2)) is None


# -- hidden_softmax -----------------------------------------------------------------------


def test_hidden_softmax_flags_softmax_before_the_output():
    f = run_one("hidden_softmax", Context(model=model_spec(hidden=("relu", "softmax"))))
    assert f.severity is Severity.WARN and "hidden_1" in f.message
    layer = LayerSpec("sm", "Softmax")
    spec = model_spec(hidden=(), extra_layers=())
    spec = spec.__class__(**{**spec.__dict__, "layers": (layer, *spec.layers)})
    assert run_one("hidden_softmax", Context(model=spec)).severity is Severity.WARN


def test_hidden_softmax_passes_output_softmax_layers():
    assert run_one("hidden_softmax", Context(model=model_spec())).severity is Severity.PASSED
    # Dense(linear) followed by an Activation('softmax') output layer and a Reshape.
    spec = model_spec(
        3,
        "linear",
        extra_layers=(LayerSpec("act", "Activation", "softmax"), LayerSpec("r", "Reshape")),
    )
    spec = spec.__class__(
        **{**spec.__dict__, "output_layer": "act", "output_activation": "softmax"}
    )
    assert run_one("hidden_softmax", Context(model=spec)).severity is Severity.PASSED


def test_a_sibling_softmax_output_is_not_a_hidden_layer_of_another_head():
    """A multi-output model: the regression head's spec lists the classifier's softmax
    output before its own output layer; it is a sibling output, not a hidden layer."""
    from dataclasses import replace

    spec = model_spec(1, "linear", hidden=("relu",))
    head = LayerSpec("species", "Dense", "softmax", 3)
    spec = replace(spec, layers=(spec.layers[0], head, *spec.layers[1:]))
    assert run_one("hidden_softmax", Context(model=spec)).severity is Severity.WARN
    sibling = replace(spec, sibling_outputs=("species",))
    assert run_one("hidden_softmax", Context(model=sibling)).severity is Severity.PASSED


# -- logits_thresholded -------------------------------------------------------------------


def test_logits_thresholded_flags_binary_accuracy_on_logits():
    spec = model_spec(1, "linear", "binary_crossentropy", from_logits=True)
    logits = np.array([-2.0, 0.2, 0.3, 0.4, 1.0, 3.0])
    preds = Predictions(np.array([0, 1, 1, 1, 1, 1]), logits[:, None])
    f = run_one("logits_thresholded", Context(model=spec, fit=FitSpec(validation_outputs=preds)))
    assert f.severity is Severity.WARN
    assert "0.622" in f.message
    assert f.evidence["validation_rows_between_0_and_threshold"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "spec",
    [
        model_spec(
            1,
            "linear",
            "binary_crossentropy",
            from_logits=True,
            metrics=[
                MetricSpec("binary_accuracy", "BinaryAccuracy", "binary_accuracy", threshold=0.0)
            ],
        ),
        model_spec(1, "sigmoid", "binary_crossentropy"),
        model_spec(3, "linear", "sparse_categorical_crossentropy", from_logits=True),
        model_spec(
            1,
            "linear",
            "binary_crossentropy",
            from_logits=True,
            metrics=[MetricSpec("auc", "AUC", "auc", from_logits=True)],
        ),
    ],
)
def test_logits_thresholded_passes_correct_thresholds(spec):
    f = run_one("logits_thresholded", Context(model=spec))
    assert f is None or f.severity is Severity.PASSED


def test_logits_thresholded_covers_precision_and_auc():
    spec = model_spec(
        1,
        "linear",
        "binary_crossentropy",
        from_logits=True,
        metrics=[
            MetricSpec("precision", "Precision", "precision", threshold=0.5),
            MetricSpec("auc", "AUC", "auc"),
        ],
    )
    f = run_one("logits_thresholded", Context(model=spec))
    assert f.severity is Severity.WARN and "precision" in f.message and "auc" in f.message


# -- class_weight_ignored -----------------------------------------------------------------


def _cw(weights, y=Y2):
    return run_one("class_weight_ignored", Context(fit=fit_spec(y, class_weight=weights)))


def test_class_weight_ignored_flags_string_keys():
    f = _cw({"0": 1.0, "1": 5.0})
    assert f.severity is Severity.WARN and "unweighted" in f.message
    assert f.evidence["ignored_keys"] == ["'0'", "'1'"]


def test_class_weight_ignored_flags_keys_matching_no_label():
    f = _cw({1: 5.0, 2: 1.0}, Y2 + 1)  # labels 1 and 2
    assert f.severity is Severity.PASSED
    f = _cw({2: 5.0, 3: 1.0})
    assert f.severity is Severity.WARN and "match no training label" in f.message


def test_class_weight_ignored_info_for_uniform_weights_and_pass_for_good_ones():
    assert _cw({0: 2.0, 1: 2.0}).severity is Severity.INFO
    assert _cw({0: 1.0, 1: 4.0}).severity is Severity.PASSED
    assert _cw(None) is None
    # Without readable labels only the key types can be judged.
    f = run_one("class_weight_ignored", Context(fit=FitSpec(class_weight={0: 1.0, 1: 3.0})))
    assert f.severity is Severity.PASSED

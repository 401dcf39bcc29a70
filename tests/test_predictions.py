"""One reading of model outputs: the rule table of ``core.predictions`` and its callers.

The evaluator, the Keras adapter, the seed worker and the cause experiments must turn the
same output into the same verdict (all through ``core/outputs.py``); before that module
existed they disagreed on 1-D logits and integer tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_sanity.core.metrics import InputError, classify
from mlflow_sanity.core.outputs import OutputFacts, classify_outputs, score_classes
from mlflow_sanity.core.predictions import (
    class_order_for_indices,
    interpret_outputs,
    outputs_to_proba,
)

RNG = np.random.default_rng(7)
Y2 = np.array([0, 1] * 20)
Y3 = np.array([0, 1, 2] * 14)
P1 = np.clip(np.where(Y2 == 1, 0.7, 0.3) + RNG.normal(0, 0.1, Y2.size), 0.01, 0.99)
P1[:4] = 1 - P1[:4]  # some mistakes
LOGIT1 = np.log(P1 / (1 - P1))
P3 = np.full((Y3.size, 3), 0.1)
P3[np.arange(Y3.size), Y3] = 0.8
P3[:5] = P3[:5, ::-1]
LOGIT3 = np.log(P3) + 2.0


class _Activation:
    def __init__(self, name: str) -> None:
        self.__name__ = name


class _Layer:
    def __init__(self, activation: str | None) -> None:
        self.activation = _Activation(activation) if activation else None


class FakeModel:
    """Answers ``predict`` like a Keras model (``verbose=``) and names its activation."""

    def __init__(self, outputs: np.ndarray, activation: str | None = None) -> None:
        self.outputs = outputs
        self.layers = [_Layer(activation)]

    def predict(self, x, verbose=0):
        return self.outputs


class FakePyfunc:
    """An MLflow pyfunc wrapper that cannot unwrap its model (a custom flavour)."""

    def __init__(self, outputs) -> None:
        self.outputs = outputs

    def predict(self, features):
        return self.outputs

    def get_raw_model(self):
        raise NotImplementedError


# kind, outputs, labels, expected reading, activation known to Keras (None: not a Keras output)
KINDS = [
    ("1-D labels", Y2 ^ (np.arange(Y2.size) < 4), Y2, "labels", None),
    ("1-D whole-number floats", (Y2 ^ (np.arange(Y2.size) < 4)).astype(float), Y2, "labels", None),
    ("1-D probabilities", P1, Y2, "probability of the positive class", "sigmoid"),
    ("1-D logits", LOGIT1, Y2, "logit of the positive class", "linear"),
    ("(n,1) probabilities", P1[:, None], Y2, "probability of the positive class", "sigmoid"),
    ("(n,1) logits", LOGIT1[:, None], Y2, "logit of the positive class", "linear"),
    ("(n,k) probabilities", P3, Y3, "probabilities", "softmax"),
    ("(n,k) logits", LOGIT3, Y3, "logits (softmax applied)", "linear"),
    ("(n,k) one-hot integers", np.eye(3, dtype=int)[P3.argmax(1)], Y3, "one-hot rows", None),
]


def _via_core(outputs, y):
    read = interpret_outputs(outputs)
    return classify(y, read.labels, read.proba, labels=read.classes).metrics


def _via_evaluator(outputs, y):
    from mlflow_sanity.adapters.evaluator import model_outputs

    features = pd.DataFrame({"f": np.zeros(len(y))})
    return classify_outputs(y, *model_outputs(FakePyfunc(outputs), features)).metrics


def _via_seed_worker(outputs, y, activation=None):
    from mlflow_sanity.adapters.seeds.worker import evaluate_model

    return evaluate_model(FakeModel(outputs, activation), np.zeros((len(y), 1)), y)


def _via_keras_adapter(outputs, y, activation):
    pytest.importorskip("keras")
    from mlflow_sanity.adapters.keras.heads import classification_of
    from mlflow_sanity.core.keras_spec import FitSpec, ModelSpec, Predictions, summarize_labels

    units = 1 if np.asarray(outputs).ndim == 1 else np.asarray(outputs).shape[1]
    spec = ModelSpec(output_units=units, output_activation=activation, output_rank=2)
    fit = FitSpec(labels=summarize_labels(y, None, units))
    return classification_of(spec, Predictions(y, np.asarray(outputs)), fit.labels).metrics


def _via_experiments(outputs, y, activation):
    """A cause experiment's held-out score of a copy (``proof_arms``): balanced accuracy."""
    pytest.importorskip("keras")
    from mlflow_sanity.adapters.keras.proof_arms import _scored
    from mlflow_sanity.core.keras_spec import ModelSpec

    spec = ModelSpec(output_activation=activation, output_rank=2)
    return {"balanced_accuracy": _scored(spec, np.asarray(outputs), y, 0.0).balanced_accuracy}


@pytest.mark.parametrize(("kind", "outputs", "y", "reading", "activation"), KINDS)
def test_every_output_kind_reads_the_same_through_every_caller(
    kind, outputs, y, reading, activation
):
    assert interpret_outputs(outputs).reading == reading
    expected = _via_core(outputs, y)
    results = {
        "evaluator": _via_evaluator(outputs, y),
        "seed worker (activation unknown)": _via_seed_worker(outputs, y),
    }
    if activation is not None:
        results["seed worker (Keras activation)"] = _via_seed_worker(outputs, y, activation)
        results["Keras adapter"] = _via_keras_adapter(outputs, y, activation)
        results["cause experiments"] = _via_experiments(outputs, y, activation)
    for caller, metrics in results.items():
        for name in ("accuracy", "balanced_accuracy", "roc_auc"):
            if caller == "cause experiments" and name != "balanced_accuracy":
                continue  # an arm is scored by its balanced accuracy alone
            assert (name in metrics) == (name in expected), (kind, caller, name)
            if name in expected:
                assert metrics[name] == pytest.approx(expected[name]), (kind, caller, name)


def test_known_activation_wins_over_what_values_look_like():
    saturated = np.array([0.0, 1.0, 1.0, 0.0])  # a saturated sigmoid looks like labels
    assert interpret_outputs(saturated).reading == "labels"
    read = interpret_outputs(saturated, activation="sigmoid")
    assert read.labels is None and read.proba.tolist() == saturated.tolist()
    small_logits = np.array([0.2, 0.9, 0.4])  # logits inside [0, 1] look like probabilities
    read = interpret_outputs(small_logits, activation="linear")
    assert read.proba == pytest.approx(1 / (1 + np.exp(-small_logits)))
    read = interpret_outputs(small_logits[:, None] * [1, -1], from_logits=True)
    assert read.proba.sum(axis=1) == pytest.approx(1.0)


def test_logit_scores_are_not_mistaken_for_unknown_labels():
    """Regression: 1-D logits used to be read as labels ("unknown prediction -1.3...")."""
    metrics = _via_evaluator(LOGIT1, Y2)
    assert metrics["roc_auc"] == pytest.approx(_via_core(P1, Y2)["roc_auc"])


def test_data_frames_name_the_class_order():
    frame = pd.DataFrame(P3, columns=["cat", "dog", "eel"])
    read = interpret_outputs(frame)
    assert read.classes == ["cat", "dog", "eel"] and read.proba.shape == (Y3.size, 3)
    read = interpret_outputs(pd.DataFrame({"pred": Y2, "other": 0.5}), column="pred")
    assert read.reading == "labels"


def test_bad_outputs_are_clear_errors():
    with pytest.raises(InputError, match="not one-hot"):
        interpret_outputs(np.array([[1, 2], [0, 3]]))
    with pytest.raises(InputError, match="NaN or inf"):
        interpret_outputs(np.array([0.2, np.nan]))
    with pytest.raises(InputError, match="1-D or 2-D"):
        interpret_outputs(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="not numeric"):
        interpret_outputs(np.array([["a", "b"], ["c", "d"]], dtype=object))


def test_scores_always_become_one_column_per_class():
    assert outputs_to_proba(P1).shape == (Y2.size, 2)
    assert outputs_to_proba(LOGIT1[:, None]) == pytest.approx(
        np.column_stack([1 - P1, P1]), abs=1e-9
    )
    multi_label = np.array([[0.9, 0.8], [0.1, 0.3]])  # sigmoid heads do not sum to 1
    assert outputs_to_proba(multi_label, "sigmoid").sum(axis=1) == pytest.approx(1.0)


def test_keras_score_columns_are_class_indices():
    """Integer targets of a Keras head are its column indices: a target outside them is an
    error (it used to become a class of its own, the columns silently renamed); text
    targets take ``LabelEncoder``'s order; known ``classes`` name the columns."""
    facts = OutputFacts("softmax", scores=True)
    assert score_classes(np.array([0, 2]), 3) == [0, 1, 2]
    assert classify_outputs(np.array([0, 2, 2]), P3[:3], facts).labels.tolist() == [0, 1, 2]
    with pytest.raises(InputError, match="unknown label"):
        classify_outputs(np.array([0, 2]), np.array([[0.9, 0.1], [0.2, 0.8]]), facts)
    c = classify_outputs(np.array(["dog", "cat", "eel"]), P3[:3], facts)
    assert c.labels.tolist() == ["cat", "dog", "eel"]
    named = OutputFacts("softmax", scores=True, classes=["x", "y", "z"])
    # the first rows of P3 are mistakes: their most probable columns are 2, 1, 0
    assert classify_outputs(np.array(["z", "y", "x"]), P3[:3], named).metrics["accuracy"] == 1.0


def test_class_order_for_text_targets():
    assert class_order_for_indices(np.array([1, 0]), 2) is None
    assert class_order_for_indices(np.array(["b", "a", "b"]), 2) == ["a", "b"]
    with pytest.raises(InputError, match="encode targets"):
        class_order_for_indices(np.array(["a", "b", "c"]), 2)


def test_one_output_activation_rule_for_every_caller(keras):
    """The evaluator and the seed worker (``output_activation``) and the Keras adapter's
    ModelSpec read a model's output activation with the same rule: the last layer that is
    not a pass-through layer, a ``Softmax`` layer counting as softmax, nested models walked."""
    from mlflow_sanity.adapters.keras.describe import describe_model
    from mlflow_sanity.core.predictions import output_activation

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])
    models = {
        "softmax": keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(3, activation="softmax"),
                keras.layers.Dropout(0.2),
            ]
        ),
        "sigmoid": keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid"), keras.layers.Flatten()]
        ),
        "linear": keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]),
    }
    models["nested softmax"] = keras.Sequential([keras.Input((4,)), inner])
    for expected, model in models.items():
        expected = expected.removeprefix("nested ")
        assert output_activation(model) == expected
        assert describe_model(model).output_activation == expected

"""Model outputs -> predicted labels, probabilities and class order: the one place that decides.

Every way in (the evaluator, the Keras adapter, the seed runner) hands raw outputs here
together with what it knows about the model, so the same output is read the same way
everywhere. What is known wins over what the values look like:

| output | known activation | reading |
| --- | --- | --- |
| 1-D or (n, 1), text/bool/integer values | any but sigmoid | labels |
| 1-D or (n, 1), floats | ``sigmoid`` | probability of the positive class |
| 1-D or (n, 1), floats | ``linear``/``from_logits`` | logits: sigmoid, then as above |
| 1-D or (n, 1), floats in [0, 1], not all whole | unknown | probability of the positive class |
| 1-D or (n, 1), floats outside [0, 1], not all whole | unknown | logits |
| 1-D or (n, 1), whole-number floats | unknown | labels (``0.0``/``1.0`` predictions) |
| (n, k), k > 1, floats | ``softmax`` | probabilities, one column per class |
| (n, k), k > 1, floats | ``linear``/``from_logits`` | logits: softmax |
| (n, k), k > 1, floats in [0, 1], rows sum to 1 | unknown | probabilities |
| (n, k), k > 1, floats otherwise | unknown | scores/logits: softmax |
| (n, k), k > 1, integers | any | one-hot rows: probabilities 0/1; else an error |

A single score column means the positive class (``pos_label``, default the larger
label), as in scikit-learn's binary convention. A DataFrame is read column by column:
the named ``column``, its only column, or one column per class (the column names are
the class order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.core.keras_spec import PASS_THROUGH_LAYERS, canonical_name
from mlflow_sanity.core.metrics import InputError

PROBABILISTIC = ("sigmoid", "softmax")


@dataclass(frozen=True)
class ModelOutputs:
    """How a model's outputs were read: exactly one of ``labels``/``proba`` is set.

    ``proba`` is ``(n,)`` (probability of the positive class) or ``(n, k)`` (one column
    per class, in ``classes`` order when that is known). ``reading`` names the rule
    that applied, for reports and error messages.
    """

    labels: np.ndarray | None
    proba: np.ndarray | None
    classes: list[Any] | None
    reading: str


def interpret_outputs(
    outputs: Any,
    *,
    activation: str | None = None,
    from_logits: bool = False,
    classes: Sequence[Any] | None = None,
    column: str | None = None,
) -> ModelOutputs:
    """Read ``outputs`` by the table in the module docstring.

    ``activation`` is the output layer's activation when known (Keras), ``from_logits``
    the loss setting, ``classes`` the class order of score columns when the model knows
    it (scikit-learn ``classes_``).
    """
    classes = list(classes) if classes is not None else None
    if isinstance(outputs, pd.DataFrame):
        if column is not None and column in outputs.columns:
            outputs = outputs[column]
        elif outputs.shape[1] == 1:
            outputs = outputs.iloc[:, 0]
        else:
            classes = classes or list(outputs.columns)
            outputs = outputs.to_numpy()
    arr = np.asarray(outputs)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        return _one_column(arr, activation, from_logits)
    if arr.ndim != 2:
        raise InputError(f"model outputs must be 1-D or 2-D, got shape {arr.shape}")
    return _score_columns(arr, activation, from_logits, classes)


def outputs_to_proba(
    outputs: Any, activation: str | None = None, *, from_logits: bool = False
) -> np.ndarray:
    """Scores of a classifier as ``(n, k)`` probabilities, one column per class.

    For callers that know the outputs are scores (a Keras classifier head): a single
    column becomes ``[1 - p, p]``.
    """
    p = _scores(outputs, activation, from_logits)
    return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p


def predicted_classes(
    outputs: Any, activation: str | None = None, *, from_logits: bool = False
) -> np.ndarray:
    """The class index each row of a classifier head's scores is predicted as.

    The most probable column of ``outputs_to_proba``: for a single column, the positive
    class when its probability exceeds 0.5 (a logit above 0).
    """
    p = _scores(outputs, activation, from_logits)
    if p.ndim == 1:  # argmax of [1 - p, p] without building it (ties go to column 0)
        return (p > 1.0 - p).astype(np.intp)
    return p.argmax(axis=1)


def _scores(outputs: Any, activation: str | None, from_logits: bool) -> np.ndarray:
    """Probabilities of a classifier head: ``(n,)`` for a single column, else ``(n, k)``.
    The outputs are checked and widened to float64 once (a copy the reading may reuse)."""
    arr = np.asarray(outputs)
    if arr.dtype.kind not in "fiub":
        raise InputError(f"model outputs must be numeric scores, got {arr.dtype}")
    values = _finite(arr)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if from_logits or activation == "linear" or not _in_unit_interval(values):
        activation = "linear"  # any output outside [0, 1] is a score, not a probability
    elif activation not in PROBABILISTIC:
        activation = "sigmoid" if values.ndim == 1 else None  # None: rows summing to 1 or softmax
    if values.ndim == 1 and activation in ("linear", "sigmoid"):
        return _sigmoid(values) if activation == "linear" else values
    if values.ndim == 1:  # a softmax over one unit: the general reading decides
        read = _one_column(values, activation, from_logits)
    else:
        read = _score_columns(values, activation, from_logits, None, checked=True)
    if read.proba is None:  # pragma: no cover - numeric scores with a known activation
        raise InputError(f"model outputs were read as {read.reading}, not as scores")
    return read.proba


def layer_activation(layer: Any) -> str | None:
    """The activation a Keras-like layer applies, by canonical name (a ``Softmax`` layer
    counts as ``"softmax"``); None when the layer has none. Duck-typed: no Keras import."""
    if type(layer).__name__ == "Softmax":
        return "softmax"
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return canonical_name(getattr(act, "__name__", None) or type(act).__name__)


def output_layer_index(class_names: Sequence[str]) -> int | None:
    """Which layer's activation shapes the outputs: the last one that is not a pass-through
    layer (Dropout, Reshape, Flatten ... change no values). The one rule for the evaluator,
    the seed worker and the Keras adapter's ``ModelSpec``."""
    for i in range(len(class_names) - 1, -1, -1):
        if class_names[i] not in PASS_THROUGH_LAYERS:
            return i
    return None


def output_activation(model: Any) -> str | None:
    """The output activation of a Keras-like model (``output_layer_index`` over its layers,
    nested models walked); None when the model does not say."""
    layers = list(_flat_layers(model))
    i = output_layer_index([type(layer).__name__ for layer in layers])
    return layer_activation(layers[i]) if i is not None else None


def _flat_layers(model: Any) -> Any:
    for layer in getattr(model, "layers", None) or []:
        inner = getattr(layer, "layers", None)
        if inner and hasattr(layer, "outputs"):  # a nested model: its own layers count
            yield from _flat_layers(layer)
        else:
            yield layer


def class_order_for_indices(y_true: np.ndarray, width: int) -> list[Any] | None:
    """The labels a Keras model's output columns stand for.

    Keras outputs class indices; integer targets are the indices themselves (None: no
    mapping), text targets map the way ``LabelEncoder`` would (sorted).
    """
    if y_true.dtype.kind in "iub":
        return None
    names = sorted({str(v) for v in y_true.tolist()})
    if len(names) != width:
        raise InputError(
            f"the Keras model has {width} output classes but the targets hold "
            f"{len(names)} labels {names[:10]}; encode targets as 0..{width - 1}"
        )
    return names


def _one_column(arr: np.ndarray, activation: str | None, from_logits: bool) -> ModelOutputs:
    if arr.dtype.kind not in "fiu" or (arr.dtype.kind in "iu" and activation != "sigmoid"):
        return ModelOutputs(arr, None, None, "labels")
    values = _finite(arr)
    logits = from_logits or activation == "linear"
    if activation == "sigmoid" and not from_logits:
        return ModelOutputs(None, values, None, "probability of the positive class")
    if logits:
        return ModelOutputs(None, _sigmoid(values), None, "logit of the positive class")
    if values.size and np.all(values == np.round(values)):
        return ModelOutputs(arr, None, None, "labels")
    if _in_unit_interval(values):
        return ModelOutputs(None, values, None, "probability of the positive class")
    return ModelOutputs(None, _sigmoid(values), None, "logit of the positive class")


def _score_columns(
    arr: np.ndarray,
    activation: str | None,
    from_logits: bool,
    classes: list[Any] | None,
    *,
    checked: bool = False,
) -> ModelOutputs:
    if arr.dtype.kind in "iub":
        one_hot = np.isin(arr, (0, 1)).all() and np.all(arr.sum(axis=1) == 1)
        if not one_hot:
            raise InputError(
                f"model returned a {arr.shape} table of integers that are not one-hot rows"
            )
        return ModelOutputs(None, arr.astype(np.float64), classes, "one-hot rows")
    if arr.dtype.kind != "f":
        raise InputError(f"model returned a {arr.shape} table that is not numeric")
    values = arr if checked else _finite(arr)  # ``checked``: already finite float64
    if activation == "softmax" and not from_logits:
        return ModelOutputs(None, values, classes, "probabilities")
    is_distribution = _in_unit_interval(values) and np.allclose(values.sum(axis=1), 1.0, atol=1e-3)
    if activation is None and not from_logits and is_distribution:
        return ModelOutputs(None, values, classes, "probabilities")
    return ModelOutputs(None, _softmax(values), classes, "logits (softmax applied)")


def _finite(arr: np.ndarray) -> np.ndarray:
    values = arr.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputError("model outputs contain NaN or inf")
    return values


def _in_unit_interval(values: np.ndarray) -> bool:
    return bool(values.size == 0 or (values.min() >= 0 and values.max() <= 1))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

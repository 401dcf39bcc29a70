"""A model's outputs on labelled rows as a ``Classification``: the one place that turns them.

The Keras head loop (``fit`` and ``model.evaluate``), the MLflow evaluator, the seed worker
and the cause experiments each hold a model's outputs and what is known about them (the
output activation, whether the loss takes logits, the class order the model knows). They
hand both here, so the same outputs become the same classification whoever read them:
``core/predictions.py`` reads the values, ``core/metrics.classify`` scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.core.keras_spec import ModelSpec
from mlflow_sanity.core.labels import label_indices
from mlflow_sanity.core.metrics import Classification, classify
from mlflow_sanity.core.predictions import (
    class_order_for_indices,
    interpret_outputs,
    outputs_to_proba,
)


@dataclass(frozen=True)
class OutputFacts:
    """What is known about a model's outputs besides their values.

    ``scores``: the outputs are known to be a classifier's scores, one column per class
    index (a Keras classifier head): always read as probabilities. Otherwise they may be
    labels too, read by the values (``interpret_outputs``). ``activation`` and
    ``from_logits`` (the values are logits: a Keras head's linear output layer, whatever
    its loss is told, since a wrong ``from_logits`` in the loss is what
    ``loss_output_mismatch`` reports, not how the values read) say how scores become
    probabilities; ``classes``
    is the class of each score column when the model knows it (scikit-learn's
    ``classes_``); ``column`` the DataFrame column that holds the predictions.
    """

    activation: str | None = None
    from_logits: bool = False
    scores: bool = False
    classes: Sequence[Any] | None = None
    column: str | None = None


def classify_outputs(
    y_true: Any, outputs: Any, facts: OutputFacts | None = None, *, pos_label: Any = None
) -> Classification:
    """``outputs`` on the rows labelled ``y_true``, read by ``facts``, as a classification
    (``InputError`` for outputs or labels that cannot be read so)."""
    facts = facts or OutputFacts()
    if not facts.scores:
        read = interpret_outputs(
            outputs,
            activation=facts.activation,
            from_logits=facts.from_logits,
            classes=facts.classes,
            column=facts.column,
        )
        return classify(y_true, read.labels, read.proba, labels=read.classes, pos_label=pos_label)
    proba = outputs_to_proba(outputs, facts.activation, from_logits=facts.from_logits)
    classes = facts.classes
    if classes is None:
        classes = score_classes(y_true, proba.shape[1])
    return classify(y_true, proba=proba, labels=classes, pos_label=pos_label)


def classify_scores(spec: ModelSpec, y_true: Any, outputs: Any) -> Classification | None:
    """A Keras classifier head's scores on the rows labelled ``y_true`` (class indices or
    one-hot), read by the head's output activation (a linear layer's values are logits,
    ``ModelSpec.outputs_logits``): the one reading of the head loop and the cause
    experiments. None for labels that are not classes."""
    y = label_indices(y_true)
    if y is None:
        return None
    facts = OutputFacts(spec.output_activation, spec.outputs_logits, scores=True)
    return classify_outputs(y, outputs, facts)


def score_classes(y_true: Any, width: int) -> list[Any] | None:
    """The class each of ``width`` score columns stands for. Keras' columns are class
    indices: integer targets are the indices ``0..width-1`` themselves (a target outside
    them is an error, not a class of its own); text targets map as ``LabelEncoder`` would
    (sorted); None (booleans) leaves the order to ``classify``."""
    y = np.asarray(y_true)
    if y.dtype.kind in "iu":
        return list(range(width))
    return class_order_for_indices(y, width)

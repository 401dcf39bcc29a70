"""What a report judges: the task, decided once, by one rule, for every way in.

``autolog()`` is switched on once and then sees everything a user trains: classifiers,
regressors, multi-label models, taggers, autoencoders. Every check is written for some of
these tasks only (a majority-class baseline means nothing to a regressor), so the task is
decided here, from what is known, and every check declares the tasks it holds for.

What is known wins over what the values look like (a price model's whole-number targets
are not 214 classes). The rule, first match wins:

1. the targets are the inputs (``fit(X, X)``): unsupported (an autoencoder);
2. no targets, and no loss or model type to go by (or a custom ``train_step``): unsupported;
3. the evaluator's ``model_type="regressor"``: regression;
4. a regression loss (MSE, MAE, Huber, log-cosh, MSLE, MAPE, Poisson...) on an output that
   is not sigmoid/softmax: regression, whatever the targets' dtype;
5. a classification loss (cross-entropy, hinge), a probability output or
   ``model_type="classifier"``:
   - per-token outputs (rank 3), or 2-D whole-number targets that are not one column per
     class: sequence;
   - multi-hot targets, several sigmoid units, or binary cross-entropy on several units:
     multilabel;
   - otherwise binary (one or two output units, or two classes) or multiclass;
6. a loss the rule does not know, on an output that is not a probability: unsupported;
7. no loss known (static predictions, ``check_predictions``): multi-hot targets are
   multilabel, whole-number or text targets binary/multiclass, other numbers regression.

A regression loss on a sigmoid/softmax output is still judged as the classifier its
targets say it is: that is the ``loss_output_mismatch`` story (MSE on a softmax), not a
regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from mlflow_sanity.core.keras_spec import (
    CROSSENTROPY,
    HINGE_LOSSES,
    REGRESSION_LOSSES,
    canonical_name,
    label_encoding,
)


class Task(str, Enum):
    """The value of the ``sanity.task`` tag."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"
    SEQUENCE = "sequence"  # one class per token (NER, POS tagging, slot filling)
    REGRESSION = "regression"
    UNSUPPORTED = "unsupported"  # judged only by the checks that hold for any model


SINGLE_LABEL = frozenset({Task.BINARY, Task.MULTICLASS})
CLASS_TASKS = SINGLE_LABEL | {Task.MULTILABEL, Task.SEQUENCE}
ALL_TASKS = frozenset(Task)
JUDGED_TASKS = ALL_TASKS - {Task.UNSUPPORTED}

# Losses of counts and other non-negative quantities, beside keras_spec's squared/absolute ones.
_MORE_REGRESSION_LOSSES = frozenset({"poisson", "cosine_similarity", "log_cosh", "huber_loss"})
REGRESSION_LOSS_NAMES = REGRESSION_LOSSES | _MORE_REGRESSION_LOSSES
CLASSIFICATION_LOSSES = CROSSENTROPY | HINGE_LOSSES
_PROBABILITY_OUTPUTS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class TaskDecision:
    """The task and what decided it, in words ("mean_squared_error loss on a linear
    output"); for ``UNSUPPORTED`` the reason the coverage tag gives."""

    task: Task
    why: str

    @property
    def judged(self) -> bool:
        return self.task is not Task.UNSUPPORTED


def decide_task(
    *,
    loss: str | None = None,
    activation: str | None = None,
    output_units: int | None = None,
    output_rank: int | None = None,
    targets: Any = None,
    model_type: str | None = None,
    inputs_are_targets: bool = False,
    custom_loop: bool = False,
) -> TaskDecision:
    """The one rule (see the module docstring) from whatever the caller knows.

    ``output_rank`` counts the batch axis (a Dense head is 2, per-token outputs are 3);
    ``targets`` are the labels as given (an array, or None when there are none);
    ``model_type`` is the evaluator's; ``custom_loop`` says the model trains with its own
    ``train_step`` (its loss is then whatever that step computes).
    """
    loss = canonical_name(loss)
    activation = canonical_name(activation)
    y = _as_array(targets)
    if inputs_are_targets:
        return TaskDecision(Task.UNSUPPORTED, "an autoencoder: the targets are the inputs")
    if y is None and (custom_loop or (loss is None and model_type is None)):
        why = "a custom train_step without targets" if custom_loop else "no targets"
        return TaskDecision(Task.UNSUPPORTED, why)
    if model_type == "regressor":
        return TaskDecision(Task.REGRESSION, 'model_type="regressor"')
    probability_output = activation in _PROBABILITY_OUTPUTS
    output = f"a {activation or 'linear'} output"
    if loss in REGRESSION_LOSS_NAMES and not probability_output:
        return TaskDecision(Task.REGRESSION, f"{loss} loss on {output}")
    classifies = loss in CLASSIFICATION_LOSSES or probability_output or model_type == "classifier"
    if loss is not None and not classifies and loss not in REGRESSION_LOSS_NAMES:
        return TaskDecision(Task.UNSUPPORTED, f"a loss the checks do not know: {loss}")
    if loss is None and not classifies:
        return _by_targets(y)
    return _classification(y, loss, activation, output_units, output_rank)


def _classification(
    y: np.ndarray | None,
    loss: str | None,
    activation: str | None,
    units: int | None,
    rank: int | None,
) -> TaskDecision:
    """Which classification: per token, several labels per row, or one label per row."""
    said = f"{loss} loss" if loss else f"a {activation} output"
    # a rank-3 output is per token only when the targets are too (a symbolic shape can
    # carry an axis the predictions do not: strings vectorised inside the model)
    per_token = rank is not None and rank >= 3 and (y is None or y.ndim >= 2)
    if per_token or (y is not None and _token_targets(y, units)):
        return TaskDecision(Task.SEQUENCE, f"{said} on per-token outputs")
    encoding = label_encoding(y) if y is not None else "unknown"
    several_sigmoids = activation == "sigmoid" and (units or 1) > 1
    binary_ce_on_many = loss in ("binary_crossentropy", "binary_focal_crossentropy") and (
        (units or 1) > 1
    )
    if encoding == "multi_hot" or (
        (several_sigmoids or binary_ce_on_many) and encoding != "one_hot"
    ):
        return TaskDecision(Task.MULTILABEL, f"{said} on {units or 'several'} labels per row")
    return TaskDecision(_single_label(y, units), said)


def _single_label(y: np.ndarray | None, units: int | None) -> Task:
    """Binary or multiclass: by the output's width, else by the classes the targets hold."""
    if units is not None and units > 2:
        return Task.MULTICLASS
    if units in (1, 2) or y is None:
        return Task.BINARY if units in (1, 2) else Task.MULTICLASS
    if y.ndim == 2 and y.shape[1] > 2:
        return Task.MULTICLASS
    classes = np.unique(y.reshape(-1)) if y.dtype.kind != "O" else np.unique(y.astype(str))
    return Task.BINARY if classes.size <= 2 else Task.MULTICLASS


def _by_targets(y: np.ndarray | None) -> TaskDecision:
    """No loss known (static predictions): the targets' values decide."""
    if y is None:  # only the evaluator's model_type was known
        return TaskDecision(Task.UNSUPPORTED, "no targets")
    encoding = label_encoding(y)
    if encoding == "multi_hot":
        return TaskDecision(Task.MULTILABEL, "multi-hot targets")
    if encoding == "continuous":
        return TaskDecision(Task.REGRESSION, "targets that are not class labels")
    if encoding == "other" and y.dtype.kind in "fc":
        return TaskDecision(Task.REGRESSION, "targets that are not class labels")
    return TaskDecision(_single_label(y, None), "class labels as targets")


def _token_targets(y: np.ndarray, units: int | None) -> bool:
    """2-D whole-number targets that are not one-hot rows: one class per token (a
    softmax head over a sequence whose output rank the caller did not know)."""
    if y.ndim == 3:
        return True
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "iuf":
        return False
    if units is not None and units == y.shape[1]:
        return False  # one column per class or per label, not per token
    return bool(np.all(y == np.round(y)) and label_encoding(y) == "continuous")


def _as_array(targets: Any) -> np.ndarray | None:
    if targets is None:
        return None
    try:
        arr = np.asarray(targets)
    except (TypeError, ValueError):
        return None
    if arr.size == 0:
        return None
    return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr


def task_gap(decision: TaskDecision) -> dict[str, str]:
    """``Context.missing`` for a task the checks cannot judge: its reason becomes the
    not-checked records of every task-specific check (so coverage says what the model was
    taken for); empty for a judged task."""
    return {} if decision.judged else {"task": f"task-specific checks ({decision.why})"}


def task_of_classes(n_classes: int) -> Task:
    """A single-label evaluation's task from its number of classes."""
    return Task.BINARY if n_classes <= 2 else Task.MULTICLASS

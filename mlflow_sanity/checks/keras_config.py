"""Checks on the compiled Keras model: does the loss fit the output layer and the labels?

They read a ``keras_spec.ModelSpec`` (and, when the labels were readable, the
``FitSpec``'s label summary), so they judge a configuration before any number is
trusted, and they are testable on hand-written specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_sanity.checks.keras_semantics import outputs_are_logits, thresholds_as_probability
from mlflow_sanity.checks.registry import SYMPTOMS, Context, Outcome, check, passed
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import (
    BINARY_CE,
    CATEGORICAL_CE,
    CROSSENTROPY,
    REGRESSION_LOSSES,
    SPARSE_CE,
    FitSpec,
    LabelSummary,
    LabelValues,
    ModelSpec,
    Predictions,
    class_weight_keys,
)
from mlflow_sanity.core.task import ALL_TASKS, CLASS_TASKS, JUDGED_TASKS


def _labels(ctx: Context) -> LabelSummary | None:
    fit: FitSpec | None = ctx.fit
    return fit.labels if fit is not None else None


def _config(spec: ModelSpec, labels: LabelSummary | None) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "loss": spec.loss,
        "from_logits": spec.from_logits,
        "output_units": spec.output_units,
        "output_activation": spec.output_activation,
    }
    if labels is not None:
        evidence["label_encoding"] = labels.encoding
        evidence["n_classes"] = labels.n_classes
    return evidence


def _cannot_learn(spec: ModelSpec, labels: LabelSummary | None) -> list[str]:
    """Configurations that cannot train a classifier at all (fail)."""
    units, act, loss = spec.output_units, spec.output_activation, spec.loss
    problems = []
    if act == "softmax" and units == 1:
        problems.append(
            "softmax over a single unit always outputs 1.0: the model cannot express "
            "two classes (use sigmoid)"
        )
    if loss in CATEGORICAL_CE and units == 1:
        problems.append(
            "categorical cross-entropy on a 1-unit output is exactly 0 for every row "
            "(the single probability is normalised to 1): there is no gradient and "
            "nothing is learned; use binary_crossentropy"
        )
    if loss in SPARSE_CE and units == 1:
        problems.append("sparse categorical cross-entropy needs one output unit per class")
    if units == 1 and labels is not None and labels.is_single_label and labels.n_classes > 2:
        problems.append(
            f"one output unit for {labels.n_classes} classes: a single sigmoid can only "
            "separate two classes"
        )
    return problems


def _loss_misfits(spec: ModelSpec, labels: LabelSummary | None) -> list[str]:
    """A loss that trains the output badly: regression losses, binary CE on softmax (warn)."""
    units, act, loss = spec.output_units, spec.output_activation, spec.loss
    classes = labels is not None and labels.is_single_label
    encoding = labels.encoding if labels is not None else None
    multi_sigmoid = act == "sigmoid" and bool(units) and units > 1
    if loss in REGRESSION_LOSSES and (act == "softmax" or (act == "sigmoid" and classes)):
        return [
            f"{loss} on a {act} classifier output: squared/absolute error gives vanishing "
            "gradients for confident wrong predictions and does not train a classifier "
            "well; use a cross-entropy loss"
        ]
    if loss in REGRESSION_LOSSES and multi_sigmoid:
        return [
            f"{loss} on a {units}-unit sigmoid output: per-unit yes/no probabilities are "
            "trained by binary_crossentropy; squared/absolute error gives vanishing gradients "
            "for confident wrong units"
        ]
    if loss in CATEGORICAL_CE and multi_sigmoid:
        return [
            f"categorical cross-entropy on a {units}-unit sigmoid output: the independent "
            "sigmoids are renormalised to sum to 1 and saturate; use a softmax output for "
            "exclusive classes (or binary_crossentropy for multi-label)"
        ]
    if loss in REGRESSION_LOSSES and classes and spec.accuracy_metrics:
        return [
            f"{loss} on class labels with an accuracy metric: the model is trained as a "
            "regression and its outputs are then thresholded; use a sigmoid/softmax output "
            "with a cross-entropy loss"
        ]
    if loss in BINARY_CE and act == "softmax" and units and units > 1:
        if encoding == "multi_hot":
            return [
                "binary cross-entropy with a softmax output on multi-hot labels: softmax "
                "forces the classes to compete, use sigmoid for multi-label outputs"
            ]
        return [
            f"binary cross-entropy on a {units}-unit softmax"
            + (" with one-hot labels" if encoding == "one_hot" else "")
            + ": it scores every unit as an independent yes/no although softmax makes "
            "them exclusive; use categorical_crossentropy"
        ]
    return []


def _logit_and_label_misfits(spec: ModelSpec, labels: LabelSummary | None) -> list[str]:
    """``from_logits`` that does not fit the output, and 1-based labels (warn)."""
    units, act, loss = spec.output_units, spec.output_activation, spec.loss
    problems = []
    if loss in CROSSENTROPY and spec.outputs_logits and not spec.from_logits:
        problems.append(
            "cross-entropy with from_logits=False on a linear output: raw scores are "
            "clipped into (0, 1) and treated as probabilities"
        )
    if loss in CROSSENTROPY and act not in (None, "linear", "softmax", "sigmoid"):
        if not spec.from_logits:
            problems.append(
                f"cross-entropy with from_logits=False on a {act} output: its values are not "
                "probabilities, so they are clipped into (0, 1) (and a ReLU output is 0 for "
                "many rows, which gives no gradient); use softmax/sigmoid, or a linear output "
                "with from_logits=True"
            )
        else:
            problems.append(
                f"from_logits=True on a {act} output: logits must be unbounded; use a linear "
                "output layer"
            )
    if loss in CROSSENTROPY and act in ("softmax", "sigmoid") and spec.from_logits:
        problems.append(
            f"from_logits=True on a {act} output applies the {act} twice: probabilities "
            "are squashed and the loss saturates"
        )
    classes = labels is not None and labels.is_single_label
    if units and units > 1 and classes and act != "sigmoid":
        present = sorted(int(k) for k in labels.train_counts)
        if present and min(present) > 0:
            problems.append(
                f"{units} output units but the training labels are {present}: class 0 "
                "never occurs (1-based labels?)"
            )
    return problems


def _regression_misfits(spec: ModelSpec, values: LabelValues | None) -> list[str]:
    """An output that cannot reach the regression targets, or a classification loss on
    continuous targets (fail): the loss can never reach its minimum."""
    if values is None:
        return []
    act, loss, lo, hi = spec.output_activation, spec.loss, values.min, values.max
    continuous = not values.integer and values.n_distinct > _CONTINUOUS_VALUES
    if loss in REGRESSION_LOSSES and act == "sigmoid" and (lo < 0 or hi > 1):
        return [
            f"{loss} with a sigmoid output on targets {lo:.4g}..{hi:.4g}: a sigmoid only "
            "reaches (0, 1), so those targets are out of reach; use a linear output"
        ]
    if loss in REGRESSION_LOSSES and act in ("relu", "softplus", "exponential") and lo < 0:
        return [
            f"{loss} with a {act} output on targets down to {lo:.4g}: the output cannot be "
            "negative, so the negative targets are out of reach; use a linear output"
        ]
    if loss in CROSSENTROPY and continuous and (loss not in BINARY_CE or lo < 0 or hi > 1):
        return [
            f"{loss} on continuous targets ({values.n_distinct} distinct non-integer values, "
            f"{lo:.4g}..{hi:.4g}): this is a regression; use a regression loss (mse, mae, "
            "huber) on a linear output"
        ]
    return []


_CONTINUOUS_VALUES = 20  # more distinct non-integer values than any class coding has


@check(
    "loss_output_mismatch",
    tasks=JUDGED_TASKS,
    flags=(
        "fail: categorical CE on a 1-unit output (loss exactly 0), softmax on one unit, one "
        "unit for > 2 classes; warn: MSE/MAE on a softmax/sigmoid classifier or on a "
        "multi-unit sigmoid output, binary CE on a multi-unit softmax, categorical CE on a "
        "multi-unit sigmoid output, a ReLU/tanh/… output with a cross-entropy without "
        "`from_logits=True` (linear too), `from_logits` that does not fit the output, "
        "1-based labels; a regression: fail when a sigmoid output meets targets outside "
        "[0, 1], a ReLU/softplus/exponential output negative targets, or a cross-entropy "
        "continuous targets"
    ),
    requires=["model"],
    reads=["fit"],
    explains=SYMPTOMS,
    remedy="Match loss, output layer and labels: 2 classes → Dense(1, 'sigmoid') + "
    "binary_crossentropy; k classes → Dense(k, 'softmax') + sparse_categorical_crossentropy "
    "(integer labels) or categorical_crossentropy (one-hot); for logits use a linear output "
    "and from_logits=True.",
)
def loss_output_mismatch(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The loss does not fit the output layer and labels (MSE on classes, CE on one unit, ...)."""
    spec: ModelSpec = ctx.model
    labels = _labels(ctx)
    values = ctx.fit.label_values if ctx.fit is not None else None
    regression = _regression_misfits(spec, values) if spec.n_outputs == 1 else []
    if spec.n_outputs != 1 or spec.loss is None or not (spec.is_classifier or regression):
        return None  # several outputs, no loss, or a sound regression model
    fails = regression + _cannot_learn(spec, labels)
    warns = _loss_misfits(spec, labels) + _logit_and_label_misfits(spec, labels)
    evidence = {**_config(spec, labels), "problems": fails + warns}
    if fails:
        return Outcome(Severity.FAIL, "; ".join(fails) + ".", evidence)
    if warns:
        return Outcome(Severity.WARN, "; ".join(warns) + ".", evidence)
    encoding = labels.encoding if labels is not None else None
    return passed(
        f"{spec.loss} fits the {spec.output_units}-unit {spec.output_activation or 'linear'} "
        "output" + (f" and {encoding} labels" if encoding else "") + ".",
        evidence,
    )


@check(
    "hidden_softmax",
    tasks=ALL_TASKS,
    flags=("warn: softmax before the output layer"),
    requires=["model"],
    remedy="Use relu (or another non-saturating activation) in hidden layers; keep softmax "
    "for the output layer only.",
)
def hidden_softmax(ctx: Context, t: Mapping[str, float]) -> Outcome:
    """Softmax used in a hidden layer."""
    spec: ModelSpec = ctx.model
    hits = [
        layer.name
        for layer in spec.hidden_layers
        if layer.activation == "softmax" or layer.class_name == "Softmax"
    ]
    evidence = {"hidden_softmax_layers": hits, "n_hidden_layers": len(spec.hidden_layers)}
    if hits:
        return Outcome(
            Severity.WARN,
            f"Hidden layer(s) {', '.join(hits)} use softmax: it squeezes each row of "
            "activations to sum to 1, so most units are pushed towards 0 and learning stalls.",
            evidence,
        )
    return passed("No softmax in hidden layers.", evidence)


def _share_misjudged(preds: Predictions, threshold: float) -> float:
    """The share of rows whose logit lies between 0 and ``threshold``: decided wrongly."""
    out = np.asarray(preds.outputs, dtype=np.float64).reshape(-1)
    return float(np.mean((out > 0) != (out > threshold)))


@check(
    "logits_thresholded",
    tasks=CLASS_TASKS,
    flags=(
        "warn: linear output + `from_logits=True` + binary accuracy/precision/recall at a "
        "threshold other than 0"
    ),
    requires=["model"],
    reads=["fit"],
    remedy="With a linear output and from_logits=True use "
    "keras.metrics.BinaryAccuracy(threshold=0.0) (and Precision/Recall(thresholds=0.0), "
    "AUC(from_logits=True)), or add a sigmoid to the output and drop from_logits.",
)
def logits_thresholded(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Raw logits compared against a 0.5 threshold by the accuracy metric."""
    spec: ModelSpec = ctx.model
    if spec.n_outputs != 1 or not spec.outputs_logits:
        return None
    # Binary accuracy on several units is metric_disagreement's (it judges the variant).
    hits = [
        m
        for m in spec.metrics
        if thresholds_as_probability(m)
        and (m.variant != "binary_accuracy" or spec.output_units in (1, None))
    ]
    evidence: dict[str, Any] = {
        "output_activation": spec.output_activation,
        "from_logits": spec.from_logits,
        "metrics": {m.name: m.threshold for m in hits},
    }
    if not hits or not outputs_are_logits(spec):
        return passed("No threshold metric is applied to logits.", evidence)
    fit: FitSpec | None = ctx.fit
    preds = fit.validation_outputs if fit is not None else None
    threshold = next((m.threshold for m in hits if m.threshold is not None), 0.5)
    text = (
        f"Metric(s) {', '.join(m.name for m in hits)} threshold the raw logits at "
        f"{threshold:g}: a row counts as positive only when its probability exceeds "
        f"{1 / (1 + np.exp(-threshold)):.3f}, not 0.5."
    )
    if preds is not None and preds.outputs.size:
        misjudged = _share_misjudged(preds, threshold)
        evidence["validation_rows_between_0_and_threshold"] = round(misjudged, 4)
        text += f" {misjudged:.1%} of the validation rows fall in between and are misjudged."
    return Outcome(Severity.WARN, text, evidence)


@check(
    "class_weight_ignored",
    tasks=CLASS_TASKS,
    flags=(
        "warn: `class_weight` keys that are strings (silently ignored by Keras ≤ 3.15) or "
        "match no label"
    ),
    requires=["fit"],
    remedy="Key class_weight by integer class index (the label value, or the one-hot column): "
    "{0: 1.0, 1: 5.0}; sklearn.utils.class_weight.compute_class_weight builds it.",
)
def class_weight_ignored(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """``class_weight`` given but had no effect (string keys, or keys that match no label)."""
    fit: FitSpec = ctx.fit
    if not fit.class_weight:
        return None
    weights = fit.class_weight
    unusable, usable = class_weight_keys(weights)
    labels = fit.labels
    present = sorted(int(k) for k in labels.train_counts) if labels is not None else None
    unmatched = sorted(k for k in usable if present is not None and k not in present)
    evidence: dict[str, Any] = {
        "class_weight": {repr(k): float(v) for k, v in weights.items()},
        "ignored_keys": [repr(k) for k in unusable],
        "keys_matching_no_label": unmatched,
        "training_classes": present,
    }
    effective = [k for k in usable if present is None or k in present]
    if unusable:
        kinds = sorted({type(k).__name__ for k in unusable})
        text = (
            f"class_weight keys {', '.join(repr(k) for k in unusable)} are {'/'.join(kinds)}, "
            "but Keras looks weights up by integer class index and silently ignores them"
        )
        text += "." if effective else ": training ran unweighted."
        return Outcome(Severity.WARN, text, evidence)
    if unmatched:
        text = f"class_weight keys {unmatched} match no training label (labels are {present})" + (
            "." if effective else ": no row was re-weighted."
        )
        return Outcome(Severity.WARN, text, evidence)
    values = {float(weights[k]) for k in weights}
    if len(values) == 1:
        return Outcome(
            Severity.INFO,
            f"All classes get the same weight {values.pop():g}: class_weight changes nothing.",
            evidence,
        )
    return passed(
        "class_weight keys are integer class indices"
        + (" that match the training labels." if present is not None else "."),
        evidence,
    )

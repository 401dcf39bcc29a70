"""Checks on one training run: the learning curves, the logged metrics and the split.

They read the per-epoch Keras history, the ``ModelSpec``/``FitSpec`` descriptions and,
when the adapter could read the validation data, the model's outputs on it. Pure: the
recomputation uses scikit-learn and scipy on plain arrays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score

from mlflow_sanity.checks.registry import Context, check, finding
from mlflow_sanity.core.findings import Finding, Severity
from mlflow_sanity.core.keras_spec import FitSpec, MetricSpec, ModelSpec, Predictions, label_indices

_ACC_KEY = re.compile(r"(^|_)acc(uracy)?$")


def _series(history: Mapping[str, Sequence[float]], key: str) -> np.ndarray | None:
    values = history.get(key)
    if values is None or len(values) == 0:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return arr if np.isfinite(arr).all() else None


def accuracy_key(history: Mapping[str, Sequence[float]], spec: ModelSpec | None) -> str | None:
    """The training accuracy key to read (``accuracy`` first), with or without a model spec."""
    names = [m.name for m in spec.accuracy_metrics] if spec is not None else []
    names += sorted(k for k in history if not k.startswith("val_") and _ACC_KEY.search(k))
    names.sort(key=lambda k: (k != "accuracy", k.startswith("weighted_")))
    return next((k for k in names if k in history), None)


def _epoch_index(ctx: Context, n: int) -> int:
    fit: FitSpec | None = ctx.fit
    e = fit.weights_epoch if fit is not None else None
    return e if e is not None and 0 <= e < n else n - 1


def val_index(ctx: Context, epoch: int, n_epochs: int, n_val: int) -> int | None:
    """Index into a ``val_*`` series for an epoch (``validation_freq`` > 1 skips epochs)."""
    if n_val == n_epochs:
        return epoch
    fit: FitSpec | None = ctx.fit
    freq = fit.validation_freq if fit is not None else 1
    if freq > 1 and (epoch + 1) % freq == 0 and (epoch + 1) // freq <= n_val:
        return (epoch + 1) // freq - 1
    return None


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@check(
    "overfitting",
    requires=["history"],
    remedy="Stop earlier (EarlyStopping(monitor='val_loss', restore_best_weights=True)), add "
    "regularisation (dropout, weight decay, data augmentation) or use a smaller model or "
    "more data.",
    max_gap=0.10,
    max_loss_ratio=2.0,
    patience=5,
    min_rise=0.05,
)
def overfitting(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """Large train/validation gap and validation loss rising while training loss falls.

    Either sign alone is ``info``: a gap with a still-falling validation loss is often
    fine, and a noisy validation loss rises now and then. Both together are a warning.
    The model is judged at the epoch whose weights it holds (after EarlyStopping restores).
    """
    history = ctx.history
    loss, val_loss = _series(history, "loss"), _series(history, "val_loss")
    if loss is None:
        return None
    if val_loss is not None and len(val_loss) != len(loss):
        return finding(
            "overfitting",
            Severity.INFO,
            f"Validation ran on {len(val_loss)} of {len(loss)} epochs (validation_freq): "
            "the curves are not compared epoch by epoch.",
            {"epochs": len(loss), "validation_epochs": len(val_loss)},
        )
    if val_loss is None:
        return finding(
            "overfitting",
            Severity.INFO,
            "No validation data during fit: training accuracy is measured on rows the model "
            "learned from, so overfitting cannot be seen. Pass validation_data.",
            {"epochs": len(loss)},
        )
    n = len(loss)
    e = _epoch_index(ctx, n)
    evidence: dict[str, Any] = {"epochs": n, "judged_epoch": e + 1}
    key = accuracy_key(history, ctx.model)
    acc = _series(history, key) if key else None
    val_acc = _series(history, f"val_{key}") if key else None
    if acc is not None and val_acc is not None and len(acc) == len(val_acc) == n:
        gap = float(acc[e] - val_acc[e])
        big_gap = gap >= t["max_gap"]
        evidence.update(
            {"metric": key, "train": _r(acc[e]), "validation": _r(val_acc[e]), "gap": _r(gap)}
        )
        gap_text = f"{key} {acc[e]:.3f} on training vs {val_acc[e]:.3f} on validation"
    else:
        ratio = float(val_loss[e] / loss[e]) if loss[e] > 0 else float("inf")
        big_gap = ratio >= t["max_loss_ratio"]
        evidence["loss_ratio"] = _r(ratio) if np.isfinite(ratio) else None
        gap_text = f"validation loss {val_loss[e]:.4g} vs training loss {loss[e]:.4g}"
    best = int(np.argmin(val_loss[: e + 1]))
    rising = (
        e - best >= t["patience"]
        and val_loss[e] > val_loss[best] * (1 + t["min_rise"]) + 1e-12
        and loss[e] < loss[best]
    )
    evidence.update(
        {
            "best_val_loss_epoch": best + 1,
            "best_val_loss": _r(val_loss[best]),
            "val_loss": _r(val_loss[e]),
            "val_loss_rising": bool(rising),
        }
    )
    rise_text = (
        f"validation loss rose from {val_loss[best]:.4g} (epoch {best + 1}) to "
        f"{val_loss[e]:.4g} (epoch {e + 1}) while training loss kept falling"
    )
    if big_gap and rising:
        return finding(
            "overfitting",
            Severity.WARN,
            f"The model overfits: {gap_text}, and {rise_text}.",
            evidence,
        )
    if big_gap:
        return finding(
            "overfitting",
            Severity.INFO,
            f"Train/validation gap: {gap_text}; validation loss is not rising yet.",
            evidence,
        )
    if rising:
        return finding(
            "overfitting",
            Severity.INFO,
            f"The {rise_text}, but the train/validation gap is small ({gap_text}).",
            evidence,
        )
    return finding("overfitting", Severity.PASSED, f"No overfitting sign: {gap_text}.", evidence)


def _class_shares(counts: Mapping[str, int] | None) -> dict[str, float]:
    total = sum(counts.values()) if counts else 0
    return {k: v / total for k, v in counts.items()} if total else {}


@check(
    "loss_accuracy_divergence",
    requires=["history"],
    remedy="Check the loss/output pairing (see loss_output_mismatch) and the metric variant; "
    "if the model collapsed onto one class, rebalance (class_weight), lower the learning rate "
    "or fix the output activation.",
    flat_tolerance=0.01,
    share_tolerance=0.02,
    min_epochs=3,
    min_loss_drop=0.10,
    zero_loss=1e-7,
    collapse_share=0.95,
)
def loss_accuracy_divergence(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """Loss moves (or is 0) while accuracy stays flat, e.g. at the share of one class.

    A flat accuracy is only suspicious at a degenerate level: the share of one class
    (every prediction is that class: collapse during training, also for a constant
    ``val_accuracy``) or 0. A model that is simply done learning is not flagged, and
    when the final validation predictions are spread over the classes (share of the
    most predicted class below ``collapse_share``) a flat curve is only ``info``.
    """
    history = ctx.history
    loss = _series(history, "loss")
    if loss is None:
        return None
    evidence: dict[str, Any] = {"epochs": len(loss), "loss_first": _r(loss[0], 6)}
    evidence["loss_last"] = _r(loss[-1], 6)
    if np.all(np.abs(loss) <= t["zero_loss"]):
        return finding(
            "loss_accuracy_divergence",
            Severity.FAIL,
            f"The training loss is 0 at every one of the {len(loss)} epochs: there is no "
            "gradient, so nothing was learned and the accuracy is whatever the initial "
            "weights give (typical of categorical cross-entropy on a 1-unit output).",
            evidence,
        )
    key = accuracy_key(history, ctx.model)
    if key is None or len(loss) < t["min_epochs"]:
        return finding(
            "loss_accuracy_divergence",
            Severity.PASSED,
            "The loss is not 0"
            + (" (no accuracy metric to compare)." if key is None else " (few epochs)."),
            evidence,
        )
    fit: FitSpec | None = ctx.fit
    labels = fit.labels if fit is not None else None
    # The validation predictions, when the adapter has them, confirm or refute a collapse.
    spread_out = ctx.eval.metrics.get("predicted_class_share_max") if ctx.eval is not None else None
    problems: list[tuple[Severity, str]] = []
    for prefix, counts in (
        ("", labels.train_counts if labels else None),
        ("val_", labels.val_counts if labels else None),
    ):
        acc, lss = _series(history, prefix + key), _series(history, prefix + "loss")
        if acc is None or lss is None or len(acc) < t["min_epochs"]:
            continue
        spread = float(acc.max() - acc.min())
        level = float(np.median(acc))
        drop = float((lss[0] - lss.min()) / abs(lss[0])) if lss[0] != 0 else 0.0
        shares = _class_shares(counts)
        near = {k: s for k, s in shares.items() if abs(level - s) <= t["share_tolerance"]}
        evidence[f"{prefix}{key}_range"] = [_r(acc.min()), _r(acc.max())]
        evidence[f"{prefix}loss_drop"] = _r(drop)
        if shares:
            evidence[f"{prefix}class_shares"] = {k: _r(s) for k, s in shares.items()}
        if spread > t["flat_tolerance"]:
            continue
        name = f"{prefix}{key}"
        moved = (
            f" while {prefix}loss went from {lss[0]:.4g} to {lss[-1]:.4g}"
            if drop >= t["min_loss_drop"]
            else ""
        )
        if level <= t["flat_tolerance"]:
            problems.append(
                (
                    Severity.WARN,
                    f"{name} is 0 at every epoch{moved}: the metric cannot be measuring the "
                    "task (see metric_disagreement)",
                )
            )
        elif near:
            cls = min(near, key=lambda k: abs(level - near[k]))
            text = (
                f"{name} stayed at {level:.3f} for all {len(acc)} epochs{moved}, which is "
                f"the share of class {cls} ({near[cls]:.3f})"
            )
            if spread_out is not None and spread_out < t["collapse_share"]:
                text += (
                    f", although the final predictions are spread over the classes (at most "
                    f"{spread_out:.0%} one class): accuracy hardly moved off the baseline"
                )
                problems.append((Severity.INFO, text))
            else:
                problems.append(
                    (
                        Severity.WARN,
                        text + ": the model predicts one class (collapse during training)",
                    )
                )
        elif moved and not shares and level < 0.99:
            problems.append(
                (
                    Severity.INFO,
                    f"{name} stayed at {level:.3f} for all {len(acc)} epochs{moved} "
                    "(class shares unknown, so a collapse could not be confirmed)",
                )
            )
    if problems:
        worst = max((s for s, _ in problems), key=lambda s: s.rank)
        return finding(
            "loss_accuracy_divergence",
            worst,
            "; ".join(text for _, text in problems) + ".",
            evidence,
        )
    return finding(
        "loss_accuracy_divergence",
        Severity.PASSED,
        "Loss and accuracy move together.",
        evidence,
    )


# -- metric_disagreement ---------------------------------------------------------------


def _align(y: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Keras' squeeze_or_expand_to_same_rank for the shapes a classifier produces."""
    if y.ndim == out.ndim:
        return (y, out) if y.shape == out.shape else None
    if y.ndim == out.ndim + 1 and y.shape[-1] == 1:
        return y.reshape(out.shape), out
    if out.ndim == y.ndim + 1 and out.shape[-1] == 1:
        return y.reshape((*y.shape, 1)), out
    return None


def keras_accuracy(
    metric: MetricSpec, preds: Predictions, weighted: bool | None = None
) -> float | None:
    """What Keras' resolved accuracy variant computes on these outputs (None: not emulable)."""
    y = np.asarray(preds.y_true, dtype=np.float64)
    out = np.asarray(preds.outputs, dtype=np.float64)
    if metric.variant == "binary_accuracy":
        pair = _align(y, out)
        if pair is None:
            return None
        y, out = pair
        hit = y == (out > (0.5 if metric.threshold is None else metric.threshold))
        per_row = hit.mean(axis=-1) if hit.ndim == 2 else hit.astype(np.float64)
    elif metric.variant == "categorical_accuracy":
        if out.ndim != 2 or y.ndim != 2 or y.shape != out.shape:
            return None
        per_row = (y.argmax(axis=1) == out.argmax(axis=1)).astype(np.float64)
    elif metric.variant == "sparse_categorical_accuracy":
        if out.ndim != 2:
            return None
        per_row = (y.reshape(-1) == out.argmax(axis=1)).astype(np.float64)
    else:
        return None
    use_weights = metric.weighted if weighted is None else weighted
    sw = preds.sample_weight if use_weights else None
    return float(np.average(per_row, weights=sw))


def decisions(outputs: np.ndarray, logits: bool) -> np.ndarray:
    """The class each row is predicted as: argmax, or the 0.5-probability cut for one unit."""
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim == 1 or out.shape[1] == 1:
        return (out.reshape(-1) > (0.0 if logits else 0.5)).astype(np.int64)
    return out.argmax(axis=1)


def true_accuracy(preds: Predictions, logits: bool, weighted: bool = False) -> float | None:
    """Accuracy as its name promises, from scikit-learn: correct class decisions per row."""
    idx = label_indices(preds.y_true)
    if idx is None or idx.shape[0] != preds.n:
        return None
    sw = preds.sample_weight if weighted else None
    return float(accuracy_score(idx, decisions(preds.outputs, logits), sample_weight=sw))


def _static_cause(
    m: MetricSpec, spec: ModelSpec, fit: FitSpec | None
) -> tuple[Severity, str] | None:
    """A configuration that makes Keras' number mean something else than its name."""
    units = spec.output_units
    if m.variant == "categorical_accuracy" and spec.output_rank == 1:
        return (
            Severity.FAIL,
            f"'{m.name}' resolved to categorical accuracy because the model output is rank-1 "
            "(shape (batch,)): it takes an argmax across the batch, not across classes, so "
            "the value has nothing to do with accuracy; give the output shape (batch, 1)",
        )
    if m.variant in ("categorical_accuracy", "sparse_categorical_accuracy") and units == 1:
        return (
            Severity.FAIL,
            f"'{m.name}' is {m.variant} on a single output unit: the argmax is always 0, so "
            "it measures the share of class 0, not the model; use binary accuracy",
        )
    labels = fit.labels if fit is not None else None
    exclusive = spec.output_activation == "softmax" or (
        labels is not None and labels.is_single_label
    )
    if m.variant == "binary_accuracy" and units and units > 1 and exclusive:
        # (Binary accuracy per unit is the right metric for multi-label sigmoid outputs.)
        return (
            Severity.FAIL,
            f"'{m.name}' is binary accuracy on a {units}-unit output: it averages yes/no "
            f"hits over all {units} units, so predicting nothing already scores "
            f"{(units - 1) / units:.0%}; use categorical_accuracy",
        )
    logits = spec.outputs_logits and spec.from_logits
    if m.variant == "binary_accuracy" and logits and m.threshold != 0.0:
        return (
            Severity.FAIL,
            f"'{m.name}' thresholds logits at {0.5 if m.threshold is None else m.threshold:g} "
            "(see logits_thresholded)",
        )
    if (
        m.weighted
        and not m.name.startswith("weighted_")
        and fit is not None
        and (fit.class_weight or fit.sample_weight)
    ):
        return (
            Severity.WARN,
            f"'{m.name}' is listed in weighted_metrics and logged under the plain name: it is "
            "weighted by "
            + ("class_weight" if fit.class_weight else "sample_weight")
            + " during training, so the training curve is not the plain accuracy",
        )
    return None


@check(
    "metric_disagreement",
    requires=["model"],
    remedy="Recompute the headline metric from predictions (sklearn.metrics) and name "
    "metrics explicitly (keras.metrics.BinaryAccuracy / CategoricalAccuracy / "
    "SparseCategoricalAccuracy) instead of 'accuracy'; report the epoch whose weights you keep.",
    tolerance=0.01,
    train_tolerance=0.03,
)
def metric_disagreement(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """The Keras-reported metric differs from the same metric recomputed from predictions.

    Each compiled accuracy-like metric is recomputed with scikit-learn from the final
    model's outputs on the validation data and compared with what Keras logged for the
    epoch whose weights the model holds. Known causes (wrong variant, threshold on
    logits, weighted metrics under the plain name, running means with dropout,
    EarlyStopping restores) are named.
    """
    spec: ModelSpec = ctx.model
    fit: FitSpec | None = ctx.fit
    history = ctx.history or {}
    if spec.n_outputs != 1 or not spec.is_classifier:
        return None
    items: list[tuple[Severity, str]] = []
    per_metric: dict[str, dict[str, Any]] = {}
    n_epochs = len(history.get("loss", []))
    e = _epoch_index(ctx, n_epochs) if n_epochs else None
    logits = spec.outputs_logits and spec.from_logits
    val = fit.validation_outputs if fit is not None else None
    train = fit.train_outputs if fit is not None else None
    for m in spec.accuracy_metrics:
        cause = _static_cause(m, spec, fit)
        info: dict[str, Any] = {"variant": m.variant, "weighted": m.weighted}
        per_metric[m.name] = info
        if cause:
            info["cause"] = cause[1]
        logged = _series(history, f"val_{m.name}")
        i = None if logged is None or e is None else val_index(ctx, e, n_epochs, len(logged))
        if val is not None and logged is not None and i is not None:
            truth = true_accuracy(val, logits)
            if truth is not None:
                emulated = keras_accuracy(m, val)
                diff = float(logged[i] - truth)
                info.update(
                    {
                        "keras_validation": _r(logged[i]),
                        "sklearn_validation": _r(truth),
                        "keras_emulated": _r(emulated),
                        "difference": _r(diff),
                    }
                )
                if abs(diff) > t["tolerance"]:
                    head = (
                        f"Keras logged val_{m.name} = {logged[i]:.3f} but the model's "
                        f"validation accuracy recomputed with scikit-learn is {truth:.3f}"
                    )
                    if cause:
                        items.append((cause[0], f"{head}: {cause[1]}"))
                    elif m.weighted and val.sample_weight is not None:
                        weighted = true_accuracy(val, logits, weighted=True)
                        items.append(
                            (
                                Severity.WARN,
                                f"{head}: '{m.name}' is in weighted_metrics, so Keras "
                                f"weights it by the validation sample weights "
                                f"(weighted accuracy {weighted:.3f}) under the plain name",
                            )
                        )
                    elif fit is not None and fit.validation_steps:
                        items.append(
                            (
                                Severity.INFO,
                                f"{head}: Keras validated on validation_steps="
                                f"{fit.validation_steps} batches only, not on all rows",
                            )
                        )
                    else:
                        items.append(
                            (
                                Severity.WARN,
                                f"{head}; no configuration explains the gap (custom layers "
                                "that behave differently at inference? a changed model?)",
                            )
                        )
                    continue
                if cause and cause[0] is Severity.WARN:
                    items.append(cause)
                continue
        if cause and not (cause[0] is Severity.FAIL and "logits_thresholded" in cause[1]):
            items.append(cause)
    items.extend(_training_notes(spec, fit, history, train, logits, t))
    restored = fit.restored_epoch if fit is not None else None
    if restored is not None and n_epochs and restored != n_epochs - 1:
        items.append((Severity.INFO, _restore_note(history, restored, n_epochs)))
    val_logged = any(f"val_{m.name}" in history for m in spec.accuracy_metrics)
    if fit is not None and val is None and val_logged:
        items.append(
            (
                Severity.INFO,
                "validation metrics not recomputed: "
                + (fit.data_note or "the validation data was not available"),
            )
        )
    evidence = {"metrics": per_metric, "judged_epoch": None if e is None else e + 1}
    if restored is not None:
        evidence["restored_epoch"] = restored + 1
    if not items:
        text = (
            "Every accuracy metric matches its recomputation."
            if any("sklearn_validation" in v for v in per_metric.values())
            else "No accuracy metric to recompute; no configuration problem found."
        )
        return finding("metric_disagreement", Severity.PASSED, text, evidence)
    items.sort(key=lambda item: -item[0].rank)
    return finding(
        "metric_disagreement",
        items[0][0],
        "; ".join(text for _, text in items) + ".",
        evidence,
    )


def _training_notes(
    spec: ModelSpec,
    fit: FitSpec | None,
    history: Mapping[str, Sequence[float]],
    train: Predictions | None,
    logits: bool,
    t: Mapping[str, float],
) -> list[tuple[Severity, str]]:
    """Training metrics are running means with dropout active: say so when it shows."""
    if train is None or fit is None:
        return []
    notes = []
    for m in spec.accuracy_metrics:
        logged = _series(history, m.name)
        truth = true_accuracy(train, logits)
        if logged is None or truth is None or _static_cause(m, spec, fit):
            continue
        e = fit.weights_epoch if fit.weights_epoch is not None else len(logged) - 1
        e = min(e, len(logged) - 1)
        if abs(truth - logged[e]) > t["train_tolerance"]:
            why = (
                f"with {', '.join(spec.stochastic_layers)} active"
                if spec.stochastic_layers
                else "while the weights were still changing"
            )
            notes.append(
                (
                    Severity.INFO,
                    f"training {m.name} {logged[e]:.3f} is a running mean over the epoch "
                    f"{why}; the final model scores {truth:.3f} on {train.n} training rows",
                )
            )
    return notes


def _restore_note(history: Mapping[str, Sequence[float]], restored: int, n: int) -> str:
    text = (
        f"EarlyStopping restored the weights of epoch {restored + 1} of {n}: the latest "
        f"values MLflow shows (epoch {n}) do not describe this model"
    )
    key = next((k for k in ("val_accuracy", "val_loss") if k in history), None)
    if key is not None:
        values = history[key]
        text += f" ({key} {values[restored]:.4g} at epoch {restored + 1}, {values[-1]:.4g} last)"
    return text


# -- label_shift -------------------------------------------------------------------------


@check(
    "label_shift",
    requires=["fit"],
    remedy="Split with stratification (train_test_split(..., stratify=y, shuffle=True)) and "
    "pass validation_data; validation_split takes the last rows before shuffling, so shuffle "
    "the data first.",
    alpha=0.01,
    warn_distance=0.10,
    fail_distance=0.50,
    min_expected=5,
)
def label_shift(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """Train and validation label distributions differ (unstratified or ordered split).

    A chi-square test says whether the difference is real; the total variation distance
    (half the sum of absolute share differences) says whether it is large enough to
    matter. Both must agree for a warning, so big data sets do not flag trivia.
    """
    fit: FitSpec = ctx.fit
    labels = fit.labels
    if not fit.data_readable:
        return finding(
            "label_shift",
            Severity.INFO,
            f"Data checks skipped: {fit.data_note or 'the data could not be read'}.",
            {"validation": fit.validation},
        )
    if labels is None or not labels.is_single_label:
        return None
    if labels.val_counts is None:
        if fit.validation == "none":
            return finding(
                "label_shift",
                Severity.INFO,
                "No validation data during fit, so there is no split to compare.",
                {"validation": fit.validation},
            )
        return None
    classes = sorted({*labels.train_counts, *labels.val_counts}, key=int)
    train = np.array([labels.train_counts.get(c, 0) for c in classes], dtype=np.float64)
    val = np.array([labels.val_counts.get(c, 0) for c in classes], dtype=np.float64)
    p_train, p_val = train / train.sum(), val / val.sum()
    distance = float(0.5 * np.abs(p_train - p_val).sum())
    expected_val = p_train * val.sum()
    missing = [
        c
        for c, exp, v in zip(classes, expected_val, val, strict=True)
        if v == 0 and exp >= t["min_expected"]
    ]
    if len(classes) > 1:
        chi2, p_value, _, _ = stats.chi2_contingency(np.vstack([train, val]))
    else:
        chi2, p_value = 0.0, 1.0
    evidence = {
        "validation": fit.validation,
        "train_shares": {c: _r(s) for c, s in zip(classes, p_train, strict=True)},
        "validation_shares": {c: _r(s) for c, s in zip(classes, p_val, strict=True)},
        "total_variation_distance": _r(distance),
        "chi2": _r(chi2),
        "p_value": float(p_value),
        "n_train": int(train.sum()),
        "n_validation": int(val.sum()),
        "classes_missing_from_validation": missing,
        "rows_ordered_by_label": labels.ordered,
    }
    why = ""
    if fit.validation == "validation_split" and labels.ordered:
        why = (
            f" validation_split={fit.validation_split:g} takes the last rows before shuffling, "
            "and the rows are ordered by label."
        )
    shares = ", ".join(
        f"{c}: {a:.0%}→{b:.0%}" for c, a, b in zip(classes, p_train, p_val, strict=True)
    )
    text = (
        f"Class shares differ between training and validation ({shares}; distance {distance:.2f})."
    )
    if missing or distance >= t["fail_distance"]:
        if missing:
            text = (
                f"Validation has no rows of class(es) {', '.join(missing)} although training "
                f"does ({shares})."
            )
        return finding("label_shift", Severity.FAIL, text + why, evidence)
    if p_value < t["alpha"] and distance >= t["warn_distance"]:
        return finding("label_shift", Severity.WARN, text + why, evidence)
    return finding(
        "label_shift",
        Severity.PASSED,
        f"Training and validation class shares agree (distance {distance:.2f}, "
        f"chi-square p={p_value:.2g}).",
        evidence,
    )

"""The learning curves: overfitting, and a loss that moves while accuracy does not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.checks.keras_semantics import (
    History,
    accuracy_key,
    judged_epoch,
    rounded,
    series,
)
from mlflow_sanity.checks.registry import Context, Outcome, check, passed, reaches
from mlflow_sanity.checks.training.evidence import predictions_vs_baseline
from mlflow_sanity.checks.training.notes import Note, class_shares, worst
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.keras_spec import FitSpec
from mlflow_sanity.core.task import ALL_TASKS, CLASS_TASKS

# -- overfitting -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sign:
    """One overfitting sign: whether it shows, how to say it, what was measured."""

    shows: bool
    text: str
    evidence: dict[str, Any]
    judged: bool = True  # False: the sign stood down (nothing comparable to measure)


def _unjudgeable(loss: np.ndarray, val_loss: np.ndarray | None) -> Outcome | None:
    """Curves that cannot be compared epoch by epoch (None: they can)."""
    if val_loss is not None and len(val_loss) != len(loss):
        return Outcome(
            Severity.INFO,
            f"Validation ran on {len(val_loss)} of {len(loss)} epochs (validation_freq): "
            "the curves are not compared epoch by epoch.",
            {"epochs": len(loss), "validation_epochs": len(val_loss)},
        )
    if val_loss is None:
        return Outcome(
            Severity.INFO,
            "No validation data during fit: training accuracy is measured on rows the model "
            "learned from, so overfitting cannot be seen. Pass validation_data.",
            {"epochs": len(loss)},
        )
    return None


def _weighting(fit: FitSpec | None) -> str | None:
    """What weights the training loss and not the validation loss (None: nothing)."""
    if fit is None:
        return None
    used = [
        name
        for name, on in (("class_weight", fit.class_weight), ("sample_weight", fit.sample_weight))
        if on
    ]
    return " and ".join(used) or None


def _train_val_gap(
    history: History,
    key: str | None,
    loss: np.ndarray,
    val_loss: np.ndarray,
    e: int,
    t: Mapping[str, float],
    weighting: str | None = None,
    custom: str = "",
) -> _Sign:
    """The accuracy gap at epoch ``e``, or the validation/training loss ratio without one.

    With ``class_weight``/``sample_weight`` Keras weights the training loss and not the
    validation loss (a 1/count weighting shrinks it by orders of magnitude), so the
    ratio compares unlike things: the sign stands down and says why. Accuracy metrics
    are unweighted, so the accuracy gap still counts.
    """
    acc = series(history, key) if key else None
    val_acc = series(history, f"val_{key}") if key else None
    if acc is not None and val_acc is not None and len(acc) == len(val_acc) == len(loss):
        gap = float(acc[e] - val_acc[e])
        return _Sign(
            reaches(gap, t["max_gap"], inclusive=True),
            f"{key} {acc[e]:.3f} on training vs {val_acc[e]:.3f} on validation",
            {"metric": key, "train": rounded(acc[e]), "validation": rounded(val_acc[e])}
            | {"gap": rounded(gap)},
        )
    if weighting is not None:
        return _Sign(
            False,
            f"the training loss is weighted by {weighting} and the validation loss is not, "
            "so their ratio is not compared (compile an accuracy metric to get the gap)",
            {"loss_ratio": None, "losses_comparable": False, "loss_weighting": weighting},
            judged=False,
        )
    if custom:  # the history's loss is whatever the custom train_step reported
        return _Sign(
            False,
            f"the logged training loss comes from a custom training loop ({custom}), so its "
            "ratio to the validation loss is not compared",
            {"loss_ratio": None, "losses_comparable": False, "custom_loop": custom},
            judged=False,
        )
    ratio = float(val_loss[e] / loss[e]) if loss[e] > 0 else float("inf")
    return _Sign(
        reaches(ratio, t["max_loss_ratio"], inclusive=True),
        f"validation loss {val_loss[e]:.4g} vs training loss {loss[e]:.4g}",
        {"loss_ratio": rounded(ratio) if np.isfinite(ratio) else None},
    )


def _val_loss_rise(loss: np.ndarray, val_loss: np.ndarray, e: int, t: Mapping[str, float]) -> _Sign:
    """Validation loss up by ``min_rise`` over ``patience`` epochs while training loss fell."""
    best = int(np.argmin(val_loss[: e + 1]))
    risen_to = val_loss[best] * (1 + t["min_rise"]) + 1e-12
    rising = (
        reaches(e - best, t["patience"], inclusive=True)
        and reaches(val_loss[e], risen_to)
        and loss[e] < loss[best]
    )
    evidence = {
        "best_val_loss_epoch": best + 1,
        "best_val_loss": rounded(val_loss[best]),
        "val_loss": rounded(val_loss[e]),
        "val_loss_rising": bool(rising),
    }
    text = (
        f"validation loss rose from {val_loss[best]:.4g} (epoch {best + 1}) to "
        f"{val_loss[e]:.4g} (epoch {e + 1}) while training loss kept falling"
    )
    return _Sign(rising, text, evidence)


@check(
    "overfitting",
    tasks=ALL_TASKS,
    flags=(
        "warn: train−validation accuracy gap (without an accuracy metric: "
        "validation/training loss ratio ≥ `max_loss_ratio`) ≥ `max_gap` **and** validation "
        "loss risen by `min_rise` over ≥ `patience` epochs while training loss fell (one "
        "sign alone: info); judged at the epoch whose weights the model holds; the loss "
        "ratio stands down (info) when `class_weight`/`sample_weight` weight only the "
        "training loss"
    ),
    requires=["history"],
    remedy="Stop earlier (EarlyStopping(monitor='val_loss', restore_best_weights=True)), add "
    "regularisation (dropout, weight decay, data augmentation) or use a smaller model or "
    "more data.",
    max_gap=0.10,
    max_loss_ratio=2.0,
    patience=5,
    min_rise=0.05,
)
def overfitting(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Large train/validation gap and validation loss rising while training loss falls.

    Either sign alone is ``info``: a gap with a still-falling validation loss is often
    fine, and a noisy validation loss rises now and then. Both together are a warning.
    The model is judged at the epoch whose weights it holds (after EarlyStopping restores).
    Without an accuracy metric the gap is the validation/training loss ratio, which
    stands down (info, saying why) when ``class_weight``/``sample_weight`` weight only the
    training loss.
    """
    history = ctx.history
    loss, val_loss = series(history, "loss"), series(history, "val_loss")
    if loss is None:
        return None
    unjudgeable = _unjudgeable(loss, val_loss)
    if unjudgeable is not None:
        return unjudgeable
    e = judged_epoch(ctx.fit, len(loss))
    key = accuracy_key(history, ctx.model)
    custom = ctx.model.custom_loop if ctx.model is not None else ""
    gap = _train_val_gap(history, key, loss, val_loss, e, t, _weighting(ctx.fit), custom)
    rise = _val_loss_rise(loss, val_loss, e, t)
    evidence = {"epochs": len(loss), "judged_epoch": e + 1, **gap.evidence, **rise.evidence}
    if gap.shows and rise.shows:
        return Outcome(Severity.WARN, f"The model overfits: {gap.text}, and {rise.text}.", evidence)
    if gap.shows:
        text = f"Train/validation gap: {gap.text}; validation loss is not rising yet."
        return Outcome(Severity.INFO, text, evidence)
    if not gap.judged:
        seen = f"The {rise.text}" if rise.shows else "The validation loss is not rising"
        return Outcome(Severity.INFO, f"{seen}; {gap.text}.", evidence)
    if rise.shows:
        text = f"The {rise.text}, but the train/validation gap is small ({gap.text})."
        return Outcome(Severity.INFO, text, evidence)
    return passed(f"No overfitting sign: {gap.text}.", evidence)


# -- loss_accuracy_divergence ------------------------------------------------------------


@dataclass(frozen=True)
class _Curve:
    """One accuracy curve and its loss (``prefix`` ``""`` for training, ``val_``)."""

    prefix: str
    name: str
    acc: np.ndarray
    loss: np.ndarray
    shares: dict[str, float]
    start: int = 0  # the first judged epoch (a final plateau), 0-based

    @property
    def epochs_text(self) -> str:
        n = len(self.acc)
        return f"all {n} epochs" if not self.start else f"the last {n} of {n + self.start} epochs"

    @property
    def spread(self) -> float:
        return float(self.acc.max() - self.acc.min())

    @property
    def level(self) -> float:
        return float(np.median(self.acc))

    @property
    def loss_drop(self) -> float:
        """The loss's best relative drop from its first epoch."""
        first = self.loss[0]
        return float((first - self.loss.min()) / abs(first)) if first != 0 else 0.0

    def evidence(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            f"{self.name}_range": [rounded(self.acc.min()), rounded(self.acc.max())],
            f"{self.prefix}loss_drop": rounded(self.loss_drop),
        }
        if self.start:
            found[f"{self.name}_plateau_from_epoch"] = self.start + 1
        if self.shares:
            found[f"{self.prefix}class_shares"] = {k: rounded(s) for k, s in self.shares.items()}
        return found


def _curves(
    history: History, key: str, fit: FitSpec | None, t: Mapping[str, float]
) -> list[_Curve]:
    """The training and validation accuracy curves long enough to judge, each cut to its
    final plateau when that plateau is most of training (whatever the first epochs did)."""
    labels = fit.labels if fit is not None else None
    curves = []
    for prefix, counts in (
        ("", labels.train_counts if labels else None),
        ("val_", labels.val_counts if labels else None),
    ):
        acc, loss = series(history, prefix + key), series(history, prefix + "loss")
        if acc is None or loss is None or reaches(len(acc), t["min_epochs"], below=True):
            continue
        start = _plateau_start(acc, t)
        curves.append(
            _Curve(prefix, prefix + key, acc[start:], loss[start:], class_shares(counts), start)
        )
    return curves


def _plateau_start(acc: np.ndarray, t: Mapping[str, float]) -> int:
    """Where the final stretch of epochs with (nearly) the same accuracy starts, when it
    covers at least ``min_plateau_share`` of the epochs; else 0 (judge the whole curve).

    A collapse often shows only after a few epochs of noise: 0.5385 for 143 of 150 epochs
    is a plateau at a class share even if the first epochs moved."""
    final = acc[-1]
    off = np.flatnonzero(np.abs(acc - final) > t["flat_tolerance"] / 2)
    start = int(off[-1]) + 1 if off.size else 0
    plateau = len(acc) - start
    long_enough = reaches(plateau / len(acc), t["min_plateau_share"], inclusive=True)
    return start if long_enough and not reaches(plateau, t["min_epochs"], below=True) else 0


def _flat_note(c: _Curve, spread_out: float | None, t: Mapping[str, float]) -> Note | None:
    """What a flat accuracy curve means: 0, one class's share, or unknown (None: not flat)."""
    if reaches(c.spread, t["flat_tolerance"]):
        return None
    moved = (
        f" while {c.prefix}loss went from {c.loss[0]:.4g} to {c.loss[-1]:.4g}"
        if reaches(c.loss_drop, t["min_loss_drop"], inclusive=True)
        else ""
    )
    if reaches(c.level, t["flat_tolerance"], below=True, inclusive=True):
        return Note(
            Severity.WARN,
            f"{c.name} is 0 {'at every epoch' if not c.start else 'for ' + c.epochs_text}{moved}: "
            "the metric cannot be measuring the "
            "task (see metric_disagreement)",
        )
    near = {
        k: s
        for k, s in c.shares.items()
        if reaches(abs(c.level - s), t["share_tolerance"], below=True, inclusive=True)
    }
    if near:
        return _share_note(c, near, moved, spread_out, t)
    if moved and not c.shares and c.level < 0.99:
        return Note(
            Severity.INFO,
            f"{c.name} stayed at {c.level:.3f} for {c.epochs_text}{moved} "
            "(class shares unknown, so a collapse could not be confirmed)",
        )
    return None


def _share_note(
    c: _Curve,
    near: Mapping[str, float],
    moved: str,
    spread_out: float | None,
    t: Mapping[str, float],
) -> Note:
    """Accuracy flat at a class's share: a collapse, unless the final predictions are spread."""
    cls = min(near, key=lambda k: abs(c.level - near[k]))
    text = (
        f"{c.name} stayed at {c.level:.3f} for {c.epochs_text}{moved}, which is "
        f"the share of class {cls} ({near[cls]:.3f})"
    )
    if spread_out is not None and reaches(spread_out, t["collapse_share"], below=True):
        return Note(
            Severity.INFO,
            f"{text}, although the final predictions are spread over the classes (at most "
            f"{spread_out:.0%} one class): accuracy hardly moved off the baseline",
        )
    return Note(Severity.WARN, f"{text}: the model predicts one class (collapse during training)")


def _zero_loss(
    ctx: Context, epochs: int, evidence: dict[str, Any], t: Mapping[str, float]
) -> Outcome:
    """A logged loss of 0 at every epoch, judged against the predictions: "nothing was
    learned" only when they agree (no better than the majority baseline)."""
    seen = f"The logged training loss is 0 at every one of the {epochs} epochs"
    learned = predictions_vs_baseline(ctx)
    custom = ctx.model.custom_loop if ctx.model is not None else ""
    if learned is not None:
        evidence.update(learned.evidence())
    if learned is not None and learned.shows(t["alpha"]):
        return Outcome(
            Severity.INFO,
            f"{seen}, but {learned.text}: the model did learn, so the logged loss is not the "
            "loss it trained on (see metric_disagreement).",
            evidence,
        )
    if learned is None and custom:
        return Outcome(
            Severity.WARN,
            f"{seen}; {custom}, so the history may not hold its training loss, and there are "
            "no predictions to tell whether it learned.",
            evidence,
        )
    return Outcome(
        Severity.FAIL,
        f"{seen}: there is no gradient, so nothing was learned and the accuracy is whatever "
        "the initial weights give (typical of categorical cross-entropy on a 1-unit output)"
        + (f"; {learned.text}." if learned is not None else "."),
        evidence,
    )


@check(
    "loss_accuracy_divergence",
    tasks=CLASS_TASKS,
    flags=(
        "fail: training loss 0 at every epoch and no prediction beats the majority baseline "
        "(one-sided binomial test, p < `alpha`; info when they do, warn when there are no "
        "predictions and the model trains through its own `train_step`); warn: accuracy "
        "flat at one class's share or at 0 (collapse during training, constant "
        "`val_accuracy`), judged on the final plateau when it covers ≥ "
        "`min_plateau_share` of the epochs (whatever the first epochs did)"
    ),
    requires=["history"],
    reads=["eval", "multilabel", "model", "fit"],
    remedy="Check the loss/output pairing (see loss_output_mismatch) and the metric variant; "
    "if the model collapsed onto one class, rebalance (class_weight), lower the learning rate "
    "or fix the output activation.",
    flat_tolerance=0.01,
    share_tolerance=0.02,
    min_epochs=3,
    min_plateau_share=0.5,
    min_loss_drop=0.10,
    zero_loss=1e-7,
    collapse_share=0.95,
    alpha=0.05,
)
def loss_accuracy_divergence(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Loss moves (or is 0) while accuracy stays flat, e.g. at the share of one class.

    A flat accuracy is only suspicious at a degenerate level: the share of one class
    (every prediction is that class: collapse during training, also for a constant
    ``val_accuracy``) or 0. A model that is simply done learning is not flagged, and
    when the final validation predictions are spread over the classes (share of the
    most predicted class below ``collapse_share``) a flat curve is only ``info``.
    """
    history = ctx.history
    loss = series(history, "loss")
    if loss is None:
        return None
    evidence: dict[str, Any] = {"epochs": len(loss), "loss_first": rounded(loss[0], 6)}
    evidence["loss_last"] = rounded(loss[-1], 6)
    if reaches(float(np.abs(loss).max()), t["zero_loss"], below=True, inclusive=True):
        return _zero_loss(ctx, len(loss), evidence, t)
    key = accuracy_key(history, ctx.model)
    if key is None or reaches(len(loss), t["min_epochs"], below=True):
        why = " (no accuracy metric to compare)." if key is None else " (few epochs)."
        return passed("The loss is not 0" + why, evidence)
    # The validation predictions, when the adapter has them, confirm or refute a collapse.
    spread_out = ctx.eval.metrics.get("predicted_class_share_max") if ctx.eval is not None else None
    notes = []
    for curve in _curves(history, key, ctx.fit, t):
        evidence.update(curve.evidence())
        note = _flat_note(curve, spread_out, t)
        if note is not None:
            notes.append(note)
    if notes:
        return worst(notes, evidence, by_severity=False)
    return passed("Loss and accuracy move together.", evidence)

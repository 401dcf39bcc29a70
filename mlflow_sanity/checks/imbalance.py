"""Checks on one evaluation set: is the headline accuracy meaningful at all?"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mlflow_sanity.checks import multilabel
from mlflow_sanity.checks.corrected import balanced
from mlflow_sanity.checks.leakage_verdict import leakage_clean, leakage_verdict
from mlflow_sanity.checks.registry import Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.checks.regression import regression_collapse
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.metrics import Classification
from mlflow_sanity.core.task import CLASS_TASKS, SINGLE_LABEL, Task

# A tagger's real tokens are one classification: every single-label check holds for them.
TOKEN_OR_SINGLE = SINGLE_LABEL | {Task.SEQUENCE}
_WATCH = "Report balanced accuracy, MCC, macro F1 and per-class recall instead of accuracy."


def _share(c: Classification, counts: np.ndarray) -> dict[str, float]:
    return {c.label_str(i): round(float(v) / c.n, 4) for i, v in enumerate(counts)}


@check(
    "single_class_eval",
    tasks=TOKEN_OR_SINGLE,
    flags=("fail: the evaluation labels hold one class"),
    requires=["eval"],
    remedy="Split with stratification (train_test_split(..., stratify=y) or StratifiedKFold) "
    "so that every class occurs in the evaluation data.",
)
def single_class_eval(ctx: Context, t: Mapping[str, float]) -> Outcome:
    """The evaluation labels hold one class: accuracy is meaningless."""
    c: Classification = ctx.eval
    present = [c.label_str(i) for i in c.present]
    evidence = {"classes_present": present, "n_rows": c.n}
    if len(present) == 1:
        return Outcome(
            Severity.FAIL,
            f"Every one of the {c.n} evaluation {c.unit} has label {present[0]!r}: any model that "
            f"predicts {present[0]!r} scores 100%, so accuracy says nothing.",
            evidence,
        )
    return passed(f"{len(present)} classes present.", evidence)


@check(
    "class_imbalance",
    tasks=CLASS_TASKS,
    flags=(
        "info when the rarest class's share × k (k classes present; 1.0 = a fair 1/k share) "
        "is < 2 × `info_share`; warn below 2 × `warn_share` (the thresholds are binary-task "
        'shares: with 2 classes the rule is "rarest < 10% / 1% of rows"); multi-label: '
        "each label's positive share, the same rule"
    ),
    requires=[],
    one_of=["eval", "multilabel"],
    remedy="Use class_weight or resampling on the training data and tune the decision "
    "threshold. " + _WATCH,
    info_share=0.10,
    warn_share=0.01,
)
def class_imbalance(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The rarest class is a small share of the evaluation set, for its number of classes.

    The share is judged against what the number of classes k implies: the rarest share
    times k (1.0 when every class has 1/k of the rows) against 2 x ``info_share`` /
    ``warn_share``. The thresholds are the shares of a binary task (where the rule is
    exactly "rarest class < 10% / 1% of the rows"); with 200 balanced classes each class
    is 0.5% of the rows and that is no imbalance.
    Imbalance is context (info) on its own: the harm it does is flagged by
    ``prediction_collapse``, ``minority_class_missed`` and ``accuracy_at_baseline``.
    Only an extreme share is a warning, because then accuracy cannot move at all.
    """
    if ctx.multilabel is not None:
        return multilabel.per_label(ctx, t, class_imbalance, "class_imbalance")
    c: Classification = ctx.eval
    if len(c.present) < 2:
        return None
    counts = c.true_counts
    k = len(c.present)
    rare = int(c.present[np.argmin(counts[c.present])])
    share = counts[rare] / c.n
    ratio = float(share * k)  # the rarest share relative to a uniform 1/k
    evidence = {
        "class_shares": _share(c, counts),
        "n_classes": k,
        "rarest_class": c.label_str(rare),
        "rarest_share": round(float(share), 4),
        "rarest_share_vs_uniform": round(ratio, 4),
        "rarest_recall": round(c.per_class[rare]["recall"], 4),
    }
    text = (
        f"Class {c.label_str(rare)!r} is only {share:.1%} of the evaluation {c.unit} "
        f"({ratio:.2f} x the 1/{k} of {k} balanced classes): accuracy "
        f"mostly measures the other classes; watch balanced accuracy "
        f"({c.metrics.get('balanced_accuracy', 0):.3f}) and MCC instead."
    )
    # x2: the thresholds are binary-task shares, i.e. ratios to a uniform 1/2
    severity = grade(ratio, warn=2 * t["warn_share"], info=2 * t["info_share"], below=True)
    if severity is Severity.PASSED:
        return passed("Classes are reasonably balanced.", evidence)
    # info is context; only a flagged imbalance makes accuracy the wrong headline
    return Outcome(severity, text, evidence, corrected=balanced(ctx) if severity.flagged else None)


@check(
    "prediction_collapse",
    tasks=CLASS_TASKS | {Task.REGRESSION},
    flags=(
        "fail: every prediction is one class; warn: ≥ `warn_share` of predictions are one "
        "class and the others are predicted at < `min_rate_ratio` of their true rate; "
        "multi-label: the same rule per label (a label never or always predicted); "
        "a regressor: fail when every prediction is one value, warn when their std is "
        "< `spread_ratio` × the targets'"
    ),
    requires=[],
    one_of=["eval", "multilabel", "regression"],
    judges_training_rows=True,
    remedy="Rebalance training (class_weight, resampling), check the output activation and loss, "
    "and lower the learning rate if the model collapsed during training.",
    warn_share=0.95,
    min_rate_ratio=0.1,
    spread_ratio=0.05,
)
def prediction_collapse(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """(Nearly) all predictions are one class while labels have several."""
    if ctx.multilabel is not None:
        return multilabel.per_label(ctx, t, prediction_collapse, "prediction_collapse")
    if ctx.eval is None:  # a regressor: (nearly) constant predictions
        return regression_collapse(ctx.regression, t)
    c: Classification = ctx.eval
    if len(c.present) < 2:
        return None
    pred = c.pred_counts
    top = int(np.argmax(pred))
    share = pred[top] / c.n
    others_true = 1 - c.true_counts[top] / c.n
    # How often the model predicts "anything else", relative to how often it should.
    rate_ratio = (1 - share) / others_true if others_true > 0 else 1.0
    evidence = {
        "predicted_shares": _share(c, pred),
        "true_shares": _share(c, c.true_counts),
        "top_predicted_class": c.label_str(top),
        "other_classes_rate_ratio": round(float(rate_ratio), 4),
    }
    if (pred > 0).sum() == 1:
        return Outcome(
            Severity.FAIL,
            f"The model predicts {c.label_str(top)!r} for all {c.n} {c.unit} although the labels "
            f"hold {len(c.present)} classes: it has learned the class prior, not the task.",
            evidence,
            corrected=balanced(ctx),
        )
    dominant = grade(share, warn=t["warn_share"], inclusive=True)
    starved = grade(rate_ratio, warn=t["min_rate_ratio"], below=True)
    if dominant is Severity.WARN and starved is Severity.WARN:
        return Outcome(
            Severity.WARN,
            f"{share:.1%} of predictions are {c.label_str(top)!r}; the other classes are "
            f"predicted {rate_ratio:.0%} as often as they occur.",
            evidence,
            corrected=balanced(ctx),
        )
    return passed("Predictions spread over the classes.", evidence)


@check(
    "minority_class_missed",
    tasks=CLASS_TASKS,
    flags=(
        "fail/warn: a class with ≥ `min_support` rows has recall ≤ `fail_recall` / "
        "`warn_recall` (multi-label: per label)"
    ),
    requires=[],
    one_of=["eval", "multilabel"],
    judges_training_rows=True,
    remedy="Use class_weight or resampling and tune the decision threshold on validation "
    "data. " + _WATCH,
    fail_recall=0.05,
    warn_recall=0.2,
    min_support=5,
)
def minority_class_missed(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Some class has recall at or near 0."""
    if ctx.multilabel is not None:
        return multilabel.per_label(ctx, t, minority_class_missed, "minority_class_missed")
    c: Classification = ctx.eval
    if len(c.present) < 2:
        return None
    recalls = {c.label_str(i): round(c.per_class[i]["recall"], 4) for i in c.present}

    def worst(classes: list[int]) -> int:
        return min(classes, key=lambda i: c.per_class[i]["recall"])

    def severity(i: int) -> Severity:
        recall = c.per_class[i]["recall"]
        return grade(
            recall, fail=t["fail_recall"], warn=t["warn_recall"], below=True, inclusive=True
        )

    supported = [int(i) for i in c.present if c.per_class[i]["support"] >= t["min_support"]]
    # Judge on classes with enough rows; a miss on a 2-row class is only context.
    judged = worst(supported) if supported else None
    shown = worst([int(i) for i in c.present])
    if judged is not None and severity(judged).flagged:
        shown = judged
    recall, support = c.per_class[shown]["recall"], c.per_class[shown]["support"]
    evidence = {"recall_per_class": recalls, "worst_class": c.label_str(shown), "support": support}
    text = (
        f"Recall of class {c.label_str(shown)!r} is {recall:.2f} ({support} {c.unit}): the model "
        f"misses {1 - recall:.0%} of it while accuracy is {c.metrics['accuracy']:.2f}."
    )
    verdict = severity(shown)
    if not verdict.flagged:
        return passed(f"Lowest class recall is {recall:.2f}.", evidence)
    if shown != judged:
        return Outcome(Severity.INFO, f"{text} Too few {c.unit} to judge.", evidence)
    return Outcome(verdict, text, evidence)


@check(
    "accuracy_at_baseline",
    tasks=CLASS_TASKS,
    flags=(
        "fail: accuracy ≤ majority-class share and the predictions carry no information "
        "about the labels (chi-square test on the confusion matrix, p ≥ `alpha`); warn: "
        "accuracy ≤ the share although the predictions are informative (accuracy is the "
        "wrong headline), or above it but a one-sided binomial test gives p ≥ `alpha`; "
        "multi-label: binary accuracy over the (row, label) cells against predicting no label"
    ),
    requires=[],
    one_of=["eval", "multilabel"],
    judges_training_rows=True,
    remedy="Compare against the majority-class baseline (sklearn DummyClassifier). " + _WATCH,
    alpha=0.05,
)
def accuracy_at_baseline(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Accuracy is not significantly above the majority-class baseline (one-sided binomial test).

    At or below the baseline it fails only when the predictions carry no information
    about the labels (chi-square test); a model that trades majority accuracy for
    minority recall (oversampling, class weights) is informative, and gets a warning.
    """
    if ctx.multilabel is not None:
        return multilabel.at_baseline(ctx, t, accuracy_at_baseline)
    c: Classification = ctx.eval
    m = c.metrics
    if "accuracy_vs_baseline_p_value" not in m:
        return None
    acc, base, p = m["accuracy"], m["majority_baseline_accuracy"], m["accuracy_vs_baseline_p_value"]
    informative = grade(m["association_p_value"], warn=t["alpha"], below=True).flagged
    significant = grade(p, warn=t["alpha"], below=True).flagged
    evidence = {
        "accuracy": acc,
        "majority_baseline": base,
        "p_value": p,
        "association_p_value": m["association_p_value"],
        "balanced_accuracy": m.get("balanced_accuracy"),
        "n_rows": c.n,
    }
    if acc <= base and informative:
        return Outcome(
            Severity.WARN,
            f"Accuracy {acc:.3f} is no better than always predicting the majority class "
            f"({base:.3f}), although the predictions do carry information (balanced accuracy "
            f"{m.get('balanced_accuracy', 0):.3f}): accuracy is the wrong headline here.",
            evidence,
            corrected=balanced(ctx),
        )
    if acc <= base:
        return Outcome(
            Severity.FAIL,
            f"Accuracy {acc:.3f} is no better than always predicting the majority class "
            f"({base:.3f}): the number reflects the class balance, not the model.",
            evidence,
            corrected=balanced(ctx),
        )
    if not significant:
        return Outcome(
            Severity.WARN,
            f"Accuracy {acc:.3f} is above the majority baseline {base:.3f}, but not "
            f"significantly (binomial test p={p:.3g}, {c.n} {c.unit}).",
            evidence,
            corrected=balanced(ctx),
        )
    return passed(
        f"Accuracy {acc:.3f} beats the majority baseline {base:.3f} (p={p:.2g}).", evidence
    )


@check(
    "small_eval_set",
    tasks=TOKEN_OR_SINGLE,
    flags=(
        "warn: Wilson 95% interval wider than `max_ci_width`, or a perfect score on < "
        "`min_rows_for_perfect` rows (info when the leakage checks ran clean, as for "
        "`perfect_score`)"
    ),
    requires=["eval"],
    remedy="Evaluate on more rows (a larger held-out set or cross-validation) and report the "
    "confidence interval with the score.",
    max_ci_width=0.2,
    min_rows_for_perfect=100,
)
def small_eval_set(ctx: Context, t: Mapping[str, float]) -> Outcome:
    """The accuracy interval is too wide to trust, or a perfect score rests on few rows.

    A perfect score on few rows is a warning unless the leakage checks ran on this
    evaluation set and found nothing (see ``perfect_score``): then it is context (info).
    """
    c: Classification = ctx.eval
    m = c.metrics
    low, high = m["accuracy_ci_low"], m["accuracy_ci_high"]
    evidence = {"n_rows": c.n, "accuracy": m["accuracy"], "ci_low": low, "ci_high": high}
    if m["accuracy"] == 1.0 and grade(c.n, warn=t["min_rows_for_perfect"], below=True).flagged:
        clean = leakage_clean(leakage_verdict(ctx))
        return Outcome(
            Severity.INFO if clean else Severity.WARN,
            f"A perfect score on only {c.n} {c.unit}: the 95% interval still reaches down to "
            f"{low:.2f}" + (" (the leakage checks found nothing)." if clean else "."),
            evidence,
        )
    if grade(high - low, warn=t["max_ci_width"]).flagged:
        return Outcome(
            Severity.WARN,
            f"With {c.n} {c.unit} the 95% interval of accuracy is [{low:.2f}, {high:.2f}], "
            f"{high - low:.2f} wide: the score cannot tell good models from bad.",
            evidence,
        )
    return passed(f"{c.n} {c.unit}; accuracy 95% interval [{low:.3f}, {high:.3f}].", evidence)


@check(
    "perfect_score",
    tasks=TOKEN_OR_SINGLE,
    flags=(
        "warn: accuracy or ROC-AUC ≥ `score`; info instead when the leakage checks ran on "
        "this data (training data or a logged fingerprint) and flagged nothing **and** the "
        "separation margin is ≥ `min_margin`"
    ),
    requires=["eval"],
    remedy="Before celebrating, check for leakage: duplicates across splits, scalers fitted "
    "before the split, features that encode the label, evaluating on training data.",
    score=1.0,
    min_margin=0.1,
)
def perfect_score(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Accuracy or AUC is 1.0: check for leakage before celebrating.

    A warning, unless the leakage checks ran on this evaluation set (training data or a
    logged training fingerprint was given) and found nothing, and the classes are
    separated by a wide margin (``separation_margin`` >= ``min_margin``): then an honest
    easy task is context (info), not a warning.
    """
    c: Classification = ctx.eval
    if len(c.present) < 2:
        return None  # single_class_eval says it better
    scores = {k: c.metrics[k] for k in ("accuracy", "roc_auc") if k in c.metrics}
    perfect = {k: v for k, v in scores.items() if grade(v, warn=t["score"], inclusive=True).flagged}
    if not perfect:
        return passed(f"No score at or above {t['score']:g}.", scores)
    said = " and ".join(f"{k} = {v:.4g}" for k, v in perfect.items())
    said = f"{said} on {c.n} {c.unit} (at or above {t['score']:g})"
    margin = separation_margin(c)
    verdict = leakage_verdict(ctx)
    evidence = {**scores, "separation_margin": None if margin is None else round(margin, 4)}
    evidence["leakage_checks"] = verdict.evidence() if verdict is not None else None
    wide = margin is not None and reaches(margin, t["min_margin"], inclusive=True)
    if leakage_clean(verdict) and wide:
        return Outcome(
            Severity.INFO,
            f"{said}, and the leakage checks found nothing; the classes' scores are "
            f"separated by {margin:.2f}: an easy task, honestly scored.",
            evidence,
        )
    why = (
        "the leakage checks could not run (no training data or training fingerprint)"
        if verdict is None
        else f"leakage check(s) flagged this data ({', '.join(verdict.flagged)})"
        if verdict.flagged
        else f"the leakage checks did not clear it ({'; '.join(verdict.gaps)})"
        if not verdict.clean
        else f"the classes' scores are separated by only {margin:.2g} (< {t['min_margin']:g})"
        if margin is not None
        else "there are no probabilities to measure the margin"
    )
    return Outcome(
        Severity.WARN,
        f"{said}; {why}. Real-world tasks are rarely perfectly separable: rule out leakage first.",
        evidence,
    )


def separation_margin(c: Classification) -> float | None:
    """How far apart the classes' scores are: for each class, its lowest probability on
    its own rows minus its highest on the other rows; the smallest over the classes.

    >= 0 exactly when every class is perfectly ranked (one-vs-rest ROC-AUC 1.0); binary
    tasks get min(positive score) - max(negative score). None without probabilities.
    """
    if c.proba is None:
        return None
    gaps = []
    for k in c.present:
        own = c.y_true == k
        if own.all():
            continue
        gaps.append(float(c.proba[own, k].min() - c.proba[~own, k].max()))
    return min(gaps) if gaps else None


@check(
    "uncalibrated",
    tasks=TOKEN_OR_SINGLE,
    flags=(
        "on ≥ `min_rows` rows with expected calibration error (15 bins) > `max_ece`: warn "
        "when the over-confident part alone is > `max_ece`, else info (under-confident); the "
        "evidence names the direction"
    ),
    requires=["eval"],
    remedy="Calibrate probabilities on validation data (temperature scaling, "
    "sklearn CalibratedClassifierCV) before using them as confidences or thresholds.",
    max_ece=0.15,
    min_rows=100,
)
def uncalibrated(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Predicted probabilities are badly calibrated (high expected calibration error).

    The ECE is split by direction (``Calibration.split``): the bins where confidence
    exceeds the hit rate (over-confident) and those where it falls short. Only
    over-confidence misleads a decision (a predicted 95% that is right 70% of the time),
    so a warning needs the over-confident part alone above ``max_ece``; a high ECE that
    is mostly under-confidence (typical after short training) is info.
    """
    c: Classification = ctx.eval
    calibration = c.calibration  # set with the ``ece`` metric, whenever there are probabilities
    if "ece" not in c.metrics or calibration is None:
        return None
    ece = c.metrics["ece"]
    over, under = calibration.split()
    direction = "over-confident" if over >= under else "under-confident"
    evidence = {
        "ece": ece,
        "overconfidence": round(over, 4),
        "underconfidence": round(under, 4),
        "direction": direction,
        "mean_confidence": round(calibration.mean_confidence, 4),
        "accuracy": c.metrics["accuracy"],
        "brier_score": c.metrics.get("brier_score"),
        "n_rows": c.n,
    }
    enough_rows = not grade(c.n, warn=t["min_rows"], below=True).flagged
    if not (enough_rows and grade(ece, warn=t["max_ece"]).flagged):
        return passed(f"ECE {ece:.3f} (mostly {direction}).", evidence)
    if grade(over, warn=t["max_ece"]).flagged:
        return Outcome(
            Severity.WARN,
            f"The probabilities are over-confident (expected calibration error {ece:.3f}, "
            f"{over:.3f} of it from confidence above the hit rate): a predicted 90% is often "
            "right far less than 90% of the time, so thresholds and confidences read from "
            "them mislead.",
            evidence,
        )
    return Outcome(
        Severity.INFO,
        f"The probabilities are {direction} (expected calibration error {ece:.3f}; "
        f"over-confident part {over:.3f}, under-confident part {under:.3f}): "
        + (
            "the model is right more often than its confidence says: decisions taken at a "
            "confidence threshold are conservative, not misled."
            if direction == "under-confident"
            else "miscalibrated in both directions, with no over-confidence above the limit."
        ),
        evidence,
    )

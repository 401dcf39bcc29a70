"""The imbalance checks on a multi-label evaluation: the same ids, judged per label.

A multi-label model is k binary tasks at once. Each imbalance check keeps its meaning
per label: it runs its own single-label rule on each label's binary ``Classification``
(``MultiLabel.by_label``) with the same thresholds, and one finding names the labels it
flagged. ``accuracy_at_baseline`` judges Keras' own number, the binary accuracy over
every (row, label) cell, against predicting each label's majority value (no label at
all when the labels are rare), on the pooled cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from mlflow_sanity.checks.registry import Context, Outcome, passed
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.multilabel import MultiLabel

Body = Callable[[Context, Mapping[str, float]], "Outcome | None"]
_MAX_NAMED = 8  # labels named in a message; the evidence holds them all


def _name(ml: MultiLabel, j: int) -> str:
    return repr(ml.labels[j])


def _collapse_phrase(ml: MultiLabel, j: int, o: Outcome) -> str:
    predicted, support = int(ml.y_pred[:, j].sum()), int(ml.positives[j])
    if predicted == 0:
        return f"{_name(ml, j)} never predicted ({support} rows carry it)"
    if predicted == ml.n:
        return f"{_name(ml, j)} predicted for every row ({support} of {ml.n} carry it)"
    return f"{_name(ml, j)} predicted {predicted} times for {support} rows"


def _missed_phrase(ml: MultiLabel, j: int, o: Outcome) -> str:
    c = ml.by_label[j]
    side = int(o.evidence.get("worst_class", "1"))
    recall, support = c.per_class[side]["recall"], c.per_class[side]["support"]
    what = "recall" if side == 1 else "recall of its negatives"
    return f"{_name(ml, j)} {what} {recall:.2f} ({support} rows)"


def _imbalance_phrase(ml: MultiLabel, j: int, o: Outcome) -> str:
    return f"{_name(ml, j)} {ml.positives[j] / ml.n:.1%} positive ({int(ml.positives[j])} rows)"


_PHRASES = {
    "prediction_collapse": (_collapse_phrase, "collapsed: "),
    "minority_class_missed": (_missed_phrase, "missed: "),
    "class_imbalance": (_imbalance_phrase, "rare: "),
}
_AFTER = {
    "prediction_collapse": "a label that is never (or always) predicted has been given up on, "
    "and Keras' binary accuracy counts every unpredicted negative as a hit",
    "minority_class_missed": "the model misses these labels while binary accuracy is {acc:.3f}",
    "class_imbalance": "binary accuracy mostly measures the negatives (label cardinality "
    "{card:.2f} labels per row); watch per-label recall and macro F1 ({macro:.3f})",
}


def per_label(ctx: Context, t: Mapping[str, float], body: Body, check_id: str) -> Outcome | None:
    """``body`` (a single-label check) on each label's binary classification, as one
    outcome: the worst severity, naming the labels at it."""
    ml: MultiLabel = ctx.multilabel
    outcomes = {j: body(Context(eval=ml.by_label[j]), t) for j in ml.present}
    judged = {j: o for j, o in outcomes.items() if o is not None}
    evidence: dict[str, Any] = {
        "labels": {ml.labels[j]: o.severity.value for j, o in judged.items()},
        "n_labels": ml.k,
        "label_cardinality": round(ml.metrics["label_cardinality"], 4),
    }
    if not judged:
        return None
    worst = Severity.worst(*(o.severity for o in judged.values()))
    if worst in (Severity.PASSED,):
        return passed(f"Judged per label: none of the {len(judged)} labels flagged.", evidence)
    phrase, verb = _PHRASES[check_id]
    hit = [j for j, o in judged.items() if o.severity is worst]
    evidence["flagged_labels"] = [ml.labels[j] for j in hit]
    named = "; ".join(phrase(ml, j, judged[j]) for j in hit[:_MAX_NAMED])
    more = f"; and {len(hit) - _MAX_NAMED} more" if len(hit) > _MAX_NAMED else ""
    after = _AFTER[check_id].format(
        acc=ml.metrics["accuracy"],
        card=ml.metrics["label_cardinality"],
        macro=ml.metrics["macro_f1"],
    )
    text = f"{len(hit)} of {ml.k} labels {verb}{named}{more}: {after}."
    few = worst is Severity.INFO and check_id == "minority_class_missed"
    return Outcome(worst, f"{text} Too few rows to judge." if few else text, evidence)


def at_baseline(ctx: Context, t: Mapping[str, float], body: Body) -> Outcome | None:
    """``accuracy_at_baseline`` on the pooled (row, label) cells, in multi-label words."""
    ml: MultiLabel = ctx.multilabel
    outcome = body(Context(eval=ml.pooled), t)
    if outcome is None:
        return None
    m = ml.metrics
    acc, base = m["accuracy"], m["majority_baseline_accuracy"]
    evidence = {
        **outcome.evidence,
        "binary_accuracy": acc,
        "macro_f1": m["macro_f1"],
        "micro_f1": m["micro_f1"],
        "subset_accuracy": m["subset_accuracy"],
        "n_cells": ml.pooled.n,
    }
    head = (
        f"Binary accuracy {acc:.3f} (Keras' binary_accuracy: every (row, label) cell of "
        f"{ml.n} rows x {ml.k} labels)"
    )
    scores = f"macro F1 {m['macro_f1']:.3f}, subset accuracy {m['subset_accuracy']:.3f}"
    if outcome.severity is Severity.PASSED:
        text = f"{head} beats predicting no label at all ({base:.3f}); {scores}."
        return passed(text, evidence)
    if outcome.severity is Severity.FAIL:
        text = (
            f"{head} is no better than predicting no label at all ({base:.3f}): the number "
            f"reflects how rare the labels are, not the model ({scores})."
        )
    elif acc <= base:
        text = (
            f"{head} is no better than predicting no label at all ({base:.3f}), although the "
            f"predictions carry information ({scores}): binary accuracy is the wrong headline."
        )
    else:
        text = (
            f"{head} is above predicting no label at all ({base:.3f}) but not significantly "
            f"(p={m.get('accuracy_vs_baseline_p_value', 1.0):.3g}); {scores}."
        )
    return replace(outcome, message=text, evidence=evidence, corrected=None)

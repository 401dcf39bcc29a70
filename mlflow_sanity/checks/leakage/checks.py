"""The leakage checks: each measures (``overlap``, ``scaling``, ``univariate``), grades
with ``grade``/``reaches`` against its thresholds, and says what it saw.

``requires`` names the fields a check cannot run without. The registry's ``requires``
means "all of", so fields read only when present are named in a comment beside it:
``train`` or ``fingerprint`` (either one; raw data wins; without both the check returns
None), ``eval`` (labels when ``test`` has none), ``model_selection``, ``normalization``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.checks.corrected import unseen_rows, validation_score
from mlflow_sanity.checks.leakage.continuous import continuous_leakage
from mlflow_sanity.checks.leakage.overlap import (
    Overlap,
    eval_split,
    guarded,
    overlap,
    row_labels,
    train_overlap,
    training_fingerprint,
)
from mlflow_sanity.checks.leakage.scaling import (
    eval_fingerprint,
    normalization_from_model,
    scaling_from_data,
    seen_splits,
    target_scaling,
)
from mlflow_sanity.checks.leakage.univariate import (
    labels_1d,
    screened_scores,
)
from mlflow_sanity.checks.registry import Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.splits import ModelSelection
from mlflow_sanity.core.task import ALL_TASKS, SINGLE_LABEL, Task

N_TOP = 5  # features named in the evidence

# --------------------------------------------------------------------------- train_test_overlap


@check(
    "train_test_overlap",
    tasks=ALL_TASKS,
    flags=(
        "evaluation rows also occur in training, as exact copies or within float tolerance "
        "(with/without label, example row pairs); repeats that chance explains (columns with few "
        "distinct values) are `info`; warn above `warn_share`, fail above `fail_share`"
    ),
    requires=["test"],
    one_of=["train", "fingerprint"],
    reads=["eval"],  # labels, when the test split has none
    remedy="Deduplicate before splitting (df.drop_duplicates()), split by entity/group "
    "(GroupShuffleSplit) when one entity has several rows, and oversample or augment only "
    "the training part after the split.",
    warn_share=0.0,
    fail_share=0.05,
    chance_alpha=0.001,
)
def train_test_overlap(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Evaluation rows (exact or near duplicates) also occur in training data."""
    ov = train_overlap(ctx, t["chance_alpha"])
    if ov is None:
        return None
    n, ev = ov.match.n_rows, ov.evidence("train_")
    if ov.count == 0:
        return passed(
            f"None of the {n} evaluation rows occurs in the {ov.fingerprint.n_rows} training "
            "rows (exact or within rounding tolerance).",
            ev,
        )
    if ov.beyond_chance(t["chance_alpha"]):
        k, share, what, detail = ov.count, ov.share, "", _overlap_detail(ov)
        seen = ov.match.in_train
    elif ov.exact_beyond_chance(t["chance_alpha"]):
        # near repeats are common by chance here, exact copies are not: judge the copies
        k, what = ov.exact_count, " as exact copies"
        share = k / n
        detail = f" (near-identical rows are common by chance in this data: {ov.count} rows)"
        ev = ov.evidence("train_", exact_examples=True)
        seen = ov.exact
    else:
        return Outcome(
            Severity.INFO,
            f"{ov.count} of {n} evaluation rows ({ov.share:.1%}) also occur in the training "
            f"data (within rounding tolerance), but about {ov.chance_share:.1%} are expected "
            "by chance: rows this similar are common in data with few columns or few "
            "distinct values, so this is not evidence of leakage.",
            ev,
        )
    text = (
        f"{k} of {n} evaluation rows ({share:.1%}) also occur in the training data{what}"
        f"{detail}. The score on them measures memorisation, not generalisation"
        f"{_first_example(ev)}."
    )
    severity = grade(share, fail=t["fail_share"], warn=t["warn_share"])
    return Outcome(severity, text, ev, corrected=unseen_rows(ctx, seen))


def _overlap_detail(ov: Overlap) -> str:
    parts = []
    if ov.exact is not None:
        exact = ov.exact_count
        parts.append(f"{exact} exact copies, {ov.count - exact} within rounding tolerance")
    lab = ov.match.in_train_with_label
    if lab is not None:
        parts.append(f"{int(lab.sum())} with the same label")
    return f" ({'; '.join(parts)})" if parts else ""


def _first_example(ev: Mapping[str, Any]) -> str:
    if not ev.get("examples"):
        return ""
    first = ev["examples"][0]
    return f" (e.g. evaluation row {first['eval_row']!r} = training row {first['train_row']!r})"


# --------------------------------------------------------------------------- eval_is_train


@check(
    "eval_is_train",
    tasks=ALL_TASKS,
    flags=(
        "fail: the evaluation data equals the training data (same digest) or ≥ `min_share` of its"
        " rows are training rows, more than chance explains (p < `chance_alpha`)"
    ),
    requires=["test"],
    one_of=["train", "fingerprint"],
    reads=["eval"],
    remedy="Evaluate on data held out before training (train_test_split before fit) and "
    "pass that hold-out set, not the training arrays, to evaluate().",
    min_share=0.99,
    chance_alpha=0.001,
)
def eval_is_train(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The evaluation data is the training data."""
    ov = train_overlap(ctx, t["chance_alpha"])
    if ov is None:
        return None
    ev = {
        "eval_digest": ov.match.digest,
        "train_digest": ov.fingerprint.digest,
        "overlap_share": round(ov.share, 6),
        "eval_rows": ov.match.n_rows,
        "train_rows": ov.fingerprint.n_rows,
    }
    # the figure to read instead: the fit's own validation score when known, else the
    # accuracy on the few evaluation rows that are not training rows
    corrected = validation_score(ctx) or unseen_rows(ctx, ov.match.in_train)
    if ov.same_digest:
        return Outcome(
            Severity.FAIL,
            f"The evaluation data is the training data: the same {ov.match.n_rows} rows "
            "(identical dataset digest). The score says how well the model memorised them.",
            ev,
            corrected=corrected,
        )
    if reaches(ov.share, t["min_share"], inclusive=True) and ov.beyond_chance(t["chance_alpha"]):
        return Outcome(
            Severity.FAIL,
            f"{ov.share:.1%} of the evaluation rows are training rows: the evaluation data is "
            "(a subset of) the training data, so the score measures memorisation.",
            ev,
            corrected=corrected,
        )
    return passed("The evaluation data differs from the training data.", ev)


# --------------------------------------------------------------------------- validation_reuse


@check(
    "validation_reuse",
    tasks=ALL_TASKS,
    flags=(
        "the evaluation data is the validation data that EarlyStopping/ModelCheckpoint monitored "
        "(`val_*`): share of evaluation rows in it, more than chance explains (p < "
        "`chance_alpha`) or the same digest: warn above `warn_share`, fail above `fail_share`; "
        "`info` when no callback monitored a validation metric"
    ),
    requires=["test", "validation_fingerprint"],
    reads=["model_selection", "eval"],
    remedy="Keep three sets: train, validation (for EarlyStopping/ModelCheckpoint and "
    "tuning) and a test set touched once at the end; report the test score.",
    warn_share=0.1,
    fail_share=0.9,
    chance_alpha=0.001,
)
def validation_reuse(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """The data used to select the model is also the reported test."""
    selection = ctx.model_selection or ModelSelection()
    val_monitors = list(selection.validation_monitors)
    ov = validation_overlap(ctx, t["chance_alpha"], t["warn_share"])
    ev = ov.evidence("validation_")
    ev.update(monitors=list(selection.monitors), callbacks=list(selection.callbacks))
    ev["same_digest"] = ov.same_digest
    share = 1.0 if ov.same_digest else ov.share
    severity = grade(share, fail=t["fail_share"], warn=t["warn_share"])
    if ov.sampled_from is not None:  # only a clean sample stops short of every row
        return passed(
            f"None of a fixed random sample of {ov.match.n_rows} of the {ov.sampled_from} "
            f"evaluation rows was in the validation data: fewer than {t['warn_share']:.0%} "
            f"of them are (had that many been, the sample would have missed them all with "
            f"a chance below {MISS_CHANCE:g}).",
            ev,
        )
    if severity is Severity.PASSED or not (ov.same_digest or ov.beyond_chance(t["chance_alpha"])):
        return passed(f"{share:.1%} of the evaluation rows were in the validation data.", ev)
    what = (
        "is the validation data"
        if severity is Severity.FAIL
        else f"overlaps the validation data ({share:.1%} of rows)"
    )
    if not val_monitors:
        return Outcome(
            Severity.INFO,
            f"The evaluation data {what}. No callback monitored a validation metric, so it "
            "did not pick the model; if you tuned hyperparameters on it, the score is still "
            "optimistic.",
            ev,
        )
    by = ", ".join(selection.callbacks) or "a callback"
    text = (
        f"The evaluation data {what} that {by} monitored ({', '.join(val_monitors)}) to "
        "choose the epoch/weights: the model was selected on these rows, so its score on "
        "them is optimistically biased."
    )
    return Outcome(severity, text, ev)


SAMPLE_MIN_ROWS = 2000  # the smallest sample the validation lookup starts with
MISS_CHANCE = 1e-12  # the largest chance that the sample hides a reportable overlap


def validation_overlap(ctx: Context, chance_alpha: float, warn_share: float = 0.0) -> Overlap:
    """The evaluation rows looked up in the validation fingerprint of the training run.

    ``validation_reuse`` reports an overlap of at least ``warn_share`` of the rows, so on
    many rows a fixed random sample is looked up first, large enough that an overlap of
    that size leaves it empty with a chance below ``MISS_CHANCE``: an empty sample is the
    answer (a pass, the sample in its evidence); any row found brings the lookup of every
    row, so a reported overlap is always counted in full.
    """
    vfp = ctx.validation_fingerprint
    test = eval_split(ctx)

    def compute() -> Overlap:
        n = int(_row_count(test.features))
        size = _sample_size(n, warn_share)
        if size is not None:
            rows = np.sort(np.random.default_rng(0).choice(n, size, replace=False))
            ov = guarded(lambda: overlap(vfp, test, chance_alpha=chance_alpha, rows=rows))
            if ov.count == 0:
                return ov
        return guarded(lambda: overlap(vfp, test, chance_alpha=chance_alpha))

    return ctx.measure(f"validation_overlap({chance_alpha!r}, {warn_share!r})", compute)


def _row_count(features: Any) -> int:
    return int(row_labels(features).shape[0])


def _sample_size(n: int, warn_share: float) -> int | None:
    """Rows to sample so that an overlap of ``warn_share`` escapes it with a chance below
    ``MISS_CHANCE`` (at least ``SAMPLE_MIN_ROWS``); None when every row is looked up
    anyway (no reportable share above 0, or a sample would be half the rows or more)."""
    if not warn_share > 0 or warn_share >= 1:
        return None
    size = max(SAMPLE_MIN_ROWS, int(np.ceil(np.log(MISS_CHANCE) / np.log1p(-warn_share))))
    return size if 2 * size <= n else None


# --------------------------------------------------------------------------- preprocessing


@check(
    "preprocessing_leakage",
    tasks=ALL_TASKS,
    flags=(
        "warn: a scaler was fitted before the split (train+test exactly standardised or exactly "
        "spanning [0,1]/[−1,1] while train alone is not; min-max only in columns whose values "
        "repeat at most `max_collision`), or a Keras `Normalization` layer's statistics match "
        'train+test rather than train. "train+test" is the union of every split the model saw: '
        "training, validation and each `model.evaluate` so far (each subset tried), so a scaler "
        "fitted before a train/validation/test split is caught at the test `evaluate`; a "
        "regressor's targets: train+test targets exactly standardised or spanning [0,1]/[−1,1] "
        "while the training targets alone are not"
    ),
    requires=["test"],
    one_of=["train", "fingerprint"],
    reads=["normalization", "validation_fingerprint", "seen_splits", "regression"],
    remedy="Split first, then fit scalers/Normalization on the training part only "
    "(scaler.fit(X_train); layer.adapt(X_train)) and apply them to the test part; "
    "a sklearn Pipeline does this for you.",
    exact_tol=1e-6,
    model_match_tol=1e-3,
    max_collision=0.01,
)
def preprocessing_leakage(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Scaling/normalisation statistics were computed on train and evaluation data together
    (with the other splits the model saw: validation data, earlier ``model.evaluate`` rows)."""
    got = training_fingerprint(ctx)
    target = target_scaling(ctx.regression, t)  # a regressor's targets scaled before the split
    if got is None and target is None:
        return None
    data = model = None
    if got is not None:
        fp = got[0]
        te = eval_fingerprint(ctx, fp)
        seen = seen_splits(ctx)  # every split the model saw: a scaler fitted before a 3-way split
        validation = ctx.test is not None and ctx.test.name.startswith("validation")  # at a fit
        rows = "validation" if validation else "evaluation"
        data = scaling_from_data(fp, te, t, seen, rows)
        norm = ctx.normalization
        model = normalization_from_model(fp, te, norm, t, seen) if norm else None
    sources = [x for x in (data, model, target) if x is not None]
    ev: dict[str, Any] = {
        name: x.evidence
        for name, x in (("data", data), ("model", model), ("target", target))
        if x is not None
    }
    flagged = [x.message for x in sources if x.leak]
    if flagged:
        return Outcome(
            Severity.WARN,
            " ".join(flagged) + f" Information about the {rows} rows reached training, "
            "so the score is optimistic.",
            ev,
        )
    notes = [x.message for x in sources if x.message]
    return passed(
        " ".join(notes) or "No sign of scaling fitted on train and evaluation data together.",
        ev,
    )


# --------------------------------------------------------------------------- feature_target


@check(
    "feature_target_leakage",
    tasks=SINGLE_LABEL | {Task.REGRESSION},
    flags=(
        "one feature alone predicts the label (ROC-AUC; several classes: neighbour accuracy; "
        "categorical: majority class per value): warn ≥ `warn_score`, fail ≥ `fail_score`; "
        "identifier-like (> `max_id_share` distinct values) and constant columns are skipped; "
        "needs ≥ `min_rows` rows and ≥ `min_class_rows` per class; a fixed sample of `max_rows` "
        "rows above that. Above `screen_rows` rows numeric columns are screened on a "
        "class-balanced sample of that many rows (rare classes kept whole) and every column "
        "within `screen_margin` of the warning level is scored again on all rows, so a flagged "
        "feature is always graded on all rows (evidence: `screened_on_rows`, "
        "`rescored_on_all_rows`); a regressor: a numeric column's |Spearman correlation| with "
        "the target, same limits"
    ),
    requires=["test"],
    reads=["eval"],  # labels, when the test split has none
    remedy="Drop features computed from the label or recorded after the outcome, and "
    "identifiers that encode the class (row numbers of label-sorted data, file names).",
    warn_score=0.99,
    fail_score=0.999,
    min_rows=30,
    min_class_rows=5,
    max_id_share=0.5,
    max_rows=200_000,
    screen_rows=5000,
    screen_margin=0.05,
)
def feature_target_leakage(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """A single feature predicts the label almost perfectly."""
    if ctx.regression is not None:
        return continuous_leakage(ctx, t)
    sample = scoring_sample(ctx, t)
    if sample is None:
        return None
    frame, codes, total = sample
    # numeric columns are screened on a balanced sample of ``screen_rows`` rows; those
    # within ``screen_margin`` of the warning level are scored again on all rows
    scores, method, skipped, screening = screened_scores(
        frame,
        codes,
        t["max_id_share"],
        screen_rows=int(t["screen_rows"]),
        rescore_at=t["warn_score"] - t["screen_margin"],
    )
    top = sorted(scores.items(), key=lambda kv: -kv[1])[:N_TOP]
    ev = {
        "method": method,
        "top_features": {k: round(v, 4) for k, v in top},
        "skipped_constant": skipped["constant"][:20],
        "skipped_identifier": skipped["identifier"][:20],
        "n_features_scored": len(scores),
        "rows_scored": int(frame.shape[0]),
        **screening.evidence(),
    }
    if total > frame.shape[0]:  # a statistic: scored on a documented, seeded sample
        ev["sample"] = {"rows": int(frame.shape[0]), "of_rows": total, "seed": SAMPLE_SEED}
    severity = Severity.PASSED
    if top:
        severity = grade(top[0][1], fail=t["fail_score"], warn=t["warn_score"], inclusive=True)
    if severity is Severity.PASSED:
        best = f" (best: {top[0][0]!r} at {top[0][1]:.3f})" if top else ""
        where = (
            f", numeric columns screened on a balanced sample of {screening.rows} rows"
            if screening.rows
            else ""
        )
        return passed(f"No single feature predicts the label on its own{best}{where}.", ev)
    name, score = top[0]
    worst = [k for k, v in top if reaches(v, t["warn_score"], inclusive=True)]
    others = (
        f" ({len(worst) - 1} more: {', '.join(map(repr, worst[1:]))})" if len(worst) > 1 else ""
    )
    what = "ROC-AUC" if method[name] == "roc_auc" else "one-feature accuracy above chance"
    text = (
        f"Feature {name!r} alone predicts the label almost perfectly on the evaluation data "
        f"({what} {score:.3f}){others}: a model can reach its score by reading this one "
        "column. Check whether it is derived from the label, recorded after the outcome, or "
        "an identifier that encodes the class."
    )
    return Outcome(severity, text, ev)


SAMPLE_SEED = 0  # of the uniform sample feature_target_leakage scores above ``max_rows``


def scoring_sample(
    ctx: Context, t: Mapping[str, float]
) -> tuple[pd.DataFrame, np.ndarray, int] | None:
    """The labelled evaluation rows to score (a fixed sample of ``max_rows`` rows drawn
    uniformly without replacement with ``SAMPLE_SEED`` above that), their class codes and
    the number of rows they were drawn from; None when unlabelled, too small or with a
    class too rare to score. The sample is drawn before any frame is built: no frame of
    all the rows is ever made."""
    test = eval_split(ctx)
    if test.labels is None:
        return None
    n = _row_count(test.features)
    y = labels_1d(test.labels)
    if y.shape[0] != n:
        raise InputError(f"{n} evaluation rows but {y.shape[0]} labels")
    features = test.features
    if reaches(n, t["max_rows"]):  # a fixed sample keeps the ranking cheap
        rng = np.random.default_rng(SAMPLE_SEED)
        # the same rows as a shuffled draw (only the order differs, and it is sorted)
        keep = np.sort(rng.choice(n, int(t["max_rows"]), False, shuffle=False))
        features, y = _rows(features, keep), y[keep]
    frame, _ = fpm.as_frame(features)
    classes, codes = np.unique(y, return_inverse=True)
    counts = np.bincount(codes)
    too_small = reaches(frame.shape[0], t["min_rows"], below=True)
    if too_small or len(classes) < 2 or reaches(counts.min(), t["min_class_rows"], below=True):
        return None
    return frame, codes, n


def _rows(features: Any, keep: np.ndarray) -> Any:
    """The rows ``keep`` of a frame, a mapping of columns or an array."""
    if isinstance(features, (pd.DataFrame, pd.Series)):
        return features.iloc[keep]
    if isinstance(features, Mapping):
        return {name: np.asarray(values)[keep] for name, values in features.items()}
    return np.take(np.asarray(features), keep, axis=0)  # faster than fancy indexing

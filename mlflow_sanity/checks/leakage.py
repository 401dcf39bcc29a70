"""Leakage checks: is the evaluation data really unseen by the model?

Inputs (all plain data, filled by the evaluator, autolog or the CLI):

- ``ctx.test``: a ``Split`` (features and, optionally, labels) of the evaluation data;
- ``ctx.train``: a ``Split`` of the raw training data, and/or ``ctx.fingerprint``: a
  ``fingerprint.Fingerprint`` of it logged by an earlier run (raw data wins when both);
- ``ctx.validation_fingerprint`` and ``ctx.model_selection`` (what EarlyStopping or a
  best-only ModelCheckpoint monitored) from the training run;
- ``ctx.normalization``: the mean/variance of a Keras ``Normalization`` layer at the
  model input.

Overlap is judged against chance: data whose columns take few distinct values repeats
rows in any honest split, so a repeat only counts as leakage when it is far more common
than the column statistics predict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlflow_sanity.checks.registry import Context, check, finding
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.findings import Finding, Severity
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.splits import ModelSelection, NormalizationStats, Split, as_split

N_EXAMPLES = 5
CHANCE_ALPHA = 1e-3  # repeats with a smaller chance p-value are not coincidence
_HASH_COLLISION = 2.0**-56


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Overlap:
    """Evaluation rows found in a fingerprint, with a chance baseline."""

    match: fpm.Match
    fingerprint: fpm.Fingerprint
    exact: np.ndarray | None  # per eval row: an exact copy of a training row (raw data only)
    exact_index: np.ndarray | None  # the copied training row (position) or -1
    index: np.ndarray  # eval row labels (DataFrame index or positions)
    train_labels: np.ndarray  # training row labels for ``match.train_index``
    chance_share: float
    p_value: float
    exact_chance_share: float | None = None
    exact_p_value: float | None = None

    @property
    def count(self) -> int:
        return int(self.match.in_train.sum())

    @property
    def share(self) -> float:
        return self.match.share

    def evidence(self, prefix: str = "", *, exact_examples: bool = False) -> dict[str, Any]:
        m, n = self.match, self.match.n_rows
        ev: dict[str, Any] = {
            "eval_rows": n,
            f"{prefix}rows": self.fingerprint.n_rows,
            "overlapping_rows": self.count,
            "overlap_share": round(self.share, 6),
            "expected_by_chance_share": float(f"{self.chance_share:.3g}"),
            "p_value_vs_chance": float(f"{self.p_value:.3g}"),
            "tolerance": self.fingerprint.tolerance,
        }
        if self.exact is not None:
            exact = int(self.exact.sum())
            ev["exact_rows"] = exact
            ev["exact_share"] = round(exact / n, 6) if n else 0.0
            ev["near_only_rows"] = self.count - exact
            ev["exact_expected_by_chance_share"] = float(f"{self.exact_chance_share:.3g}")
        if m.in_train_with_label is not None:
            same = int(m.in_train_with_label.sum())
            ev["overlap_with_label_share"] = round(same / n, 6) if n else 0.0
            ev["conflicting_label_rows"] = self.count - same
        found, where = m.in_train, m.train_index
        if exact_examples and self.exact is not None:
            found, where = self.exact, self.exact_index
        hits = np.flatnonzero(found)[:N_EXAMPLES]
        ev["examples"] = [
            {"eval_row": _plain(self.index[i]), f"{prefix}row": _plain(self.train_labels[k])}
            for i, k in zip(hits, where[hits], strict=True)
        ]
        return ev

    @property
    def significant(self) -> bool:
        return self.count > 0 and self.p_value < CHANCE_ALPHA


def overlap(
    fp: fpm.Fingerprint, test: Split, train: Split | None = None, *, train_index: Any = None
) -> Overlap:
    """Look the evaluation rows up in ``fp``; with raw ``train`` also tell exact copies."""
    m = fp.match(test.features, test.labels)
    n = m.n_rows
    chance = chance_share(fp)
    p = _p_value(int(m.in_train.sum()), n, chance)
    exact = exact_index = exact_chance = exact_p = None
    if train is not None:
        hits = np.flatnonzero(m.in_train)
        if p >= CHANCE_ALPHA and "continuous" in fp.kinds and hits.size:
            # grid cells are crowded in this data: look for exact copies on their own
            em = fpm.compute(train.features, exact=True).match(test.features, near=False)
            exact, exact_index = em.in_train, em.train_index
        else:  # the candidate found on the grid is the copy, if there is one
            exact, exact_index = np.zeros(n, dtype=bool), m.train_index.copy()
            if hits.size:
                exact[hits] = fpm.same_rows(
                    fp, test.features, hits, train.features, m.train_index[hits]
                )
        exact_index[~exact] = -1
        exact_chance = chance_share(fp, exact=True)
        exact_p = _p_value(int(exact.sum()), n, exact_chance)
    if train_index is None:
        train_index = np.arange(fp.n_rows)
    return Overlap(
        m,
        fp,
        exact,
        exact_index,
        _row_labels(test.features),
        np.asarray(train_index),
        chance,
        p,
        exact_chance,
        exact_p,
    )


def _p_value(count: int, n: int, chance: float) -> float:
    """Probability of at least ``count`` repeats among ``n`` rows by chance alone."""
    return float(stats.binom.sf(count - 1, n, chance)) if n and count else 1.0


def chance_share(fp: fpm.Fingerprint, *, exact: bool = False) -> float:
    """Share of rows of an honest split expected to repeat a fingerprinted row by chance.

    Assumes independent columns: a new row equals a given training row with probability
    ``prod_j c_j``, where ``c_j`` is how often two rows share column ``j``'s (grid) value.
    ``c_j`` is smoothed upwards by one pair so that a small sample never claims "never".
    """
    s = min(fp.n_rows, fpm.COLLISION_SAMPLE)
    pairs = s * (s - 1) / 2.0
    rates = fp.exact_collision if exact else fp.collision
    c = np.clip(np.asarray(rates, dtype=np.float64), 0.0, 1.0)
    c = (c * pairs + 1.0) / (pairs + 1.0)
    per_pair = float(np.exp(np.log(c).sum())) + _HASH_COLLISION
    return float(-np.expm1(-fp.n_rows * per_pair))


def _row_labels(features: Any) -> np.ndarray:
    """How to name rows in evidence: the DataFrame index, else positions."""
    if isinstance(features, (pd.DataFrame, pd.Series)):
        return np.asarray(features.index)
    return np.arange(fpm.as_frame(features)[0].shape[0])


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _cache(ctx: Context) -> dict[str, Any]:
    return ctx.shared


def _test(ctx: Context) -> Split:
    test = as_split(ctx.test)
    if test.labels is None and ctx.eval is not None:
        c = ctx.eval
        test = Split(test.features, np.asarray(c.labels)[c.y_true], test.name)
    return test


def training_fingerprint(ctx: Context) -> tuple[fpm.Fingerprint, Split | None] | None:
    """The training fingerprint (computed from raw ``ctx.train`` when given), cached on ctx."""
    cache = _cache(ctx)
    if "train_fp" not in cache:
        train = as_split(ctx.train)
        if train is not None:
            fp = fpm.compute(train.features, train.labels)
            cache["train_fp"] = (fp, train)
        elif isinstance(ctx.fingerprint, fpm.Fingerprint):
            cache["train_fp"] = (ctx.fingerprint, None)
        else:
            cache["train_fp"] = None
    return cache["train_fp"]


def train_overlap(ctx: Context) -> Overlap | None:
    cache = _cache(ctx)
    if "train_overlap" not in cache:
        got = training_fingerprint(ctx)
        if got is None:
            cache["train_overlap"] = None
        else:
            fp, train = got
            idx = None if train is None else _row_labels(train.features)
            cache["train_overlap"] = _guarded(
                lambda: overlap(fp, _test(ctx), train, train_index=idx)
            )
    return cache["train_overlap"]


def _guarded(fn: Any) -> Any:
    try:
        return fn()
    except ValueError as exc:  # column mismatch and the like: say so, in plain words
        raise InputError(f"cannot compare evaluation and training data: {exc}") from None


# --------------------------------------------------------------------------- checks


@check(
    "train_test_overlap",
    requires=["test"],
    remedy="Deduplicate before splitting (df.drop_duplicates()), split by entity/group "
    "(GroupShuffleSplit) when one entity has several rows, and oversample or augment only "
    "the training part after the split.",
    warn_share=0.0,
    fail_share=0.05,
    chance_alpha=0.001,
)
def train_test_overlap(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """Evaluation rows (exact or near duplicates) also occur in training data."""
    ov = train_overlap(ctx)
    if ov is None:
        return None
    ev = ov.evidence("train_")
    n, k, share = ov.match.n_rows, ov.count, ov.share
    if k == 0:
        return finding(
            "train_test_overlap",
            Severity.PASSED,
            f"None of the {n} evaluation rows occurs in the {ov.fingerprint.n_rows} training "
            "rows (exact or within rounding tolerance).",
            ev,
        )
    detail = _overlap_detail(ov)
    basis = "rows"
    if ov.p_value >= t["chance_alpha"]:
        exact = int(ov.exact.sum()) if ov.exact is not None else 0
        if not exact or ov.exact_p_value is None or ov.exact_p_value >= t["chance_alpha"]:
            return finding(
                "train_test_overlap",
                Severity.INFO,
                f"{k} of {n} evaluation rows ({share:.1%}) also occur in the training data "
                f"(within rounding tolerance), but about {ov.chance_share:.1%} are expected by "
                "chance: rows this similar are common in data with few columns or few "
                "distinct values, so this is not evidence of leakage.",
                ev,
            )
        # near repeats are common by chance here, exact copies are not: judge the copies
        k, share, basis = exact, exact / n, "exact copies"
        ev = ov.evidence("train_", exact_examples=True)
        detail = f" (near-identical rows are common by chance in this data: {ov.count} rows)"
    text = (
        f"{k} of {n} evaluation rows ({share:.1%}) also occur in the training data"
        f"{' as exact copies' if basis != 'rows' else ''}{detail}. "
        "The score on them measures memorisation, not generalisation"
    )
    if ev.get("examples"):
        first = ev["examples"][0]
        text += (
            f" (e.g. evaluation row {first['eval_row']!r} = training row {first['train_row']!r})"
        )
    text += "."
    if share > t["fail_share"]:
        return finding("train_test_overlap", Severity.FAIL, text, ev)
    if share > t["warn_share"]:
        return finding("train_test_overlap", Severity.WARN, text, ev)
    return finding("train_test_overlap", Severity.PASSED, text, ev)


def _overlap_detail(ov: Overlap) -> str:
    parts = []
    if ov.exact is not None:
        exact = int(ov.exact.sum())
        parts.append(f"{exact} exact copies, {ov.count - exact} within rounding tolerance")
    lab = ov.match.in_train_with_label
    if lab is not None:
        parts.append(f"{int(lab.sum())} with the same label")
    return f" ({'; '.join(parts)})" if parts else ""


@check(
    "eval_is_train",
    requires=["test"],
    remedy="Evaluate on data held out before training (train_test_split before fit) and "
    "pass that hold-out set, not the training arrays, to evaluate().",
    min_share=0.99,
)
def eval_is_train(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """The evaluation data is the training data."""
    ov = train_overlap(ctx)
    if ov is None:
        return None
    ev = {
        "eval_digest": ov.match.digest,
        "train_digest": ov.fingerprint.digest,
        "overlap_share": round(ov.share, 6),
        "eval_rows": ov.match.n_rows,
        "train_rows": ov.fingerprint.n_rows,
    }
    if ov.match.n_rows and ov.match.digest == ov.fingerprint.digest:
        return finding(
            "eval_is_train",
            Severity.FAIL,
            f"The evaluation data is the training data: the same {ov.match.n_rows} rows "
            "(identical dataset digest). The score says how well the model memorised them.",
            ev,
        )
    if ov.share >= t["min_share"] and ov.significant:
        return finding(
            "eval_is_train",
            Severity.FAIL,
            f"{ov.share:.1%} of the evaluation rows are training rows: the evaluation data is "
            "(a subset of) the training data, so the score measures memorisation.",
            ev,
        )
    return finding(
        "eval_is_train",
        Severity.PASSED,
        "The evaluation data differs from the training data.",
        ev,
    )


@check(
    "validation_reuse",
    requires=["test", "validation_fingerprint"],
    remedy="Keep three sets: train, validation (for EarlyStopping/ModelCheckpoint and "
    "tuning) and a test set touched once at the end; report the test score.",
    warn_share=0.1,
    fail_share=0.9,
    chance_alpha=0.001,
)
def validation_reuse(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """The data used to select the model is also the reported test."""
    vfp = ctx.validation_fingerprint
    selection = ctx.model_selection or ModelSelection()
    monitors = list(selection.monitors)
    val_monitors = list(selection.validation_monitors)
    callbacks = list(selection.callbacks)
    ov = _guarded(lambda: overlap(vfp, _test(ctx)))
    ev = ov.evidence("validation_")
    ev.update({"monitors": monitors, "callbacks": callbacks, "same_digest": False})
    ev["same_digest"] = bool(ov.match.n_rows and ov.match.digest == vfp.digest)
    share = 1.0 if ev["same_digest"] else ov.share
    reused = share > t["warn_share"] and (ev["same_digest"] or ov.p_value < t["chance_alpha"])
    if not reused:
        return finding(
            "validation_reuse",
            Severity.PASSED,
            f"{share:.1%} of the evaluation rows were in the validation data.",
            ev,
        )
    what = (
        "is the validation data"
        if share >= t["fail_share"]
        else f"overlaps the validation data ({share:.1%} of rows)"
    )
    if not val_monitors:
        return finding(
            "validation_reuse",
            Severity.INFO,
            f"The evaluation data {what}. No callback monitored a validation metric, so it "
            "did not pick the model; if you tuned hyperparameters on it, the score is still "
            "optimistic.",
            ev,
        )
    by = ", ".join(callbacks) or "a callback"
    text = (
        f"The evaluation data {what} that {by} monitored ({', '.join(val_monitors)}) to "
        "choose the epoch/weights: the model was selected on these rows, so its score on "
        "them is optimistically biased."
    )
    severity = Severity.FAIL if share >= t["fail_share"] else Severity.WARN
    return finding("validation_reuse", severity, text, ev)


@check(
    "preprocessing_leakage",
    requires=["test"],
    remedy="Split first, then fit scalers/Normalization on the training part only "
    "(scaler.fit(X_train); layer.adapt(X_train)) and apply them to the test part; "
    "a sklearn Pipeline does this for you.",
    exact_tol=1e-6,
    model_match_tol=1e-3,
    max_collision=0.01,
)
def preprocessing_leakage(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """Scaling/normalisation statistics were computed on train and evaluation data together."""
    got = training_fingerprint(ctx)
    if got is None:
        return None
    fp = got[0]
    test = _test(ctx)
    frame = _guarded(lambda: fpm.align(fp, test.features))
    te = fpm.compute(frame)
    data = _scaling_from_data(fp, te, t)
    norm = ctx.normalization
    model = _normalization_from_model(fp, te, norm, t) if norm else None
    ev: dict[str, Any] = {"data": data["evidence"]}
    if model is not None:
        ev["model"] = model["evidence"]
    flagged = [x for x in (data, model) if x is not None and x["leak"]]
    if flagged:
        return finding(
            "preprocessing_leakage",
            Severity.WARN,
            " ".join(x["message"] for x in flagged)
            + " Information about the evaluation rows reached training, so the score is "
            "optimistic.",
            ev,
        )
    notes = [x["message"] for x in (data, model) if x is not None and x["message"]]
    return finding(
        "preprocessing_leakage",
        Severity.PASSED,
        " ".join(notes) or "No sign of scaling fitted on train and evaluation data together.",
        ev,
    )


def _union(fp: fpm.Fingerprint, te: fpm.Fingerprint) -> tuple[np.ndarray, ...]:
    n1 = np.full(len(fp.columns), float(fp.n_rows)) - fp.n_missing
    n2 = np.full(len(te.columns), float(te.n_rows)) - te.n_missing
    total = n1 + n2
    mean = (n1 * fp.mean + n2 * te.mean) / total
    second = (n1 * (fp.std**2 + fp.mean**2) + n2 * (te.std**2 + te.mean**2)) / total
    var = np.maximum(second - mean**2, 0.0)
    return mean, np.sqrt(var), np.fmin(fp.min, te.min), np.fmax(fp.max, te.max), total


def _standardised(mean: np.ndarray, std: np.ndarray, n: np.ndarray, tol: float) -> np.ndarray:
    """Per column: mean exactly 0 and std exactly 1 (population or sample definition)."""
    sample = np.sqrt(np.maximum(n - 1, 1) / np.maximum(n, 1))
    return (np.abs(mean) <= tol) & ((np.abs(std - 1) <= tol) | (np.abs(std - sample) <= tol))


def _scaling_from_data(
    fp: fpm.Fingerprint, te: fpm.Fingerprint, t: Mapping[str, float]
) -> dict[str, Any]:
    tol = t["exact_tol"]
    cols = np.array(
        [
            k == "continuous" and te.kinds[j] in ("continuous", "exact")
            for j, k in enumerate(fp.kinds)
        ]
    )
    cols &= np.isfinite(fp.std) & (fp.std > 0) & np.isfinite(te.mean)
    names = [c for c, ok in zip(fp.columns, cols, strict=True) if ok]
    out: dict[str, Any] = {
        "leak": False,
        "message": "",
        "evidence": {"columns_checked": len(names)},
    }
    if not names:
        return out
    mean, std, lo, hi, total = (a[cols] for a in _union(fp, te))
    n_train = fp.n_rows - fp.n_missing[cols]
    union_std = _standardised(mean, std, total, tol)
    train_std = _standardised(fp.mean[cols], fp.std[cols], n_train, tol)
    ev = out["evidence"]
    ev.update(
        {
            "union_max_abs_mean": float(np.abs(mean).max()),
            "train_max_abs_mean": float(np.abs(fp.mean[cols]).max()),
            "union_std_range": [float(std.min()), float(std.max())],
            "train_std_range": [float(fp.std[cols].min()), float(fp.std[cols].max())],
        }
    )
    # a column counts when the union is exactly standardised and the training part is
    # clearly not: two moments matching to 1e-6 by coincidence does not happen
    leaky = union_std & ~train_std & (np.abs(fp.mean[cols]) > 10 * tol)
    if leaky.any():
        which = [n for n, bad in zip(names, leaky, strict=True) if bad]
        ev["standardised_on_union"] = which[:10]
        worst = float(np.abs(fp.mean[cols][leaky]).max())
        out["leak"] = True
        out["message"] = (
            f"The training and evaluation rows together are exactly standardised (mean 0, "
            f"std 1) in {len(which)} of {len(names)} continuous columns (e.g. {which[0]!r}) "
            f"while the training rows alone are not (|mean| up to {worst:.3g}): the scaler "
            "was fitted before the split."
        )
        return out
    if train_std.any():
        out["message"] = (
            f"The training rows are exactly standardised in {int(train_std.sum())} column(s): "
            "the scaler was fitted on them."
        )
        return out
    # min-max scaling: only columns with many distinct values (pixels/255 hit 0 and 1 anyway)
    spread = fp.collision[cols] <= t["max_collision"]
    lo_t, hi_t = fp.min[cols], fp.max[cols]
    for a, b in ((0.0, 1.0), (-1.0, 1.0)):
        union_exact = spread & (np.abs(lo - a) <= tol) & (np.abs(hi - b) <= tol)
        # a scaler signature: most spread-out columns span exactly [a, b] together
        if not spread.any() or union_exact.sum() < max(1, spread.sum() / 2):
            continue
        train_exact = (np.abs(lo_t - a) <= tol) & (np.abs(hi_t - b) <= tol)
        missing = [
            n for n, u, h in zip(names, union_exact, train_exact, strict=True) if u and not h
        ]
        ev["minmax_range"] = [a, b]
        ev["columns_with_extreme_only_in_eval"] = missing[:10]
        if missing:
            out["leak"] = True
            out["message"] = (
                f"The training and evaluation rows together span exactly [{a:g}, {b:g}] in "
                f"{int(union_exact.sum())} continuous column(s), but in {len(missing)} of them "
                f"(e.g. {missing[0]!r}) that minimum or maximum occurs only in the evaluation "
                "rows: the min-max scaler saw them."
            )
        else:
            out["message"] = (
                f"The training rows span exactly [{a:g}, {b:g}]: scaler fitted on them."
            )
        return out
    return out


def _normalization_from_model(
    fp: fpm.Fingerprint, te: fpm.Fingerprint, norm: NormalizationStats, t: Mapping[str, float]
) -> dict[str, Any] | None:
    mean_n, var_n = norm.mean, norm.variance
    d = len(fp.columns)
    if mean_n.size != d or var_n.size != d:
        return {
            "leak": False,
            "message": "",
            "evidence": {"skipped": f"Normalization has {mean_n.size} features, data has {d}"},
        }
    u_mean, u_std, *_ = _union(fp, te)
    ok = np.isfinite(fp.std) & (fp.std > 0) & np.isfinite(u_std) & (u_std > 0)
    ok &= np.isfinite(mean_n) & np.isfinite(var_n)
    if not ok.any():
        return None

    def distance(mean: np.ndarray, std: np.ndarray) -> float:
        dm = np.abs(mean_n[ok] - mean[ok]) / fp.std[ok]
        dv = np.abs(var_n[ok] - std[ok] ** 2) / fp.std[ok] ** 2
        return float(np.max(dm + dv))

    d_train, d_union = distance(fp.mean, fp.std), distance(u_mean, u_std)
    ev = {
        "layer": norm.layer or None,
        "distance_to_train_stats": float(f"{d_train:.3g}"),
        "distance_to_train_plus_eval_stats": float(f"{d_union:.3g}"),
    }
    tol = t["model_match_tol"]
    if d_union <= tol and d_train > 10 * d_union and d_train > tol:
        return {
            "leak": True,
            "message": (
                f"The model's Normalization layer{_named(norm)} was adapted on training and "
                "evaluation rows together: its mean/variance match their union "
                f"(distance {d_union:.2g}) and not the training rows ({d_train:.2g})."
            ),
            "evidence": ev,
        }
    msg = ""
    if d_train <= tol:
        msg = f"The Normalization layer{_named(norm)} was adapted on the training rows."
    return {"leak": False, "message": msg, "evidence": ev}


def _named(norm: NormalizationStats) -> str:
    return f" {norm.layer!r}" if norm.layer else ""


@check(
    "feature_target_leakage",
    requires=["test"],
    remedy="Drop features computed from the label or recorded after the outcome, and "
    "identifiers that encode the class (row numbers of label-sorted data, file names).",
    warn_score=0.99,
    fail_score=0.999,
    min_rows=30,
    min_class_rows=5,
    max_id_share=0.5,
    max_rows=200_000,
)
def feature_target_leakage(ctx: Context, t: Mapping[str, float]) -> Finding | None:
    """A single feature predicts the label almost perfectly."""
    test = _test(ctx)
    if test.labels is None:
        return None
    frame, _ = fpm.as_frame(test.features)
    y = _labels_1d(test.labels)
    if y.shape[0] != frame.shape[0]:
        raise InputError(f"{frame.shape[0]} evaluation rows but {y.shape[0]} labels")
    if frame.shape[0] > t["max_rows"]:  # a fixed sample keeps the ranking cheap
        keep = np.sort(np.random.default_rng(0).choice(frame.shape[0], int(t["max_rows"]), False))
        frame, y = frame.iloc[keep], y[keep]
    classes, codes = np.unique(y, return_inverse=True)
    counts = np.bincount(codes)
    if frame.shape[0] < t["min_rows"] or len(classes) < 2 or counts.min() < t["min_class_rows"]:
        return None
    scores, method, skipped = univariate_scores(frame, codes, t["max_id_share"])
    top = sorted(scores.items(), key=lambda kv: -kv[1])[:5]
    ev = {
        "method": method,
        "top_features": {k: round(v, 4) for k, v in top},
        "skipped_constant": skipped["constant"][:20],
        "skipped_identifier": skipped["identifier"][:20],
        "n_features_scored": len(scores),
        "rows_scored": int(frame.shape[0]),
    }
    if not top or top[0][1] < t["warn_score"]:
        best = f" (best: {top[0][0]!r} at {top[0][1]:.3f})" if top else ""
        return finding(
            "feature_target_leakage",
            Severity.PASSED,
            f"No single feature predicts the label on its own{best}.",
            ev,
        )
    name, score = top[0]
    worst = [k for k, v in top if v >= t["warn_score"]]
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
    severity = Severity.FAIL if score >= t["fail_score"] else Severity.WARN
    return finding("feature_target_leakage", severity, text, ev)


def _labels_1d(labels: Any) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2:
        y = y[:, 0] if y.shape[1] == 1 else y.argmax(axis=1)
    if y.dtype.kind == "O":
        y = y.astype(str)
    return y


def univariate_scores(
    frame: pd.DataFrame, y: np.ndarray, max_id_share: float = 0.5
) -> tuple[dict[str, float], dict[str, str], dict[str, list[str]]]:
    """How well each column alone predicts class codes ``y``.

    Numeric columns: ROC-AUC (binary, max(auc, 1 - auc), all columns in one vectorised
    rank pass) or, for several classes, the accuracy of predicting a row's class from
    its neighbour in feature order, rescaled so that chance is 0 and perfect is 1.
    Other columns: the accuracy of the majority class per value, rescaled the same way;
    columns whose values are mostly unique are identifiers and skipped, as are constants.
    """
    n = frame.shape[0]
    k = int(y.max()) + 1
    prior = np.bincount(y, minlength=k) / n
    scores: dict[str, float] = {}
    method: dict[str, str] = {}
    skipped: dict[str, list[str]] = {"constant": [], "identifier": []}
    numeric, other = [], []
    for j in range(frame.shape[1]):
        col = frame.iloc[:, j]
        name = str(frame.columns[j])
        if col.nunique(dropna=False) <= 1:
            skipped["constant"].append(name)
        elif _is_numeric(col):
            numeric.append(j)
        else:
            other.append(j)
    if numeric:
        x = np.column_stack(
            [
                pd.to_numeric(frame.iloc[:, j], errors="coerce").to_numpy(
                    np.float64, na_value=np.nan
                )
                for j in numeric
            ]
        )
        x = np.where(np.isnan(x), -np.inf, x)  # missingness may itself leak: rank it lowest
        names = [str(frame.columns[j]) for j in numeric]
        if k == 2:
            ranks = stats.rankdata(x, axis=0)
            pos = y == 1
            n1, n0 = int(pos.sum()), int((~pos).sum())
            auc = (ranks[pos].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
            for name, a in zip(names, auc, strict=True):
                scores[name], method[name] = float(max(a, 1 - a)), "roc_auc"
        else:
            base = float((prior**2).sum())
            rng = np.random.default_rng(0)
            shuffle = rng.permutation(n)  # ties in a feature must not look ordered by label
            order = np.argsort(x[shuffle], axis=0, kind="stable")
            ys = y[shuffle][order]
            agree = (ys[1:] == ys[:-1]).mean(axis=0)
            for name, a in zip(names, agree, strict=True):
                scores[name] = float((a - base) / (1 - base))
                method[name] = "neighbour_accuracy"
    base_acc = float(prior.max())
    for j in other:
        name = str(frame.columns[j])
        values = frame.iloc[:, j].astype(object).where(frame.iloc[:, j].notna(), "<missing>")
        codes, uniq = pd.factorize(values.astype(str))
        if len(uniq) > max_id_share * n:
            skipped["identifier"].append(name)
            continue
        table = np.zeros((len(uniq), k))
        np.add.at(table, (codes, y), 1)
        acc = table.max(axis=1).sum() / n
        scores[name] = float((acc - base_acc) / (1 - base_acc))
        method[name] = "value_majority_accuracy"
    return scores, method, skipped


def _is_numeric(col: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(col.dtype, pd.CategoricalDtype)
    ) or pd.api.types.is_bool_dtype(col.dtype)

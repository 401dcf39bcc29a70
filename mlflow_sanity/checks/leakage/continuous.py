"""``feature_target_leakage`` for a regressor: one column that tracks a continuous target.

Class scores (ROC-AUC, neighbour accuracy) need classes; a continuous target is ranked
instead, by the absolute Spearman correlation of each numeric column with it (1 for any
monotone function of the target: the price in other units, its logarithm). The same fixed
sample of ``max_rows`` rows and the same ``warn_score``/``fail_score`` as the class scores.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mlflow_sanity.checks.leakage.overlap import eval_split
from mlflow_sanity.checks.leakage.univariate import correlation_scores
from mlflow_sanity.checks.registry import Context, Outcome, grade, passed, reaches
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.findings import Severity


def continuous_leakage(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """``feature_target_leakage`` for a regressor: one numeric column's absolute Spearman
    correlation with the (single) target, graded by the same ``warn_score``/``fail_score``
    (on the same seeded sample above ``max_rows``, drawn before any frame is built)."""
    from mlflow_sanity.checks.leakage.checks import N_TOP, SAMPLE_SEED, _row_count, _rows

    test, r = eval_split(ctx), ctx.regression
    y = np.asarray(test.labels, dtype=np.float64) if test.labels is not None else r.y_true
    n = _row_count(test.features)
    y = y.reshape(y.shape[0], -1)
    if y.shape[1] != 1 or y.shape[0] != n or n < t["min_rows"]:
        return None
    features, y = test.features, y[:, 0]
    if reaches(n, t["max_rows"]):
        keep = np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, int(t["max_rows"]), False))
        features, y = _rows(features, keep), y[keep]
    frame, _ = fpm.as_frame(features)
    scores, constant = correlation_scores(frame, y)
    top = sorted(scores.items(), key=lambda kv: -kv[1])[:N_TOP]
    ev = {
        "method": "abs_spearman",
        "top_features": {k: round(v, 4) for k, v in top},
        "skipped_constant": constant[:20],
        "n_features_scored": len(scores),
        "rows_scored": int(frame.shape[0]),
    }
    if n > frame.shape[0]:  # a statistic: scored on a documented, seeded sample
        ev["sample"] = {"rows": int(frame.shape[0]), "of_rows": n, "seed": SAMPLE_SEED}
    if not top:
        return passed("No numeric feature to compare with the target.", ev)
    name, score = top[0]
    severity = grade(score, fail=t["fail_score"], warn=t["warn_score"], inclusive=True)
    if severity is Severity.PASSED:
        return passed(f"No single feature tracks the target (best: {name!r} at {score:.3f}).", ev)
    return Outcome(
        severity,
        f"Feature {name!r} alone tracks the target almost perfectly on the evaluation data "
        f"(|Spearman correlation| {score:.4f}): a model can reach its score by reading this one "
        "column. Check whether it is computed from the target or recorded after the outcome.",
        ev,
    )

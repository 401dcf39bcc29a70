"""duplicate_eval_rows: an evaluation set that counts the same example many times.

An oversampled or "resampled to balance" test set repeats rows: accuracy and its interval
then count one example dozens of times, and a minority class that looks well covered
may rest on a single row. Repeats are counted on the evaluation data's own fingerprint
(features only, so a copy with another label counts too) and judged against chance like
``train_test_overlap``: data whose columns take few distinct values repeats rows honestly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlflow_sanity.checks.corrected import unique_rows
from mlflow_sanity.checks.leakage.overlap import chance_p_value, chance_share, eval_split, guarded
from mlflow_sanity.checks.registry import Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core import fingerprint as fpm


def _repeats(ctx: Context) -> dict[str, Any]:
    """Rows that repeat an earlier evaluation row, and distinct rows per class."""
    test = eval_split(ctx)
    fp = guarded(lambda: fpm.compute(test.features, test.labels))
    rows = fp.hashes >> np.uint64(8)  # the features; the low byte is the label
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    n, distinct = fp.n_rows, int(first.size)
    per_class: dict[str, dict[str, int]] = {}
    if test.labels is not None:
        labels = np.asarray(test.labels).reshape(n, -1)
        labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
        for value in np.unique(labels):
            mine = labels == value
            per_class[str(value)] = {
                "rows": int(mine.sum()),
                "distinct_rows": int(np.unique(inverse[mine]).size),
            }
    return {"fp": fp, "n": n, "repeats": n - distinct, "per_class": per_class, "first": first}


@check(
    "duplicate_eval_rows",
    requires=["test"],
    reads=["eval"],  # labels, when the test split has none
    remedy="Deduplicate the evaluation data (df.drop_duplicates()) and never oversample or "
    "augment a test set: resample only the training part, and report per-class metrics.",
    warn_share=0.05,
    fail_share=0.25,
    chance_alpha=0.001,
)
def duplicate_eval_rows(ctx: Context, t: Mapping[str, float]) -> Outcome | None:
    """Many evaluation rows are copies of other evaluation rows."""
    m = ctx.measure("eval_repeats", lambda: _repeats(ctx))
    n, repeats = m["n"], m["repeats"]
    if n < 2:
        return None
    share = repeats / n
    chance = chance_share(m["fp"])
    p = chance_p_value(repeats, n, chance)
    evidence = {
        "eval_rows": n,
        "repeated_rows": repeats,
        "repeated_share": round(share, 6),
        "expected_by_chance_share": float(f"{chance:.3g}"),
        "p_value_vs_chance": float(f"{p:.3g}"),
        "distinct_rows_per_class": m["per_class"],
    }
    severity = grade(share, warn=t["warn_share"], fail=t["fail_share"])
    if not severity.flagged or not reaches(p, t["chance_alpha"], below=True):
        return passed(f"{repeats} of {n} evaluation rows repeat another row.", evidence)
    thin = [
        f"class {label!r} has {c['rows']} rows but {c['distinct_rows']} distinct"
        for label, c in m["per_class"].items()
        if c["distinct_rows"] < c["rows"]
    ]
    return Outcome(
        severity,
        f"{repeats} of the {n} evaluation rows ({share:.1%}) are copies of other evaluation "
        f"rows (chance explains {chance:.2%}): the score counts the same examples many times"
        + (f"; {'; '.join(thin[:3])}" if thin else "")
        + ".",
        evidence,
        corrected=unique_rows(ctx, m["first"]),
    )

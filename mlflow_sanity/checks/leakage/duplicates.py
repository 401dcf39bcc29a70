"""duplicate_eval_rows: an evaluation set that counts the same example many times.

An oversampled or "resampled to balance" test set repeats rows: accuracy and its interval
then count one example dozens of times, and a minority class that looks well covered
may rest on a single row. Repeats are counted on the evaluation rows' feature hashes
(features only, so a copy with another label counts too: on the training fingerprint's
grid when the rows were looked up in it with all their columns, else on a fingerprint of
their own) and judged against chance like ``train_test_overlap``: data whose columns take
few distinct values repeats rows honestly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.checks.corrected import unique_rows
from mlflow_sanity.checks.leakage.overlap import (
    chance_p_value,
    eval_split,
    guarded,
    repeat_chance,
    train_overlap,
)
from mlflow_sanity.checks.registry import Context, Outcome, check, grade, passed, reaches
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.task import ALL_TASKS


def _row_hashes(ctx: Context, chance_alpha: float) -> fpm.GridRows:
    """The evaluation rows hashed on a grid, with their columns' collision rates.

    When the rows are compared with training data anyway, the hashes that lookup computed
    on the training fingerprint's grid serve (one pass over the rows for both checks);
    otherwise the rows are hashed on a grid of their own. Either grid has the same
    tolerance, relative to the column's scale; the collision rates are estimated only
    when asked for (when there are repeats to explain).
    """
    try:
        ov = train_overlap(ctx, chance_alpha)
    except InputError:  # not comparable with the training data: train_test_overlap says so
        ov = None
    if ov is not None and ov.match.rows is not None and ov.match.all_columns:
        return ov.match.rows
    test = eval_split(ctx)
    return guarded(lambda: fpm.grid_rows(test.features))  # features only: labels aside


def _repeats(ctx: Context, chance_alpha: float) -> dict[str, Any]:
    """Rows that repeat an earlier evaluation row, distinct rows per class, and the share
    of repeats chance explains (estimated only when there are repeats to explain)."""
    test = eval_split(ctx)
    grid = _row_hashes(ctx, chance_alpha)
    rows = grid.feature_hashes
    n = int(rows.shape[0])
    repeats = n - _distinct(rows)
    per_class: dict[str, dict[str, int]] = {}
    if test.labels is not None:
        labels = np.asarray(test.labels).reshape(n, -1)
        labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
        values, code, counts = _classes(labels)
        distinct = counts
        if repeats:  # distinct (row, class) pairs, counted per class
            row = np.unique(rows, return_inverse=True)[1].astype(np.int64)
            pairs = np.unique(row * len(values) + code)
            distinct = np.bincount(pairs % len(values), minlength=len(values))
        per_class = {
            str(value): {"rows": int(c), "distinct_rows": int(d)}
            for value, c, d in zip(values, counts, distinct, strict=True)
        }
    chance = repeat_chance(grid.collision, n) if repeats else None
    return {"chance": chance, "n": n, "repeats": repeats, "per_class": per_class, "rows": rows}


def _distinct(hashes: np.ndarray) -> int:
    """How many different values: one sort of the 8-byte hashes (NumPy's vectorised sort;
    at 2M rows about a tenth of the time of a hash table, ``pandas.unique``)."""
    if not hashes.shape[0]:
        return 0
    ordered = np.sort(hashes)
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def _classes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(labels, return_inverse=True, return_counts=True)`` by one count (class
    indices) or one hash pass (``pandas.factorize``) instead of a sort of every row: the
    same classes, in the same (sorted) order, the same codes and counts."""
    if labels.dtype.kind in "iu" and labels.size and labels.min() >= 0 and labels.max() < 1 << 20:
        counts = np.bincount(labels)  # class indices: one count, no hashing
        values = np.flatnonzero(counts)
        code = np.cumsum(counts > 0)[labels] - 1
        return values.astype(labels.dtype), code, counts[values]
    code, values = pd.factorize(labels, sort=True)
    if (code < 0).any():  # NaN labels: np.unique's own handling
        return np.unique(labels, return_inverse=True, return_counts=True)
    return np.asarray(values), code, np.bincount(code, minlength=len(values))


@check(
    "duplicate_eval_rows",
    tasks=ALL_TASKS,
    flags=(
        "many evaluation rows are exact or near copies of other evaluation rows (an oversampled "
        'or "resampled to balance" test set), more than chance explains (p < `chance_alpha`): '
        "warn above `warn_share`, fail above `fail_share`; evidence: distinct rows per class"
    ),
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
    m = ctx.measure("eval_repeats", lambda: _repeats(ctx, t["chance_alpha"]))
    n, repeats = m["n"], m["repeats"]
    if n < 2:
        return None
    share = repeats / n
    chance = m["chance"]  # None without repeats: nothing for chance to explain
    p = chance_p_value(repeats, n, chance) if chance is not None else 1.0
    evidence = {
        "eval_rows": n,
        "repeated_rows": repeats,
        "repeated_share": round(share, 6),
        "expected_by_chance_share": float(f"{chance:.3g}") if chance is not None else None,
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
        # each distinct row's first occurrence: the accuracy with every row counted once
        corrected=unique_rows(ctx, np.unique(m["rows"], return_index=True)[1]),
    )

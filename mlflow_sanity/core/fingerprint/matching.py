"""Looking rows up in a fingerprint: align the new data's columns to it, snap them to
its grid, probe the neighbouring cells of values near a cell boundary, and find every
key with one hash probe against the fingerprint's index."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.core.fingerprint import encode
from mlflow_sanity.core.fingerprint.encode import (
    LOOKUP_CHUNK,
    _Encoder,
    _label_bytes,
    _load_kernel,
    _Table,
    worth_loading,
)
from mlflow_sanity.core.fingerprint.hashing import _U, _digest
from mlflow_sanity.core.fingerprint.statistics import Running, _sample_index, _summary
from mlflow_sanity.core.fingerprint.table import Fingerprint, GridRows


@dataclass(frozen=True)
class Match:
    """Rows of new data looked up in a fingerprint.

    ``in_train``: per new row, whether a fingerprinted row has the same (grid-snapped)
    features; ``in_train_with_label``: the same and the same label (None when either side
    has no labels). ``train_index``: for matched rows one matching fingerprinted row
    (its position), else -1. ``digest``: the new rows' digest on the fingerprint's grid,
    equal to ``Fingerprint.digest`` when both hold the same rows.
    """

    in_train: np.ndarray
    in_train_with_label: np.ndarray | None
    train_index: np.ndarray
    digest: str
    n_probes: int
    # The new rows hashed on the fingerprint's grid, so that a count of repeats among them
    # needs no fingerprint of their own.
    rows: GridRows | None = field(default=None, repr=False)
    all_columns: bool = False  # no column of the new rows was left out (hashes cover them)
    # The rows' column statistics (``statistics.Running.result()``), computed on the way
    # when the rows are a plain numeric array: ``rows_fingerprint`` needs no second pass.
    stats: tuple[np.ndarray, ...] | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.in_train.shape[0])

    @property
    def share(self) -> float:
        return float(self.in_train.mean()) if self.n_rows else 0.0


def align(fp: Fingerprint, features: Any) -> pd.DataFrame:
    """``features`` as a DataFrame with the fingerprint's columns, in its order.

    Columns are matched by name; by position when either side has no real names (a
    NumPy array) and the counts agree. Extra columns are ignored.
    """
    return _align(fp, features).frame()


def _align(fp: Fingerprint, features: Any) -> _Table:
    table = features if isinstance(features, _Table) else _Table(features)
    names = table.columns
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in the data: {names}")
    if not fp.positional and not table.positional and set(fp.columns) <= set(names):
        return table.select([names.index(c) for c in fp.columns], fp.columns)
    if (fp.positional or table.positional) and len(names) == len(fp.columns):
        return table.select(list(range(len(names))), fp.columns)
    missing = [c for c in fp.columns if c not in names]
    raise ValueError(
        f"the data lacks fingerprinted columns {missing[:10]}"
        f"{' …' if len(missing) > 10 else ''} ({len(fp.columns)} fingerprinted, "
        f"{len(names)} given)"
    )


def same_rows(
    fp: Fingerprint, left: Any, left_rows: Any, right: Any, right_rows: Any
) -> np.ndarray:
    """Per pair ``i``: is row ``left_rows[i]`` of ``left`` exactly equal to row
    ``right_rows[i]`` of ``right`` in the fingerprint's columns (no grid; NaN equals NaN)?

    Used to tell exact copies from near duplicates once the fingerprint found candidates.
    """
    kinds = ["exact" if k == "continuous" else k for k in fp.kinds]
    enc = _Encoder(kinds, np.zeros(len(kinds)))
    a = _align(fp, left).take(np.asarray(left_rows, dtype=np.intp))
    b = _align(fp, right).take(np.asarray(right_rows, dtype=np.intp))
    if a.n != b.n:
        raise ValueError(f"{a.n} left rows but {b.n} right rows")
    codes_a, _ = enc.codes(a, a.numeric_block(enc.numeric), 0, a.n)
    codes_b, _ = enc.codes(b, b.numeric_block(enc.numeric), 0, b.n)
    return (codes_a == codes_b).all(axis=0)


def match(
    fp: Fingerprint,
    features: Any,
    labels: Any = None,
    *,
    near: bool = True,
    rows: Any = None,
) -> Match:
    """Look every row of ``features`` up in ``fp``.

    Rows are snapped to the fingerprint's grid; with ``near`` (the default) a value close
    to a cell boundary is also looked up in the neighbouring cell. ``rows`` (positions)
    looks up only those rows (a sample): the ``Match`` then describes them alone.
    Vectorised: the rows are encoded chunk by chunk, the neighbouring cells of all rows
    are expanded in one step, and all keys are looked up in one hash probe each against
    the fingerprint's index (built once per fingerprint and cached on it).
    """
    given = _Table(features)
    table = _align(fp, given)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.intp)
        table = table.take(rows)
        if labels is not None:
            labels = np.asarray(labels)[rows]
    n = table.n
    label_bytes = _label_bytes(labels, n)
    enc = _Encoder(fp.kinds, fp.steps)
    # a plain numeric array: its column statistics come with the same pass (all columns
    # numeric, in the fingerprint's order, as ``_summary`` would read them)
    running = Running(len(fp.kinds)) if table.array is not None else None
    if running is not None and len(enc.numeric) != len(fp.kinds):
        running = None
    primary, probe_rows, probe_keys = enc.hash_rows(table, near, running)
    looked_up = _look_up(fp, primary, probe_rows, probe_keys, label_bytes)
    in_train, with_label, train_index = looked_up
    return Match(
        in_train,
        with_label,
        train_index,
        _digest(primary),
        n + int(probe_keys.shape[0]),
        GridRows(primary >> _U(8), lambda: _sample_codes(table, enc)),
        len(given.columns) == len(fp.columns),
        running.result() if running is not None else None,
    )


def _look_up(
    fp: Fingerprint,
    primary: np.ndarray,
    probe_rows: np.ndarray,
    probe_keys: np.ndarray,
    label_bytes: Any,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Per row: found (its own cell or a probe), found with its label, and one matching
    fingerprinted row (its own cell's first, else its first probe's); one hash probe per
    key against the fingerprint's index, ``LOOKUP_CHUNK`` keys at a time (the working
    memory stays a few MB whatever the rows)."""
    n = primary.shape[0]
    in_train = np.zeros(n, dtype=bool)
    train_index = np.full(n, -1, dtype=np.int64)
    with_label = np.zeros(n, dtype=bool) if label_bytes is not None and fp.has_labels else None
    sorted_h, sorted_f, order = fp._sorted
    if not sorted_f.shape[0]:
        return in_train, with_label, train_index
    _, first_pos = fp._feature_index
    find = _finder(fp, n + probe_rows.shape[0])
    step = LOOKUP_CHUNK
    own = ((np.arange(s, min(n, s + step)), primary[s : s + step]) for s in range(0, n, step))
    probes = (
        (probe_rows[s : s + step], probe_keys[s : s + step])
        for s in range(0, probe_rows.shape[0], step)
    )
    for rows, keys in itertools.chain(own, probes):  # own cells first, probes in order
        found = find(keys >> _U(8))  # -1: no fingerprinted row has these
        hit = np.flatnonzero(found >= 0)
        if not hit.size:
            continue
        hit_rows = rows[hit]
        in_train[hit_rows] = True
        first_rows, first = np.unique(hit_rows, return_index=True)
        new = train_index[first_rows] < 0  # an earlier chunk's hit comes first
        train_index[first_rows[new]] = order[first_pos[found[hit[first[new]]]]]
        if with_label is not None:
            full = keys[hit] | label_bytes[hit_rows]
            lpos = np.minimum(np.searchsorted(sorted_h, full), sorted_h.shape[0] - 1)
            with_label[hit_rows[sorted_h[lpos] == full]] = True
    return in_train, with_label, train_index


def _finder(fp: Fingerprint, n_keys: int) -> Callable[[np.ndarray], np.ndarray]:
    """Positions of feature keys in the fingerprint's distinct hashes (-1: absent):
    pandas' hash index, or the compiled one for lookups of ``KERNEL_MIN_KEYS`` keys or
    more in a fingerprint of at most ``KERNEL_MAX_INDEX_ROWS`` rows (the same positions)."""
    large = fp.n_rows <= encode.KERNEL_MAX_INDEX_ROWS
    kernel = _load_kernel() if large and worth_loading(n_keys, encode.KERNEL_MIN_KEYS) else None
    if kernel is None:
        return fp._feature_index[0].get_indexer
    slots, pos = fp._compiled_index
    return functools.partial(kernel.find, slots, pos)


def _sample_codes(table: _Table, enc: _Encoder) -> np.ndarray:
    """The codes of ``table``'s collision sample (``_sample_index``) under ``enc``."""
    rows = table.take(_sample_index(table.n))
    return enc.codes(rows, rows.numeric_block(enc.numeric), 0, rows.n)[0]


def rows_fingerprint(fp: Fingerprint, features: Any, found: Match) -> Fingerprint:
    """The rows ``fp.match(features)`` looked up, as a fingerprint on ``fp``'s grid: their
    own statistics, the feature hashes the lookup computed (label byte 0), no collision
    rates. One pass over the rows serves the lookup and the scaling statistics, and the
    rows of several lookups against one fingerprint share a grid (their digests compare).
    """
    table = _align(fp, _Table(features))
    if table.n != found.n_rows or found.rows is None:
        raise ValueError(f"the lookup covered {found.n_rows} rows, the data has {table.n}")
    if found.stats is not None:  # computed by the lookup's own pass over the rows
        _, mean, std, lo, hi, n_missing = found.stats
    else:
        summary, _, _ = _summary(table, fp.tolerance, exact=False)
        mean, std, lo, hi = summary.mean, summary.std, summary.min, summary.max
        n_missing = summary.n_missing
    d = len(fp.columns)
    rows = Fingerprint(
        hashes=found.rows.feature_hashes << _U(8),
        columns=list(fp.columns),
        kinds=list(fp.kinds),
        steps=np.asarray(fp.steps, dtype=np.float64).copy(),
        mean=mean,
        std=std,
        min=lo,
        max=hi,
        collision=np.full(d, np.nan),
        exact_collision=np.full(d, np.nan),
        n_missing=n_missing,
        tolerance=fp.tolerance,
        has_labels=False,
        positional=fp.positional,
    )
    rows.__dict__["digest"] = found.digest  # the same rows' features: the lookup's digest
    return rows

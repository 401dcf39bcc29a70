"""The ``Fingerprint`` of a table (row hashes plus column statistics) and how it is
computed: one chunked pass for the statistics, one for the row hashes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlflow_sanity.core.fingerprint import files
from mlflow_sanity.core.fingerprint.encode import (
    DEFAULT_TOLERANCE,
    _Encoder,
    _exact_codes,
    _f64,
    _label_bytes,
    _load_kernel,
    _Table,
)
from mlflow_sanity.core.fingerprint.hashing import _U, _digest
from mlflow_sanity.core.fingerprint.statistics import _collision, _sample_index, _summary

if TYPE_CHECKING:
    from mlflow_sanity.core.fingerprint.matching import Match


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """Per-row hashes plus per-column statistics of one table (training or validation data).

    ``hashes`` is the only per-row part (8 bytes a row). ``mean``, ``std`` (ddof=0),
    ``min`` and ``max`` cover the finite values of numeric columns (NaN for other kinds),
    so leakage checks can compare scaling statistics without the raw data. ``collision``
    is, per column, the chance that two random rows share a (grid-snapped) value, and
    ``exact_collision`` the same for exact values: they tell repeats that happen by
    chance (few distinct values, dense data) from copied rows.
    """

    hashes: np.ndarray
    columns: list[str]
    kinds: list[str]
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    collision: np.ndarray
    exact_collision: np.ndarray
    n_missing: np.ndarray
    tolerance: float = DEFAULT_TOLERANCE
    has_labels: bool = False
    positional: bool = False

    @property
    def n_rows(self) -> int:
        return int(self.hashes.shape[0])

    @property
    def feature_hashes(self) -> np.ndarray:
        """Hashes without the label byte: equal for rows with equal features."""
        return self.hashes >> _U(8)

    @cached_property
    def digest(self) -> str:
        """Order-independent digest of the rows' features: same multiset, same digest."""
        return _digest(self.hashes)

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.argsort(self.hashes)
        ordered = self.hashes[order]
        return ordered, ordered >> _U(8), order

    @cached_property
    def _feature_index(self) -> tuple[pd.Index, np.ndarray]:
        """A hash index of the distinct feature hashes and, per entry, its first position
        in ``_sorted``: looking up many rows costs one hash probe each (a fifth of a
        sort and binary search), and repeated matches against one fit reuse it."""
        _, sorted_f, _ = self._sorted
        distinct, first = np.unique(sorted_f, return_index=True)
        return pd.Index(distinct), first

    @cached_property
    def _compiled_index(self) -> tuple[np.ndarray, np.ndarray]:
        """``_feature_index`` as the compiled lookup's table (``kernel.find``): about
        four times faster than pandas' on the many keys of a large lookup."""
        index, _ = self._feature_index
        return _load_kernel().index_table(index.to_numpy(dtype=np.uint64))

    def column_stats(self) -> dict[str, dict[str, Any]]:
        """Per-column statistics as plain numbers (NaN as None), for reports."""
        return {
            name: {
                "kind": self.kinds[j],
                "mean": files._num(self.mean[j]),
                "std": files._num(self.std[j]),
                "min": files._num(self.min[j]),
                "max": files._num(self.max[j]),
            }
            for j, name in enumerate(self.columns)
        }

    def match(
        self, features: Any, labels: Any = None, *, near: bool = True, rows: Any = None
    ) -> Match:
        """Which rows of ``features`` occur in the fingerprinted data (see ``match``)."""
        from mlflow_sanity.core.fingerprint.matching import match

        return match(self, features, labels, near=near, rows=rows)

    def to_files(self, role: str = "train") -> dict[str, bytes]:
        """``fingerprint_<role>.npy`` (the hashes) and ``fingerprint_<role>.json`` (the rest)."""
        return files.to_files(self, role)

    @classmethod
    def from_files(cls, stored: Mapping[str, bytes], role: str | None = None) -> Fingerprint:
        """Rebuild from ``to_files`` output; ``role`` picks one pair when several are given."""
        return cls(**files.from_files(stored, role))


@dataclass(frozen=True, eq=False)
class GridRows:
    """Rows hashed on a grid, without a fingerprint's statistics: what counting repeated
    rows needs. ``feature_hashes`` as ``Fingerprint.feature_hashes``; ``sample_codes``
    the codes of the sample ``compute`` estimates collisions from (or a function that
    encodes them when first asked: a lookup with no repeats to explain never pays for
    them), so ``collision`` (a sort per column) is only paid when asked for."""

    feature_hashes: np.ndarray
    codes_of_sample: np.ndarray | Callable[[], np.ndarray] = field(repr=False)

    @cached_property
    def sample_codes(self) -> np.ndarray:
        got = self.codes_of_sample
        return got if isinstance(got, np.ndarray) else got()

    @cached_property
    def collision(self) -> np.ndarray:
        """Per column: how often two rows share a grid value (``Fingerprint.collision``)."""
        return _collision(self.sample_codes)


def grid_rows(features: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> GridRows:
    """``features`` hashed on their own grid (as ``compute`` would), collisions on demand."""
    table = _Table(features)
    summary, _, block = _summary(table, tolerance, exact=False)
    hashes, sample_codes = _hash_rows(table, block, _Encoder(summary.kinds, summary.steps))
    return GridRows(hashes >> _U(8), sample_codes)


def compute(
    features: Any,
    labels: Any = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    exact: bool = False,
    rates: bool = True,
) -> Fingerprint:
    """Fingerprint a table.

    ``features``: a DataFrame, an array (2-D; higher ranks are flattened per row) or a
    mapping of column name to array. ``labels``: class values, one-hot/probability rows
    (their argmax), or None. ``tolerance``: grid step relative to each continuous
    column's largest absolute value (see the module docstring); ``exact=True`` matches
    continuous columns exactly instead (no grid). ``rates=False`` leaves the collision
    rates unestimated (NaN: two sorts of the sample, about half the cost) for a
    fingerprint only read for its statistics and row hashes (the evaluated rows in the
    scaling comparison); ``repeat_chance`` refuses it. Memory: the hashes plus a few MB of
    working space; numeric arrays are read in place, not copied.
    """
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    table = _Table(features)
    n, d = table.n, len(table.columns)
    label_bytes = _label_bytes(labels, n)
    summary, num, block = _summary(table, tolerance, exact)
    kinds, steps = summary.kinds, summary.steps

    hashes, sample_codes = _hash_rows(table, block, _Encoder(kinds, steps))
    sample = _sample_index(n)
    if label_bytes is not None:
        hashes |= label_bytes
    collision = _collision(sample_codes) if rates else np.full(d, np.nan)
    exact_collision = collision.copy()
    cont = [j for j in range(d) if kinds[j] == "continuous"]
    if cont and sample.size and rates:
        rows = np.ix_([num.index(j) for j in cont], sample)
        exact_collision[cont] = _collision(_exact_codes(_f64(block[rows])))
    return Fingerprint(
        hashes=hashes,
        columns=list(table.columns),
        kinds=kinds,
        steps=steps,
        mean=summary.mean,
        std=summary.std,
        min=summary.min,
        max=summary.max,
        collision=collision,
        exact_collision=exact_collision,
        n_missing=summary.n_missing,
        tolerance=float(tolerance),
        has_labels=label_bytes is not None,
        positional=table.positional,
    )


def _hash_rows(table: _Table, block: Any, enc: _Encoder) -> tuple[np.ndarray, np.ndarray]:
    """Every row's feature hash (label byte 0), and the codes of the collision sample."""
    hashes, _, _ = enc.hash_rows(table, near=False, block=block)
    rows = table.take(_sample_index(table.n))
    return hashes, enc.codes(rows, rows.numeric_block(enc.numeric), 0, rows.n)[0]

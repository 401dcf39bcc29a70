"""Per-column statistics of a table in one chunked pass (kinds, grid steps, mean, std,
min, max, missing counts) and the collision rates estimated on a fixed sample of rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_sanity.core.fingerprint import encode
from mlflow_sanity.core.fingerprint.encode import _NUMERIC, _Table


@dataclass(frozen=True, eq=False)
class _ColumnSummary:
    """A table's per-column kinds, grid steps and statistics (as in ``Fingerprint``):
    the first pass of ``compute`` and ``grid_rows``, before any row is hashed."""

    columns: list[str]
    kinds: list[str]
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    n_missing: np.ndarray
    n_rows: int


def _summary(table: _Table, tolerance: float, exact: bool) -> tuple[_ColumnSummary, list[int], Any]:
    """Kinds, grid steps and statistics of ``table``'s columns; the positions of the numeric
    columns and their (columns, rows) block, which hashing reads next."""
    n, d = table.n, len(table.columns)
    if d == 0:
        raise ValueError("no feature columns to fingerprint")
    kinds = table.kinds()
    mean, std, lo, hi = (np.full(d, np.nan) for _ in range(4))
    n_missing = np.zeros(d, dtype=np.int64)
    steps = np.zeros(d)
    num = [j for j, k in enumerate(kinds) if k in _NUMERIC]
    block = table.numeric_block(num)
    if num:
        integral, mean[num], std[num], lo[num], hi[num], n_missing[num] = _stats(block)
        for pos, j in enumerate(num):
            if kinds[j] == "continuous" and (integral[pos] or exact):
                kinds[j] = "exact"
            if kinds[j] == "continuous":
                scale = max(abs(lo[j]), abs(hi[j])) if np.isfinite(lo[j]) else 1.0
                steps[j] = tolerance * (scale if 0 < scale < np.inf else 1.0)
    for j in range(d):
        if j not in num:
            n_missing[j] = table.n_missing(j)
    stats = _ColumnSummary(list(table.columns), kinds, steps, mean, std, lo, hi, n_missing, n)
    return stats, num, block


def _stats(
    block: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``block`` (a column): integral?, mean, std (ddof=0), min, max over finite
    values, and the NaN count; chunked with Chan's merge so memory stays flat."""
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308 give inf stats
        return _stats_chunked(block)


def _stats_chunked(
    block: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    running = Running(block.shape[0])
    for start in range(0, block.shape[1], encode.CHUNK_ROWS):
        running.add(block[:, start : start + encode.CHUNK_ROWS])
    return running.result()


class Running:
    """Column statistics (as ``_stats``) accumulated chunk by chunk with Chan's merge, so
    a pass that reads the rows for another reason (a lookup hashing them) computes them
    on the way: the chunks are in cache once. Chunks of ``CHUNK_ROWS`` rows at the same
    offsets give the same numbers, bit for bit, as ``_stats``."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.lo, self.hi = np.full(k, np.inf), np.full(k, -np.inf)
        self.count, self.mean, self.m2 = np.zeros(k), np.zeros(k), np.zeros(k)
        self.integral = np.ones(k, dtype=bool)
        self.missing = np.zeros(k, dtype=np.int64)

    def add_aligned(self, block: np.ndarray, start: int, stop: int) -> None:
        """Rows ``start:stop`` of ``block``, cut at the multiples of ``CHUNK_ROWS``."""
        step = encode.CHUNK_ROWS
        at = start
        while at < stop:
            end = min(stop, (at // step + 1) * step)
            self.add(block[:, at:end])
            at = end

    def add(self, chunk: np.ndarray) -> None:
        # one contiguous float64 copy of the chunk: the reductions along its rows then
        # read memory in order (2-3x faster on the transposed view of a row-major array)
        with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308: inf stats
            self._add(np.ascontiguousarray(chunk, dtype=np.float64))

    def _add(self, x: np.ndarray) -> None:
        k = self.k
        c_lo, c_hi = x.min(axis=1), x.max(axis=1)
        if np.isfinite(c_lo).all() and np.isfinite(c_hi).all():  # no NaN or inf here
            c = np.full(k, float(x.shape[1]))
            self.lo, self.hi = np.fmin(self.lo, c_lo), np.fmax(self.hi, c_hi)
            mu = x.mean(axis=1)
            dev = x - mu[:, None]
            d2 = np.einsum("ij,ij->i", dev, dev)
            todo = np.flatnonzero(self.integral)
            if todo.size:
                part = x[todo]
                self.integral[todo] = (part == np.floor(part)).all(axis=1)
        else:
            finite = np.isfinite(x)
            self.missing += np.isnan(x).sum(axis=1)
            c = finite.sum(axis=1).astype(np.float64)
            xf = np.where(finite, x, np.nan)
            self.lo = np.fmin(self.lo, np.fmin.reduce(xf, axis=1))
            self.hi = np.fmax(self.hi, np.fmax.reduce(xf, axis=1))
            mu = np.where(finite, x, 0.0).sum(axis=1) / np.maximum(c, 1)
            d2 = np.where(finite, np.square(x - mu[:, None]), 0.0).sum(axis=1)
            whole = np.where(finite, x == np.floor(np.where(finite, x, 0.0)), True)
            self.integral &= whole.all(axis=1)
        total = self.count + c
        w = np.divide(c, total, out=np.zeros(k), where=total > 0)
        delta = mu - self.mean
        self.mean = self.mean + delta * w
        self.m2 = self.m2 + d2 + np.square(delta) * self.count * w
        self.count = total

    def result(
        self,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """integral?, mean, std (ddof=0), min, max over finite values, NaN count."""
        k, count = self.k, self.count
        mean, lo, hi = self.mean.copy(), self.lo.copy(), self.hi.copy()
        empty = count == 0
        std = np.sqrt(np.divide(self.m2, count, out=np.zeros(k), where=~empty))
        for arr in (mean, std, lo, hi):
            arr[empty] = np.nan
        return self.integral.copy(), mean, std, lo, hi, self.missing.copy()


def _sample_index(n: int) -> np.ndarray:
    if n <= encode.COLLISION_SAMPLE:
        return np.arange(n)
    idx = np.linspace(0, n - 1, encode.COLLISION_SAMPLE).astype(np.int64)  # ascending already
    return idx[np.concatenate(([True], idx[1:] != idx[:-1]))]  # np.unique, without a hash


def _collision(codes: np.ndarray) -> np.ndarray:
    """Per column: the chance two different sampled rows share a code (unbiased estimate)."""
    d, s = codes.shape
    if s < 2:
        return np.zeros(d)
    ordered = np.sort(codes, axis=1)
    out = np.empty(d)
    for j in range(d):
        edges = np.flatnonzero(np.diff(ordered[j]) != 0)
        runs = np.diff(np.concatenate([[-1], edges, [s - 1]])).astype(np.float64)
        out[j] = float((runs * (runs - 1)).sum() / (s * (s - 1.0)))
    return out

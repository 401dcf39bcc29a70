"""Column values as ``uint64`` codes: a read-only view of the input table (``_Table``:
arrays stay arrays, no copy), each column's kind, and the ``_Encoder`` that snaps numbers
to a fingerprint's grid (see the package docstring for the kinds and the grid)."""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from mlflow_sanity.core.fingerprint.hashing import (
    _CLIP,
    _LABEL_MASK,
    _LABEL_SALT,
    _MISSING,
    _finish,
    _mix,
    _salts,
    probe_keys,
)

DEFAULT_TOLERANCE = 2e-5
PROBE_MARGIN = 1.0 / 128  # share of a grid step, either side of a boundary, probed both ways
MAX_PROBED_COLUMNS = 10  # per row: at most 2**10 probes even for pathological rows
CHUNK_ROWS = 4096  # rows encoded at once: intermediates stay in cache, memory stays flat
LOOKUP_CHUNK = 1 << 18  # keys looked up in the fingerprint's index at once (bounded memory)
MATCH_CHUNK_ROWS = 8192  # rows looked up at once (fewer, larger steps; memory still flat)
COLLISION_SAMPLE = 20000  # rows used to estimate how often column values repeat
# values (rows x columns) from which a numeric table is hashed by the compiled pass once it
# is loaded: there it gains about 1 ms a call (4x on 20 float32 columns)
KERNEL_MIN_VALUES = 300_000
# values from which a call loads the compiled pass (importing numba and its cached code
# takes about 0.7 s, once per process). Measured: the NumPy pass hashes about 11 ns a value,
# the compiled one about 4 ns, so from about 37M values a checked fit and one evaluate of
# the table (three hashing passes) win the load back; smaller tables, the usual case, never
# pay it. Below this, the compiled pass runs only when something larger loaded it already.
KERNEL_LOAD_VALUES = 1 << 25
# ... or once the process has hashed this many values with NumPy, from tables of at least
# KERNEL_MIN_VALUES each (about 0.7 s of NumPy hashing: as much as the load costs, so a
# long job of many medium tables pays at most twice what the best choice would have:
# the rule of renting until the rent paid equals the price). Counted in values, not
# seconds: the path never depends on the machine's load (both give the same hashes).
KERNEL_LOAD_AFTER = 1 << 26
# values hashed (and keys looked up) by NumPy and pandas that the compiled pass would
# have taken: ``worth_loading`` adds each call it turns away
_numpy_values = 0
# a lookup of this many keys (rows and probes) or more in a fingerprint of at most
# KERNEL_MAX_INDEX_ROWS rows uses the compiled index: up to twice as fast as pandas' while
# its table (16 bytes a slot, at most half full) stays in cache, slower past it
KERNEL_MIN_KEYS = 100_000
KERNEL_MAX_INDEX_ROWS = 250_000
KINDS = ("continuous", "exact", "datetime", "timedelta", "text")
_NUMERIC = ("continuous", "exact")


def as_frame(features: Any) -> tuple[pd.DataFrame, bool]:
    """A DataFrame of ``features`` and whether its column names are mere positions."""
    if isinstance(features, pd.DataFrame):
        return features, False
    if isinstance(features, pd.Series):
        return features.to_frame(), False
    if isinstance(features, Mapping):
        parts: dict[str, Any] = {}
        for name, values in features.items():
            arr = np.asarray(values)
            if arr.ndim <= 1:
                parts[str(name)] = arr
            else:
                flat = arr.reshape(arr.shape[0], -1)
                for j in range(flat.shape[1]):
                    parts[f"{name}[{j}]"] = flat[:, j]
        return pd.DataFrame(parts), False
    arr = _as_2d(features)
    return pd.DataFrame(arr, columns=[str(j) for j in range(arr.shape[1])]), True


class _Table:
    """A read-only view of the input: plain numeric arrays stay arrays (no copy), anything
    else becomes a DataFrame."""

    def __init__(self, features: Any, *, _parts: tuple | None = None) -> None:
        parts = _parts if _parts is not None else _table_parts(features)
        self.array: np.ndarray | None = parts[0]
        self.df: pd.DataFrame | None = parts[1]
        self.columns: list[str] = parts[2]
        self.positional: bool = parts[3]
        self.n = int(self.array.shape[0] if self.array is not None else self.df.shape[0])

    def select(self, cols: list[int], names: list[str]) -> _Table:
        if self.array is not None:
            arr = self.array if cols == list(range(self.array.shape[1])) else self.array[:, cols]
            return _Table(None, _parts=(arr, None, list(names), self.positional))
        df = self.df.iloc[:, cols].set_axis(list(names), axis=1)
        return _Table(None, _parts=(None, df, list(names), self.positional))

    def take(self, rows: np.ndarray) -> _Table:
        if self.array is not None:
            return _Table(None, _parts=(self.array[rows], None, self.columns, self.positional))
        return _Table(None, _parts=(None, self.df.iloc[rows], self.columns, self.positional))

    def frame(self) -> pd.DataFrame:
        if self.df is not None:
            return self.df
        return pd.DataFrame(self.array, columns=self.columns)

    def kinds(self) -> list[str]:
        if self.array is not None:
            kind = "continuous" if self.array.dtype.kind == "f" else "exact"
            return [kind] * len(self.columns)
        return [_kind(self.df.iloc[:, j]) for j in range(self.df.shape[1])]

    def column(self, j: int, start: int, stop: int) -> pd.Series:
        if self.df is not None:
            return self.df.iloc[start:stop, j]
        return pd.Series(self.array[start:stop, j])

    def n_missing(self, j: int) -> int:
        return int(self.column(j, 0, self.n).isna().sum())

    def numeric_block(self, cols: list[int]) -> np.ndarray:
        """Numeric columns as a (columns, rows) block, a view where possible: float64 from
        frames (NaN for missing or unparsable values), the array's own dtype from arrays."""
        if self.array is not None:
            arr = self.array if cols == list(range(self.array.shape[1])) else self.array[:, cols]
            return arr.T  # cast to float64 chunk by chunk: float32 input is not copied whole
        return _numeric_block(self.df, cols)


def _table_parts(features: Any) -> tuple[Any, ...]:
    """(array, frame, column names, positional?) of ``features`` for ``_Table``."""
    if isinstance(features, (pd.DataFrame, pd.Series, Mapping)):
        df, positional = as_frame(features)
        return None, df, [str(c) for c in df.columns], positional
    arr = _as_2d(features)
    columns = [str(j) for j in range(arr.shape[1])]
    if arr.dtype.kind in "biuf":
        return arr, None, columns, True
    return None, pd.DataFrame(arr, columns=columns), columns, True


def _as_2d(features: Any) -> np.ndarray:
    arr = np.asarray(features)
    if arr.ndim == 0:
        raise ValueError("features must be a table, got a scalar")
    if arr.ndim == 1:
        return arr[:, None]
    return arr.reshape(arr.shape[0], -1) if arr.ndim > 2 else arr


class _Encoder:
    """Turns column values into uint64 codes following a fingerprint's kinds and grid."""

    def __init__(self, kinds: Sequence[str], steps: np.ndarray) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown column kind(s) {sorted(unknown)}")
        self.kinds = list(kinds)
        self.numeric = [j for j, k in enumerate(self.kinds) if k in _NUMERIC]
        cont = [p for p, j in enumerate(self.numeric) if self.kinds[j] == "continuous"]
        exact = [p for p, j in enumerate(self.numeric) if self.kinds[j] == "exact"]
        self.cont_pos, self.exact_pos = (
            np.array(cont, dtype=np.intp),
            np.array(exact, dtype=np.intp),
        )
        self.cont_cols = np.array([self.numeric[p] for p in cont], dtype=np.intp)
        self.exact_cols = np.array([self.numeric[p] for p in exact], dtype=np.intp)
        self.all_continuous = len(cont) == len(self.kinds)
        steps = np.asarray(steps, dtype=np.float64)[self.cont_cols]
        # A step whose inverse would overflow belongs to an all-but-zero column: no scale.
        self.inv = (1.0 / np.where(steps > 1e-300, steps, 1.0))[:, None]
        self.salts = _salts(len(self.kinds))

    def codes(
        self,
        table: _Table,
        block: np.ndarray,
        start: int,
        stop: int,
        *,
        probes: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
        """Codes of rows ``start:stop`` (columns x rows) and, with ``probes``, the values
        near a boundary of their grid cell: their columns, rows (within the chunk) and side
        (-1 lower, +1 upper), ordered by column then row."""
        d, m = len(self.kinds), stop - start
        if self.all_continuous:  # float32 is widened by the multiplication itself; the
            # chunk of a row-major array is copied into column rows once (each pass after
            # that reads memory in order: about a sixth less time on 20 columns)
            return _quantise(np.ascontiguousarray(block[:, start:stop]), self.inv, probes)
        codes = np.empty((d, m), dtype=np.uint64)
        close = None
        if self.cont_pos.size:
            q, close = _quantise(_f64(block[self.cont_pos, start:stop]), self.inv, probes)
            codes[self.cont_cols] = q
            if close is not None:
                close = (self.cont_cols[close[0]], close[1], close[2])
        elif probes:
            empty = np.zeros(0, dtype=np.intp)
            close = (empty, empty, np.zeros(0, dtype=np.int8))
        if self.exact_pos.size:
            codes[self.exact_cols] = _exact_codes(_f64(block[self.exact_pos, start:stop]))
        for j, kind in enumerate(self.kinds):
            if kind not in _NUMERIC:
                col = table.column(j, start, stop)
                codes[j] = _text_codes(col) if kind == "text" else _time_codes(col, kind)
        return codes, close

    def contributions(self, codes: np.ndarray, *, inplace: bool = False) -> np.ndarray:
        """Each value's hash contribution; ``inplace`` overwrites ``codes`` with them."""
        if inplace:
            np.bitwise_xor(codes, self.salts[:, None], out=codes)
            return _mix(codes)
        return _mix(codes ^ self.salts[:, None])

    def contribution(self, j: int, codes: np.ndarray) -> np.ndarray:
        return _mix(codes ^ self.salts[j])

    def hash_rows(
        self,
        table: _Table,
        near: bool,
        running: Any = None,
        *,
        block: np.ndarray | None = None,
        compiled: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row's feature hash (label byte 0) and, with ``near``, the probes of
        the values near a cell boundary: their row ids and keys (``hashing.probe_keys``).
        ``running`` (a ``statistics.Running``) gets the column statistics of the rows on
        the way. ``compiled``: None picks the compiled pass (``kernel``) for large numeric
        tables, True/False forces it (where it applies) or the NumPy pass (the reference);
        ``block``: ``table.numeric_block(self.numeric)`` when the caller has it."""
        if block is None:
            block = table.numeric_block(self.numeric)
        kernel = self._kernel(block, compiled)
        if kernel is None:
            primary, sums, found = self._hash_chunks(table, block, near, running)
            return (primary, *probe_keys(self.salts, MAX_PROBED_COLUMNS, sums, found))
        cont = np.array([k == "continuous" for k in self.kinds])
        inv = np.ones(len(self.kinds))
        inv[self.cont_cols] = self.inv[:, 0]
        args = (block.T, cont, inv, self.salts, near, MAX_PROBED_COLUMNS)
        if running is None:
            return kernel.hash_table(*args)
        # the compiled pass releases the GIL: the statistics (NumPy, bit for bit those of a
        # pass of their own) are gathered beside it, on another core where there is one
        with ThreadPoolExecutor(1, thread_name_prefix="mlflow-sanity-hash") as pool:
            hashed = pool.submit(kernel.hash_table, *args)
            running.add_aligned(block, 0, table.n)
            return hashed.result()

    def _kernel(self, block: np.ndarray, compiled: bool | None) -> Any:
        """The compiled module when it applies to ``block`` and is wanted, else None."""
        if compiled is False or len(self.numeric) != len(self.kinds):
            return None
        if block.dtype not in _KERNEL_DTYPES:
            return None
        if compiled is None and not worth_loading(block.size, KERNEL_MIN_VALUES):
            return None
        return _load_kernel()

    def _hash_chunks(
        self, table: _Table, block: np.ndarray, near: bool, running: Any
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, ...]]]:
        """``hash_rows`` in NumPy, ``MATCH_CHUNK_ROWS`` rows at a time (each chunk's
        statistics taken while it is in cache): the hashes, the sums of the rows with
        near values and, per chunk, those values (rows, columns, side, codes and
        contributions), which ``hashing.probe_keys`` expands."""
        n = table.n
        primary = np.empty(n, dtype=np.uint64)
        near_sums: list[np.ndarray] = []
        found_near: list[tuple[np.ndarray, ...]] = []
        for start in range(0, n, MATCH_CHUNK_ROWS):
            stop = min(n, start + MATCH_CHUNK_ROWS)
            if running is not None:
                running.add_aligned(block, start, stop)
            codes, close = self.codes(table, block, start, stop, probes=near)
            close_code = codes[close[0], close[1]] if close is not None else None
            contrib = self.contributions(codes, inplace=True)  # the codes are read: reuse
            acc = contrib.sum(axis=0, dtype=np.uint64)
            if close is not None and close[0].size:
                col, row, sign = close
                found_near.append((row + start, col, sign, close_code, contrib[col, row]))
                near_sums.append(acc[np.unique(row)])
            primary[start:stop] = _finish(acc)
        sums = np.concatenate(near_sums) if near_sums else np.zeros(0, dtype=np.uint64)
        return primary, sums, found_near


_KERNEL_DTYPES = tuple(np.dtype(t) for t in ("float32", "float64", "int32", "int64"))


def worth_loading(work: int, least: int) -> bool:
    """Whether a call of ``work`` values uses the compiled pass: from ``least`` values when
    it is loaded already, from ``KERNEL_LOAD_VALUES`` when it would have to be loaded, or
    once ``KERNEL_LOAD_AFTER`` values went to NumPy instead."""
    global _numpy_values
    if work < least:
        return False
    if work >= KERNEL_LOAD_VALUES or _load_kernel.cache_info().currsize > 0:
        return True
    _numpy_values += work  # this call hashes by NumPy; a later one may load instead
    return _numpy_values >= KERNEL_LOAD_AFTER


@functools.cache
def _load_kernel() -> Any:
    """The compiled module, or None where numba cannot be imported or cannot cache its
    code anywhere (then the NumPy pass, the same hashes, does the work). Imported here:
    the boundary's metrics import scipy, which fingerprints of small tables do not need."""
    from mlflow_sanity.core.boundary import Origin, attempt

    return attempt(
        lambda: importlib.import_module("mlflow_sanity.core.fingerprint.kernel"),
        None,
        Origin.OUTSIDE,
        "loading the compiled row hashing (numba)",
    )


def _f64(x: np.ndarray) -> np.ndarray:
    return x if x.dtype == np.float64 else x.astype(np.float64)


def _kind(col: pd.Series) -> str:
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "text"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return "exact"
    if pd.api.types.is_float_dtype(dtype):
        return "continuous"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    return "text"


def _numeric_block(frame: pd.DataFrame, cols: list[int]) -> np.ndarray:
    """Numeric DataFrame columns as a (columns, rows) float64 block; a view of the frame's
    memory when it is one float64 block."""
    n = frame.shape[0]
    if not cols:
        return np.empty((0, n))
    sub = frame if len(cols) == frame.shape[1] else frame.iloc[:, cols]
    try:
        block = sub.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        block = np.empty((n, len(cols)))
        for k in range(len(cols)):
            series = pd.to_numeric(sub.iloc[:, k], errors="coerce")
            block[:, k] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return block.T


def _quantise(
    x: np.ndarray, inv: np.ndarray, probes: bool
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Grid cell of each value (``rint(x / step)``) and, with ``probes``, the values
    within ``PROBE_MARGIN`` of their cell's lower/upper boundary (see ``_Encoder.codes``)."""
    y = np.multiply(x, inv, dtype=np.float64)  # exact widening of float32 values first
    q = np.rint(y)
    close = None
    if probes:
        with np.errstate(invalid="ignore"):  # NaN for NaN/inf, which is never probed
            frac = np.subtract(y, q, out=y)  # in [-0.5, 0.5]
            flat = np.flatnonzero(np.abs(frac, out=frac) > 0.5 - PROBE_MARGIN)
        col, row = np.divmod(flat, frac.shape[1])  # column by column, as ``np.nonzero``
        # the side, for those few values only: above or below their cell's centre
        above = np.multiply(x[col, row], inv[col, 0], dtype=np.float64) > q[col, row]
        close = (col, row, np.where(above, 1, -1).astype(np.int8))
    lo, hi = q.min(initial=0.0), q.max(initial=0.0)
    if lo >= -_CLIP and hi <= _CLIP:  # also False when NaN is present
        return q.astype(np.int64).view(np.uint64), close
    nan = np.isnan(q)
    np.clip(q, -_CLIP, _CLIP, out=q)
    q[nan] = 0.0
    codes = q.astype(np.int64).view(np.uint64)
    codes[nan] = _MISSING
    return codes, close


def _exact_codes(x: np.ndarray) -> np.ndarray:
    """The float64 bit pattern, with -0.0 folded into 0.0 and one code for NaN."""
    codes = (x + 0.0).view(np.uint64)
    nan = np.isnan(x)
    if nan.any():
        codes[nan] = _MISSING
    return codes


def _text_codes(col: pd.Series) -> np.ndarray:
    values = col.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = ""
    values = _decoded(values)
    codes = pd.util.hash_array(values.astype(str).astype(object), categorize=True)
    codes = np.asarray(codes, dtype=np.uint64)
    codes[missing] = _MISSING
    return codes


def _decoded(values: np.ndarray) -> np.ndarray:
    """UTF-8 bytes as text: ``tf.data`` and string tensors hand Keras' strings over as
    bytes (``b"red"``), pandas and NumPy as ``str``; both are the same value."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", "replace").astype(object)
    if values.dtype == object and any(isinstance(v, bytes) for v in values):
        return np.array(
            [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values],
            dtype=object,
        )
    return values


def _time_codes(col: pd.Series, kind: str) -> np.ndarray:
    if kind == "timedelta":
        values = pd.to_timedelta(col, errors="coerce").to_numpy(dtype="timedelta64[ns]")
    else:
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            stamps = (
                col.dt.tz_convert("UTC") if col.dt.tz is not None else col.dt.tz_localize("UTC")
            )
        else:  # text read back from a file
            stamps = pd.to_datetime(col, errors="coerce", utc=True, format="ISO8601")
        values = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    ints = values.view(np.int64)
    codes = ints.astype(np.uint64)
    codes[ints == np.iinfo(np.int64).min] = _MISSING  # NaT
    return codes


def _label_bytes(labels: Any, n: int) -> np.ndarray | None:
    """One byte per row hashing the label; one-hot or probability rows count as argmax."""
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim == 2:
        arr = arr[:, 0] if arr.shape[1] == 1 else arr.argmax(axis=1)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D (or one-hot 2-D), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{n} rows of features but {arr.shape[0]} labels")
    if arr.dtype.kind in "OUS":  # "1" and 1 are the same class (CSV vs. encoded targets)
        with contextlib.suppress(TypeError, ValueError):
            arr = pd.to_numeric(arr).astype(np.float64)
    if arr.dtype.kind in "biuf":
        codes = _exact_codes(arr.astype(np.float64))
    else:
        codes = _text_codes(pd.Series(arr))
    return _mix(codes ^ _LABEL_SALT) & _LABEL_MASK

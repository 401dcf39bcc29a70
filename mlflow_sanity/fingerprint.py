"""Row fingerprints: find evaluation rows that also occur in training data, without the data.

A ``Fingerprint`` summarises a table in 8 bytes per row plus a few numbers per column,
so autolog can log it at the end of ``fit`` and the evaluator can later test new data
against it without keeping the training set. Pure numpy/pandas, vectorised, no pickle.

Row hash layout (one ``uint64`` per row)::

    bits 63..8  hash of the row's (quantised) feature values
    bits  7..0  hash of the row's label (0 when no labels were given)

so matching "with label" compares whole hashes and matching "features only" compares
``hash >> 8``. The feature part is ``mix(sum_j mix(code_j ^ salt_j))``: an additive
combination of per-column hashes, which lets a probe swap one column's code cheaply.

Column kinds (decided on the fingerprinted data, reused for data matched against it):

- ``continuous`` (numbers with non-integral values): the value is snapped to a grid of
  width ``step = tolerance * scale``, ``scale`` being the column's largest absolute
  value. Float noise (a float32 cast, re-scaling, CSV round trips) moves a value far less
  than a step, so it keeps its cell. A value closer than ``step / 32`` to a cell boundary
  is also looked up in the neighbouring cell (a probe), so rows whose every column
  differs by at most ``step / 32`` always match, and rows with a column differing by
  more than ``step * 33 / 32`` never match; in between it depends on where the grid falls.
- ``exact`` (integral numbers, booleans): compared exactly; rounding would merge ids.
- ``datetime`` / ``timedelta``: compared exactly at nanosecond resolution (UTC).
- ``text`` (strings, categories, mixed objects): the ``str()`` of each value, hashed
  with ``pandas.util.hash_array``.

Missing values (NaN, None, NaT) share one code, so NaN equals NaN; ``-0.0`` equals
``0.0``. Two different rows collide with probability about ``2**-56`` per pair, and two
different labels share a label byte with probability 1/256.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from io import BytesIO
from typing import Any

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
DEFAULT_TOLERANCE = 1e-5
PROBE_MARGIN = 1.0 / 32  # share of a grid step, either side of a boundary, probed both ways
MAX_PROBED_COLUMNS = 10  # per row: at most 2**10 probes even for pathological rows
CHUNK_ROWS = 16384  # rows encoded at once: intermediates stay in cache, memory stays flat
COLLISION_SAMPLE = 20000  # rows used to estimate how often column values repeat
KINDS = ("continuous", "exact", "datetime", "timedelta", "text")

_U = np.uint64
_M1, _M2 = _U(0xBF58476D1CE4E5B9), _U(0x94D049BB133111EB)
_GOLDEN = _U(0x9E3779B97F4A7C15)
_LABEL_MASK = _U(0xFF)
_FEATURE_MASK = ~_LABEL_MASK
_ROW_SALT = _U(0x2545F4914F6CDD1D)
_LABEL_SALT = _U(0x5851F42D4C957F2D)
_DIGEST_SALTS = (_U(0x14057B7EF767814F), _U(0x3C6EF372FE94F82B))
_MISSING = _U(0x7FF4A5A5A5A5A5A5)  # code of NaN/None/NaT in every kind
_CLIP = float(2**62)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a ``uint64`` array (bijective, avalanching)."""
    x ^= x >> _U(30)
    x *= _M1
    x ^= x >> _U(27)
    x *= _M2
    x ^= x >> _U(31)
    return x


def _salts(n: int) -> np.ndarray:
    return _mix((np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN) ^ _ROW_SALT)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """Per-row hashes plus per-column statistics of one table (training or validation data).

    ``hashes`` is the only per-row part (8 bytes a row). ``mean``, ``std`` (ddof=0),
    ``min`` and ``max`` cover the finite values of numeric columns (NaN for other kinds),
    so leakage checks can compare scaling statistics without the raw data. ``collision``
    is, per column, the chance that two random rows share a (grid-snapped) value: it
    tells repeats that happen by chance (few distinct values) from copied rows.
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

    def column_stats(self) -> dict[str, dict[str, Any]]:
        """Per-column statistics as plain numbers (NaN as None), for reports."""
        return {
            name: {
                "kind": self.kinds[j],
                "mean": _num(self.mean[j]),
                "std": _num(self.std[j]),
                "min": _num(self.min[j]),
                "max": _num(self.max[j]),
            }
            for j, name in enumerate(self.columns)
        }

    def match(self, features: Any, labels: Any = None, *, near: bool = True) -> Match:
        """Which rows of ``features`` occur in the fingerprinted data (see ``match``)."""
        return match(self, features, labels, near=near)

    def to_files(self, role: str = "train") -> dict[str, bytes]:
        """``fingerprint_<role>.npy`` (the hashes) and ``fingerprint_<role>.json`` (the rest).

        A plain ``.npy`` saved with ``allow_pickle=False`` plus JSON: safe to load from any
        run, nothing in them is executable.
        """
        buf = BytesIO()
        np.save(buf, np.ascontiguousarray(self.hashes, dtype="<u8"), allow_pickle=False)
        meta = {
            "format_version": FORMAT_VERSION,
            "role": role,
            "n_rows": self.n_rows,
            "digest": self.digest,
            "columns": list(self.columns),
            "kinds": list(self.kinds),
            "steps": _floats(self.steps),
            "mean": _floats(self.mean),
            "std": _floats(self.std),
            "min": _floats(self.min),
            "max": _floats(self.max),
            "collision": _floats(self.collision),
            "n_missing": [int(v) for v in self.n_missing],
            "tolerance": self.tolerance,
            "has_labels": self.has_labels,
            "positional": self.positional,
            "hash_layout": "uint64 little-endian: bits 63..8 features, bits 7..0 label",
        }
        return {
            f"fingerprint_{role}.npy": buf.getvalue(),
            f"fingerprint_{role}.json": json.dumps(meta, indent=1).encode(),
        }

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], role: str | None = None) -> Fingerprint:
        """Rebuild from ``to_files`` output; ``role`` picks one pair when several are given."""
        names = sorted(n for n in files if n.startswith("fingerprint_") and n.endswith(".json"))
        if role is not None:
            names = [n for n in names if n == f"fingerprint_{role}.json"]
        if len(names) != 1:
            raise ValueError(f"expected one fingerprint .json among {sorted(files)}")
        meta = json.loads(files[names[0]].decode())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported fingerprint format {meta.get('format_version')!r}")
        npy = names[0][: -len(".json")] + ".npy"
        if npy not in files:
            raise ValueError(f"{npy} is missing next to {names[0]}")
        hashes = np.load(BytesIO(files[npy]), allow_pickle=False)
        if hashes.dtype != np.dtype("<u8") or hashes.ndim != 1 or len(hashes) != meta["n_rows"]:
            raise ValueError(f"{npy} does not hold {meta['n_rows']} uint64 row hashes")
        return cls(
            hashes=hashes.astype(np.uint64, copy=False),
            columns=[str(c) for c in meta["columns"]],
            kinds=[str(k) for k in meta["kinds"]],
            steps=_array(meta["steps"]),
            mean=_array(meta["mean"]),
            std=_array(meta["std"]),
            min=_array(meta["min"]),
            max=_array(meta["max"]),
            collision=_array(meta["collision"]),
            n_missing=np.asarray(meta["n_missing"], dtype=np.int64),
            tolerance=float(meta["tolerance"]),
            has_labels=bool(meta["has_labels"]),
            positional=bool(meta["positional"]),
        )


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

    @property
    def n_rows(self) -> int:
        return int(self.in_train.shape[0])

    @property
    def share(self) -> float:
        return float(self.in_train.mean()) if self.n_rows else 0.0


# --------------------------------------------------------------------------- compute


def compute(
    features: Any, labels: Any = None, *, tolerance: float = DEFAULT_TOLERANCE
) -> Fingerprint:
    """Fingerprint a table.

    ``features``: a DataFrame, a 2-D array (higher ranks are flattened per row) or a
    mapping of column name to array. ``labels``: class values, or one-hot/probability
    rows (their argmax), or None. ``tolerance``: grid step relative to each continuous
    column's largest absolute value (see the module docstring).
    """
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    frame, positional = as_frame(features)
    n, d = frame.shape
    if d == 0:
        raise ValueError("no feature columns to fingerprint")
    label_bytes = _label_bytes(labels, n)
    kinds = [_kind(frame.iloc[:, j]) for j in range(d)]
    mean, std, lo, hi = (np.full(d, np.nan) for _ in range(4))
    n_missing = np.zeros(d, dtype=np.int64)
    steps = np.zeros(d)
    num = [j for j, k in enumerate(kinds) if k in ("continuous", "exact")]
    block = _numeric_block(frame, num)
    if num:
        integral, mean[num], std[num], lo[num], hi[num], n_missing[num] = _stats(block)
        for pos, j in enumerate(num):
            if kinds[j] == "continuous" and integral[pos]:
                kinds[j] = "exact"
            if kinds[j] == "continuous":
                scale = max(abs(lo[j]), abs(hi[j])) if np.isfinite(lo[j]) else 1.0
                steps[j] = tolerance * (scale if scale > 0 else 1.0)
    for j in range(d):
        if j not in num:
            n_missing[j] = int(frame.iloc[:, j].isna().sum())

    enc = _Encoder(kinds, steps)
    hashes = np.empty(n, dtype=np.uint64)
    sample = _sample_index(n)
    sample_codes = np.empty((d, sample.shape[0]), dtype=np.uint64)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        codes, _ = enc.codes(frame, block, start, stop)
        lo_s, hi_s = np.searchsorted(sample, [start, stop])
        if hi_s > lo_s:
            sample_codes[:, lo_s:hi_s] = codes[:, sample[lo_s:hi_s] - start]
        sums = enc.contributions(codes).sum(axis=0, dtype=np.uint64)
        hashes[start:stop] = _mix(sums ^ _ROW_SALT)
    hashes &= _FEATURE_MASK
    if label_bytes is not None:
        hashes |= label_bytes
    return Fingerprint(
        hashes=hashes,
        columns=[str(c) for c in frame.columns],
        kinds=kinds,
        steps=steps,
        mean=mean,
        std=std,
        min=lo,
        max=hi,
        collision=_collision(sample_codes),
        n_missing=n_missing,
        tolerance=float(tolerance),
        has_labels=label_bytes is not None,
        positional=positional,
    )


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
    arr = np.asarray(features)
    if arr.ndim == 0:
        raise ValueError("features must be a table, got a scalar")
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    return pd.DataFrame(arr, columns=[str(j) for j in range(arr.shape[1])]), True


def align(fp: Fingerprint, features: Any) -> pd.DataFrame:
    """``features`` restricted to the fingerprint's columns, in its order.

    Columns are matched by name; by position when either side has no real names (a
    NumPy array) and the counts agree. Extra columns are ignored.
    """
    frame, positional = as_frame(features)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in the data: {names}")
    if not fp.positional and set(fp.columns) <= set(names):
        return frame.set_axis(names, axis=1)[fp.columns]
    if (fp.positional or positional) and frame.shape[1] == len(fp.columns):
        return frame.set_axis(fp.columns, axis=1)
    missing = [c for c in fp.columns if c not in names]
    raise ValueError(
        f"the data lacks fingerprinted columns {missing[:10]}"
        f"{' …' if len(missing) > 10 else ''} ({len(fp.columns)} fingerprinted, "
        f"{frame.shape[1]} given)"
    )


# --------------------------------------------------------------------------- match


def match(fp: Fingerprint, features: Any, labels: Any = None, *, near: bool = True) -> Match:
    """Look every row of ``features`` up in ``fp``.

    The rows are snapped to the fingerprint's grid; with ``near`` (the default) values
    close to a cell boundary are also looked up in the neighbouring cell. Vectorised:
    one sort of the fingerprint (cached) and binary searches for the new rows.
    """
    frame = align(fp, features)
    n = frame.shape[0]
    label_bytes = _label_bytes(labels, n)
    enc = _Encoder(fp.kinds, fp.steps)
    block = _numeric_block(frame, enc.numeric)
    sorted_h, sorted_f, order = fp._sorted
    in_train = np.zeros(n, dtype=bool)
    with_label = np.zeros(n, dtype=bool) if label_bytes is not None and fp.has_labels else None
    train_index = np.full(n, -1, dtype=np.int64)
    primary = np.empty(n, dtype=np.uint64)
    n_probes = 0
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        codes, alt = enc.codes(frame, block, start, stop, probes=near)
        rows, keys = _probe_keys(enc, codes, alt)
        n_probes += keys.shape[0]
        primary[start:stop] = keys[: stop - start]
        if sorted_f.shape[0] == 0:
            continue
        feat = keys >> _U(8)
        pos = np.minimum(np.searchsorted(sorted_f, feat), sorted_f.shape[0] - 1)
        hit = sorted_f[pos] == feat
        if not hit.any():
            continue
        hit_rows = rows[hit] + start
        in_train[hit_rows] = True
        first = np.unique(hit_rows, return_index=True)[1]  # the primary probe comes first
        train_index[hit_rows[first]] = order[pos[hit][first]]
        if with_label is not None:
            full = keys[hit] | label_bytes[hit_rows]
            lpos = np.minimum(np.searchsorted(sorted_h, full), sorted_h.shape[0] - 1)
            with_label[hit_rows[sorted_h[lpos] == full]] = True
    return Match(in_train, with_label, train_index, _digest(primary), int(n_probes))


def _probe_keys(
    enc: _Encoder, codes: np.ndarray, alt: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and feature keys (label byte 0) of every probe: each row's own cell first,
    then every combination of neighbouring cells for values near a cell boundary."""
    contrib = enc.contributions(codes)
    acc = contrib.sum(axis=0, dtype=np.uint64)
    rows = np.arange(codes.shape[1])
    if alt is not None and alt.any():
        near = alt != 0
        near &= np.cumsum(near, axis=0) <= MAX_PROBED_COLUMNS
        for j in np.flatnonzero(near.any(axis=1)):
            sel = near[j, rows]
            r = rows[sel]
            # the neighbouring cell: code +/- 1 in two's complement
            other = codes[j, r] + alt[j, r].astype(np.int64).view(np.uint64)
            delta = enc.contribution(j, other) - contrib[j, r]
            rows = np.concatenate([rows, r])
            acc = np.concatenate([acc, acc[sel] + delta])
    return rows, _mix(acc ^ _ROW_SALT) & _FEATURE_MASK


# --------------------------------------------------------------------------- internals


class _Encoder:
    """Turns column values into uint64 codes following a fingerprint's kinds and grid."""

    def __init__(self, kinds: Sequence[str], steps: np.ndarray) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown column kind(s) {sorted(unknown)}")
        self.kinds = list(kinds)
        self.numeric = [j for j, k in enumerate(self.kinds) if k in ("continuous", "exact")]
        steps = np.asarray(steps, dtype=np.float64)
        self.inv = np.where(steps > 0, 1.0 / np.where(steps > 0, steps, 1.0), 0.0)
        self.salts = _salts(len(self.kinds))

    def codes(
        self,
        frame: pd.DataFrame,
        block: np.ndarray,
        start: int,
        stop: int,
        *,
        probes: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes of rows ``start:stop`` (columns x rows) and, with ``probes``, for each value
        -1/+1 when it lies near the lower/upper boundary of its grid cell, else 0."""
        codes = np.empty((len(self.kinds), stop - start), dtype=np.uint64)
        alt = np.zeros(codes.shape, dtype=np.int8) if probes else None
        for pos, j in enumerate(self.numeric):
            x = block[pos, start:stop]
            if self.kinds[j] == "continuous":
                codes[j] = _quantise(x, self.inv[j], None if alt is None else alt[j])
            else:
                codes[j] = _exact_codes(x)
        for j, kind in enumerate(self.kinds):
            if kind in ("continuous", "exact"):
                continue
            col = frame.iloc[start:stop, j]
            codes[j] = _text_codes(col) if kind == "text" else _time_codes(col, kind)
        return codes, alt

    def contributions(self, codes: np.ndarray) -> np.ndarray:
        return _mix(codes ^ self.salts[:, None])

    def contribution(self, j: int, codes: np.ndarray) -> np.ndarray:
        return _mix(codes ^ self.salts[j])


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
    """Numeric columns as a C-contiguous (columns, rows) float64 block (NaN for missing or
    unparsable values); a view of the frame's memory when it is one float64 block."""
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
    return np.ascontiguousarray(block.T)


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
    k, n = block.shape
    lo, hi = np.full(k, np.inf), np.full(k, -np.inf)
    count, mean, m2 = np.zeros(k), np.zeros(k), np.zeros(k)
    integral = np.ones(k, dtype=bool)
    missing = np.zeros(k, dtype=np.int64)
    for start in range(0, n, CHUNK_ROWS):
        x = block[:, start : start + CHUNK_ROWS]
        finite = np.isfinite(x)
        if finite.all():
            c = np.full(k, float(x.shape[1]))
            lo, hi = np.fmin(lo, x.min(axis=1)), np.fmax(hi, x.max(axis=1))
            mu = x.mean(axis=1)
            d2 = np.square(x - mu[:, None]).sum(axis=1)
            todo = np.flatnonzero(integral)
            if todo.size:
                part = x[todo]
                integral[todo] = (part == np.floor(part)).all(axis=1)
        else:
            missing += np.isnan(x).sum(axis=1)
            c = finite.sum(axis=1).astype(np.float64)
            xf = np.where(finite, x, np.nan)
            lo, hi = (
                np.fmin(lo, np.fmin.reduce(xf, axis=1)),
                np.fmax(hi, np.fmax.reduce(xf, axis=1)),
            )
            mu = np.where(finite, x, 0.0).sum(axis=1) / np.maximum(c, 1)
            d2 = np.where(finite, np.square(x - mu[:, None]), 0.0).sum(axis=1)
            integral &= np.where(finite, x == np.floor(np.where(finite, x, 0.0)), True).all(axis=1)
        total = count + c
        w = np.divide(c, total, out=np.zeros(k), where=total > 0)
        delta = mu - mean
        mean = mean + delta * w
        m2 = m2 + d2 + np.square(delta) * count * w
        count = total
    empty = count == 0
    std = np.sqrt(np.divide(m2, count, out=np.zeros(k), where=~empty))
    for arr in (mean, std, lo, hi):
        arr[empty] = np.nan
    return integral, mean, std, lo, hi, missing


def _quantise(x: np.ndarray, inv: float, alt: np.ndarray | None) -> np.ndarray:
    """Grid cell of each value (``floor(x / step + 0.5)``), flagging values near a boundary."""
    y = x * inv
    y += 0.5
    q = np.floor(y)
    if alt is not None:
        with np.errstate(invalid="ignore"):
            frac = y - q  # NaN for NaN/inf: compares False, so never probed
        alt[frac < PROBE_MARGIN] = -1
        alt[frac > 1.0 - PROBE_MARGIN] = 1
    np.clip(q, -_CLIP, _CLIP, out=q)
    nan = np.isnan(q)
    q[nan] = 0.0
    codes = q.astype(np.int64).view(np.uint64)
    if nan.any():
        codes[nan] = _MISSING
        if alt is not None:
            alt[nan] = 0
    return codes


def _exact_codes(x: np.ndarray) -> np.ndarray:
    """The float64 bit pattern, with -0.0 folded into 0.0 and one code for NaN."""
    codes = (x + 0.0).view(np.uint64).copy()
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
    codes = pd.util.hash_array(values.astype(str).astype(object), categorize=True)
    codes = np.asarray(codes, dtype=np.uint64)
    codes[missing] = _MISSING
    return codes


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


def _sample_index(n: int) -> np.ndarray:
    if n <= COLLISION_SAMPLE:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, COLLISION_SAMPLE).astype(np.int64))


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


def _digest(hashes: np.ndarray) -> str:
    feats = hashes & _FEATURE_MASK
    a = _mix(feats ^ _DIGEST_SALTS[0]).sum(dtype=np.uint64)
    b = _mix(feats ^ _DIGEST_SALTS[1]).sum(dtype=np.uint64)
    return f"{feats.shape[0]:x}-{int(a):016x}{int(b):016x}"


def _num(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _floats(values: np.ndarray) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=np.float64)]


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)

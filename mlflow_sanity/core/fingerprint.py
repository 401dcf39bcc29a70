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
  width ``step = tolerance * scale`` (``rint(x / step)``), ``scale`` being the column's
  largest absolute training value and ``tolerance`` 2e-5 by default. Float noise (a
  float32 cast, re-scaling, CSV round trips) moves a value far less than a step. A value
  closer than ``step / 128`` to a cell boundary is also looked up in the neighbouring
  cell (a probe), so rows whose every column differs by at most ``step / 128`` (1.6e-7
  of the scale by default: more than float32 rounding) always match, and rows with a
  column differing by more than ``step * 129 / 128`` never match; in between it depends
  on where the grid falls.
- ``exact`` (integral numbers, booleans): compared exactly; rounding would merge ids.
- ``datetime`` / ``timedelta``: compared exactly at nanosecond resolution (UTC).
- ``text`` (strings, categories, mixed objects): the ``str()`` of each value (UTF-8 bytes
  decoded first: ``b"red"`` from ``tf.data`` equals ``"red"``), hashed
  with ``pandas.util.hash_array``.

Missing values (NaN, None, NaT) share one code, so NaN equals NaN; ``-0.0`` equals
``0.0``. Two different rows collide with probability about ``2**-56`` per pair, and two
different labels share a label byte with probability 1/256.

API: ``compute(features, labels=None, *, tolerance=2e-5) -> Fingerprint``;
``Fingerprint.match(features, labels=None, *, rows=None) -> Match`` (``rows``: look up
only those rows, a sample); ``Fingerprint.to_files(role)``
-> ``{"fingerprint_<role>.npy": ..., "fingerprint_<role>.json": ...}`` and
``Fingerprint.from_files(files, role=None)``. A cheaper read of one table for counting
repeated rows: ``grid_rows(features)`` (row hashes, collision rates on demand); the rows
a lookup read, as a fingerprint on the looked-up grid with their own statistics:
``rows_fingerprint(fp, features, match)`` (no second pass over the rows' hashes).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from io import BytesIO
from typing import Any

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
DEFAULT_TOLERANCE = 2e-5
PROBE_MARGIN = 1.0 / 128  # share of a grid step, either side of a boundary, probed both ways
MAX_PROBED_COLUMNS = 10  # per row: at most 2**10 probes even for pathological rows
CHUNK_ROWS = 4096  # rows encoded at once: intermediates stay in cache, memory stays flat
MATCH_CHUNK_ROWS = 8192  # rows looked up at once (fewer, larger steps; memory still flat)
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
    t = x >> _U(30)  # one temporary, reused: fewer allocations on large arrays
    x ^= t
    x *= _M1
    np.right_shift(x, _U(27), out=t)
    x ^= t
    x *= _M2
    np.right_shift(x, _U(31), out=t)
    x ^= t
    return x


def _salts(n: int) -> np.ndarray:
    return _mix((np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN) ^ _ROW_SALT)


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

    def match(
        self, features: Any, labels: Any = None, *, near: bool = True, rows: Any = None
    ) -> Match:
        """Which rows of ``features`` occur in the fingerprinted data (see ``match``)."""
        return match(self, features, labels, near=near, rows=rows)

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
            "exact_collision": _floats(self.exact_collision),
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
            exact_collision=_array(meta["exact_collision"]),
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
    # The new rows hashed on the fingerprint's grid, so that a count of repeats among them
    # needs no fingerprint of their own.
    rows: GridRows | None = field(default=None, repr=False)
    all_columns: bool = False  # no column of the new rows was left out (hashes cover them)

    @property
    def n_rows(self) -> int:
        return int(self.in_train.shape[0])

    @property
    def share(self) -> float:
        return float(self.in_train.mean()) if self.n_rows else 0.0


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


# --------------------------------------------------------------------------- compute
# --------------------------------------------------------------------------- compute


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


def _hash_rows(table: _Table, block: Any, enc: _Encoder) -> tuple[np.ndarray, np.ndarray]:
    """Every row's feature hash (label byte 0), and the codes of the collision sample."""
    n = table.n
    hashes = np.empty(n, dtype=np.uint64)
    sample = _sample_index(n)
    sample_codes = np.empty((len(enc.kinds), sample.shape[0]), dtype=np.uint64)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        codes, _ = enc.codes(table, block, start, stop)
        lo_s, hi_s = np.searchsorted(sample, [start, stop])
        if hi_s > lo_s:
            sample_codes[:, lo_s:hi_s] = codes[:, sample[lo_s:hi_s] - start]
        hashes[start:stop] = _finish(enc.contributions(codes).sum(axis=0, dtype=np.uint64))
    return hashes, sample_codes


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


# --------------------------------------------------------------------------- match


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
    block = table.numeric_block(enc.numeric)
    primary = np.empty(n, dtype=np.uint64)
    sums = np.empty(n, dtype=np.uint64)  # per row: the sum of its column contributions
    found_near: list[tuple[np.ndarray, ...]] = []
    for start in range(0, n, MATCH_CHUNK_ROWS):
        stop = min(n, start + MATCH_CHUNK_ROWS)
        codes, close = enc.codes(table, block, start, stop, probes=near)
        close_code = codes[close[0], close[1]] if close is not None else None
        contrib = enc.contributions(codes, inplace=True)  # the codes are read: reuse them
        if close is not None and close[0].size:
            col, row, sign = close
            found_near.append((row + start, col, sign, close_code, contrib[col, row]))
        acc = contrib.sum(axis=0, dtype=np.uint64)
        sums[start:stop] = acc
        primary[start:stop] = _finish(acc)
    probe_rows, probe_keys = _probe_keys(enc, sums, found_near)
    all_rows = np.concatenate([np.arange(n), probe_rows])
    keys = np.concatenate([primary, probe_keys])

    in_train = np.zeros(n, dtype=bool)
    train_index = np.full(n, -1, dtype=np.int64)
    with_label = np.zeros(n, dtype=bool) if label_bytes is not None and fp.has_labels else None
    sorted_h, sorted_f, order = fp._sorted
    if sorted_f.shape[0] and keys.shape[0]:
        feat = keys >> _U(8)
        index, first_pos = fp._feature_index
        found = index.get_indexer(feat)  # -1: no fingerprinted row has these features
        hit = np.flatnonzero(found >= 0)  # ascending: every row's own cell before probes
        hit_rows = all_rows[hit]
        in_train[hit_rows] = True
        first = np.unique(hit_rows, return_index=True)[1]
        train_index[hit_rows[first]] = order[first_pos[found[hit[first]]]]
        if with_label is not None and hit.size:
            full = keys[hit] | label_bytes[hit_rows]
            lpos = np.minimum(np.searchsorted(sorted_h, full), sorted_h.shape[0] - 1)
            with_label[hit_rows[sorted_h[lpos] == full]] = True
    return Match(
        in_train,
        with_label,
        train_index,
        _digest(primary),
        int(keys.shape[0]),
        GridRows(primary >> _U(8), lambda: _sample_codes(table, enc)),
        len(given.columns) == len(fp.columns),
    )


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
    summary, _, _ = _summary(table, fp.tolerance, exact=False)
    d = len(fp.columns)
    rows = Fingerprint(
        hashes=found.rows.feature_hashes << _U(8),
        columns=list(fp.columns),
        kinds=list(fp.kinds),
        steps=np.asarray(fp.steps, dtype=np.float64).copy(),
        mean=summary.mean,
        std=summary.std,
        min=summary.min,
        max=summary.max,
        collision=np.full(d, np.nan),
        exact_collision=np.full(d, np.nan),
        n_missing=summary.n_missing,
        tolerance=fp.tolerance,
        has_labels=False,
        positional=fp.positional,
    )
    rows.__dict__["digest"] = found.digest  # the same rows' features: the lookup's digest
    return rows


def _probe_keys(
    enc: _Encoder, sums: np.ndarray, found: list[tuple[np.ndarray, ...]]
) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and feature keys (label byte 0) of the probes: for each row with values
    near a cell boundary (``found``: per chunk their rows, columns, side, codes and
    column contributions), each combination of neighbouring cells for its first
    ``MAX_PROBED_COLUMNS`` such values, in a fixed order (the first near column first)."""
    if not found:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.uint64)
    r, col, sign, code, contrib = (np.concatenate(parts) for parts in zip(*found, strict=True))
    order = np.argsort(r * len(enc.kinds) + col)  # per row, in column order (keys unique)
    r, col, sign, code, contrib = r[order], col[order], sign[order], code[order], contrib[order]
    cand, loc = np.unique(r, return_inverse=True)
    rank = np.arange(loc.size) - np.searchsorted(loc, loc)
    keep = rank < MAX_PROBED_COLUMNS
    loc, rank = loc[keep], rank[keep]
    col, sign, code, contrib = col[keep], sign[keep], code[keep], contrib[keep]
    # the neighbouring cell: code -1 or +1 in two's complement; one hash call for all
    other = code + sign.astype(np.int64).view(np.uint64)
    delta = _mix(other ^ enc.salts[col]) - contrib
    local = np.arange(cand.size)
    acc = sums[cand]
    for k in range(int(rank.max()) + 1):  # a row's k-th near column doubles its probes
        at = rank == k
        step = np.zeros(cand.size, dtype=np.uint64)
        has = np.zeros(cand.size, dtype=bool)
        step[loc[at]], has[loc[at]] = delta[at], True
        sel = has[local]
        acc = np.concatenate([acc, acc[sel] + step[local[sel]]])
        local = np.concatenate([local, local[sel]])
    probes = slice(cand.size, None)
    return cand[local[probes]], _finish(acc[probes])


def _finish(sums: np.ndarray) -> np.ndarray:
    """Row feature hash from the sum of column contributions (label byte left 0)."""
    return _mix(sums ^ _ROW_SALT) & _FEATURE_MASK


# --------------------------------------------------------------------------- internals

_NUMERIC = ("continuous", "exact")


class _Table:
    """A read-only view of the input: plain numeric arrays stay arrays (no copy), anything
    else becomes a DataFrame."""

    def __init__(self, features: Any, *, _parts: tuple | None = None) -> None:
        if _parts is not None:
            self.array, self.df, self.columns, self.positional = _parts
            return
        self.array: np.ndarray | None = None
        self.df: pd.DataFrame | None = None
        if isinstance(features, (pd.DataFrame, pd.Series, Mapping)):
            self.df, self.positional = as_frame(features)
            self.columns = [str(c) for c in self.df.columns]
            return
        arr = _as_2d(features)
        self.positional = True
        self.columns = [str(j) for j in range(arr.shape[1])]
        if arr.dtype.kind in "biuf":
            self.array = arr
        else:
            self.df = pd.DataFrame(arr, columns=self.columns)

    @property
    def n(self) -> int:
        return int(self.array.shape[0] if self.array is not None else self.df.shape[0])

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
        if self.all_continuous:  # float32 is widened by the multiplication itself
            return _quantise(block[:, start:stop], self.inv, probes)
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
        x = _f64(block[:, start : start + CHUNK_ROWS])
        c_lo, c_hi = x.min(axis=1), x.max(axis=1)
        if np.isfinite(c_lo).all() and np.isfinite(c_hi).all():  # no NaN or inf here
            c = np.full(k, float(x.shape[1]))
            lo, hi = np.fmin(lo, c_lo), np.fmax(hi, c_hi)
            mu = x.mean(axis=1)
            dev = x - mu[:, None]
            d2 = np.einsum("ij,ij->i", dev, dev)
            todo = np.flatnonzero(integral)
            if todo.size:
                part = x[todo]
                integral[todo] = (part == np.floor(part)).all(axis=1)
        else:
            finite = np.isfinite(x)
            missing += np.isnan(x).sum(axis=1)
            c = finite.sum(axis=1).astype(np.float64)
            xf = np.where(finite, x, np.nan)
            lo = np.fmin(lo, np.fmin.reduce(xf, axis=1))
            hi = np.fmax(hi, np.fmax.reduce(xf, axis=1))
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


def _sample_index(n: int) -> np.ndarray:
    if n <= COLLISION_SAMPLE:
        return np.arange(n)
    idx = np.linspace(0, n - 1, COLLISION_SAMPLE).astype(np.int64)  # ascending already
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

"""The row hashing of a numeric table, compiled (numba): one pass per row instead of
about twenty NumPy passes per value.

Each row is read once: every value is snapped to its column's grid (or taken exactly),
mixed with its column's salt and summed into the row's hash; a value near a cell
boundary is noted on the way, with what moving it to the neighbouring cell changes in
the row's sum, and the probes (the row's sum with every combination of those changes)
are expanded in a second compiled loop. The arithmetic and the order of the probes are
the NumPy path's (``encode._quantise``, ``encode._exact_codes``, ``hashing.probe_keys``),
value for value, so the hashes are bit-identical (``tests/test_fingerprint_kernel.py``
compares both paths): logged fingerprints keep matching whichever path computed them.

Only ``encode._load_kernel`` imports this module, for tables large enough to gain from
it, so small data (and most tests) never import numba. ``cache=True``: compiled once per
machine; numba falls back to a user cache directory when the install location is
read-only.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from mlflow_sanity.core.fingerprint.hashing import (
    _CLIP,
    _FEATURE_MASK,
    _M1,
    _M2,
    _MISSING,
    _ROW_SALT,
)

_BLOCK_ROWS = 2048  # rows hashed before their near values are recorded (still in cache)
_HALF = 0.5 - 1.0 / 128  # 0.5 - PROBE_MARGIN: farther than this from the centre is near
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@intrinsic
def _bits(typingctx, v):  # pragma: no cover - compiled
    """The float64's bit pattern as a uint64 (``ndarray.view``, for one value)."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _mix1(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


@njit(cache=True, nogil=True, inline="always")
def _code(v, cont, inv):  # pragma: no cover - compiled
    """(code, y, q) of one value: as ``encode._quantise`` (continuous: ``y = v * inv``,
    ``q = rint(y)``, NaN to ``_MISSING``, clipped to +-2**62) or ``encode._exact_codes``."""
    if cont:
        y = v * inv
        q = np.rint(y)
        if abs(q) <= _CLIP:
            return np.uint64(np.int64(q)), y, q
        if q != q:
            return _MISSING, y, q
        return np.uint64(np.int64(max(-_CLIP, min(_CLIP, q)))), y, q
    if v != v:
        return _MISSING, 0.0, 0.0
    return _bits(v + 0.0), 0.0, 0.0  # -0.0 folded into 0.0


@njit(cache=True, nogil=True)
def hash_rows(
    x, cont, inv, salts, start, probes, max_near, primary, deltas, near, counts, accs, masks
):  # pragma: no cover - compiled
    """Rows ``start:`` of ``x`` (rows, columns): each row's feature hash into
    ``primary``. With ``probes``, per row with values near a cell boundary, in ``near``:
    the row, where its first ``max_near`` such values (by column) start in ``deltas``,
    how many, and its sum of contributions; in ``deltas``, per such value, what moving
    it to the neighbouring cell adds to the sum. Stops where the next rows might not fit
    and returns the next row to hash (``counts``: deltas and near rows so far, updated).

    Rows go in blocks of ``accs.shape[0]``: a first loop only hashes (each row's sum of
    contributions into ``accs``, a bit mask of its near columns into ``masks``; storing
    nothing else keeps it about twice as fast), a second records the few near values
    while the block is still in cache."""
    n, d = x.shape
    n_delta, n_near = counts[0], counts[1]
    per_row = min(d, max_near)
    i0 = start
    while i0 < n:
        i1 = min(n, i0 + accs.shape[0])
        if probes:  # room for every row of the block being near
            i1 = min(i1, i0 + (deltas.shape[0] - n_delta) // per_row, i0 + near.shape[0] - n_near)
            if i1 <= i0:
                break
        for i in range(i0, i1):
            acc = np.uint64(0)
            mask = np.uint64(0)
            for j in range(d):
                code, y, q = _code(np.float64(x[i, j]), cont[j], inv[j])
                acc += _mix1(code ^ salts[j])
                mask |= np.uint64(abs(y - q) > _HALF) << np.uint64(min(j, 63))  # NaN: no
            accs[i - i0] = acc
            masks[i - i0] = mask
            primary[i] = _mix1(acc ^ _ROW_SALT) & _FEATURE_MASK
        if probes:
            n_delta, n_near = _record_near(
                x, cont, inv, salts, i0, i1, max_near, deltas, near, n_delta, n_near, accs, masks
            )
        i0 = i1
    counts[0], counts[1] = n_delta, n_near
    return i0


@njit(cache=True, nogil=True)
def _record_near(
    x, cont, inv, salts, i0, i1, max_near, deltas, near, n_delta, n_near, accs, masks
):  # pragma: no cover - compiled
    """The near values of rows ``i0:i1`` (``masks``) into ``deltas`` and ``near``."""
    for i in range(i0, i1):
        mask = masks[i - i0]
        if not mask:
            continue
        first = n_delta
        for j in range(x.shape[1]):
            if n_delta - first == max_near:
                break
            if j < 63 and not (mask >> np.uint64(j)) & np.uint64(1):
                continue
            code, y, q = _code(np.float64(x[i, j]), cont[j], inv[j])
            if not abs(y - q) > _HALF:  # a column past the 63rd, not near
                continue
            other = code + np.uint64(1) if y > q else code - np.uint64(1)
            deltas[n_delta] = _mix1(other ^ salts[j]) - _mix1(code ^ salts[j])
            n_delta += 1
        near[n_near, 0] = i
        near[n_near, 1] = first
        near[n_near, 2] = n_delta - first
        near[n_near, 3] = np.int64(accs[i - i0])
        n_near += 1
    return n_delta, n_near


@njit(cache=True, nogil=True)
def expand_probes(near, deltas):  # pragma: no cover - compiled
    """The probes of the near rows (``hash_rows``): row ids and feature keys, in the
    order ``hashing.probe_keys`` gives them (the k-th near value of every row doubles
    the probes so far, in turn)."""
    n_rows = near.shape[0]
    total, levels = 0, 0
    for r in range(n_rows):
        total += (1 << near[r, 2]) - 1
        levels = max(levels, near[r, 2])
    acc = np.empty(n_rows + total, dtype=np.uint64)
    local = np.empty(n_rows + total, dtype=np.int64)
    for r in range(n_rows):
        acc[r] = np.uint64(near[r, 3])
        local[r] = r
    size = n_rows
    for k in range(levels):
        done = size
        for e in range(done):
            r = local[e]
            if near[r, 2] > k:
                acc[size] = acc[e] + deltas[near[r, 1] + k]
                local[size] = r
                size += 1
    rows = np.empty(total, dtype=np.int64)
    keys = np.empty(total, dtype=np.uint64)
    for e in range(total):
        rows[e] = near[local[n_rows + e], 0]
        keys[e] = _mix1(acc[n_rows + e] ^ _ROW_SALT) & _FEATURE_MASK
    return rows, keys


def hash_table(
    x: np.ndarray,
    cont: np.ndarray,
    inv: np.ndarray,
    salts: np.ndarray,
    probes: bool,
    max_near: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row's feature hash of ``x`` (rows, columns; any strides) and, with
    ``probes``, the probes' row ids and keys, as ``encode._Encoder.hash_rows`` returns
    them. The buffers start at twice the expected share of near values (rows with any:
    half as many) and grow if data sit on cell boundaries more often."""
    n, d = x.shape
    primary = np.empty(n, dtype=np.uint64)
    per_row = min(d, max_near)
    cap = (n * int(np.count_nonzero(cont)) // 32 + 64 * per_row) if probes else 0
    deltas = np.empty(cap, dtype=np.uint64)
    near = np.empty((min(n, cap // 2 + 64), 4), dtype=np.int64)
    counts = np.zeros(2, dtype=np.int64)
    accs, masks = np.empty(_BLOCK_ROWS, dtype=np.uint64), np.empty(_BLOCK_ROWS, dtype=np.uint64)
    at = 0
    while True:
        at = hash_rows(
            x, cont, inv, salts, at, probes, max_near, primary, deltas, near, counts, accs, masks
        )
        if at >= n:
            break
        cap = 2 * cap  # pathological data: many values on cell boundaries
        deltas, near = _grown(deltas, cap), _grown(near, min(n, cap // 2 + 64))
    if not probes:
        return primary, np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.uint64)
    rows, keys = expand_probes(near[: counts[1]], deltas[: counts[0]])
    return primary, rows, keys


def _grown(buf: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, *buf.shape[1:]), dtype=buf.dtype)
    out[: buf.shape[0]] = buf
    return out


def index_table(distinct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing hash table of ``distinct`` (unique feature hashes): slots of
    keys and their positions (-1: empty), at most half full, for ``find``."""
    size = 1 << max(4, int(2 * distinct.shape[0]).bit_length())
    slots = np.zeros(size, dtype=np.uint64)
    pos = np.full(size, -1, dtype=np.int64)
    _fill(distinct, slots, pos)
    return slots, pos


@njit(cache=True, nogil=True)
def _fill(distinct, slots, pos):  # pragma: no cover - compiled
    mask = slots.shape[0] - 1
    for p in range(distinct.shape[0]):
        key = distinct[p]
        s = np.int64(key & np.uint64(mask))  # the hashes' low bits are uniform already
        while pos[s] >= 0:
            s = (s + 1) & mask
        slots[s] = key
        pos[s] = p


@njit(cache=True, nogil=True)
def find(slots, pos, keys):  # pragma: no cover - compiled
    """Per key its position in the table's ``distinct`` array, -1 when absent (as
    ``pandas.Index.get_indexer``)."""
    mask = slots.shape[0] - 1
    out = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        key = keys[i]
        s = np.int64(key & np.uint64(mask))
        found = -1
        while pos[s] >= 0:
            if slots[s] == key:
                found = pos[s]
                break
            s = (s + 1) & mask
        out[i] = found
    return out

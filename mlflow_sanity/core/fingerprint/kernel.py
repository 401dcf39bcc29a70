"""The row hashing of a numeric table, compiled (numba): one pass per row instead of
about twenty NumPy passes per value.

Each row is read once: every value is snapped to its column's grid (or taken exactly),
mixed with its column's salt, summed into the row's hash, and a value near a cell
boundary is recorded as a probe candidate on the way. The arithmetic is the NumPy
path's (``encode._quantise``, ``encode._exact_codes``, ``hashing._mix``), value for
value, so the hashes are bit-identical (``tests/test_fingerprint_kernel.py`` compares
both paths): logged fingerprints keep matching whichever path computed them.

Only ``fast`` imports this module, and only for tables large enough to gain from it, so
small data (and most tests) never import numba. ``cache=True``: compiled once per
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
    x, cont, inv, salts, start, probes, primary, near_acc, cand, counts, accs, masks
):  # pragma: no cover - compiled
    """Rows ``start:`` of ``x`` (rows, columns): each row's feature hash into
    ``primary``; with ``probes``, its values near a cell boundary into ``cand`` (row,
    column, side, code, contribution; rows ascending, columns ascending within a row)
    and, per row that has any, its sum of contributions into ``near_acc``. Stops where
    the next rows' candidates might not fit in ``cand`` and returns the next row to hash
    (``counts``: candidates and rows with candidates so far, updated).

    Rows go in blocks of ``accs.shape[0]``: a first loop only hashes (each row's sum of
    contributions into ``accs``, a bit mask of its near columns into ``masks``; storing
    nothing else keeps it about twice as fast), a second records the few near values
    while the block is still in cache."""
    n, d = x.shape
    n_cand, n_near = counts[0], counts[1]
    i0 = start
    while i0 < n:
        i1 = min(n, i0 + accs.shape[0])
        if probes:
            i1 = min(i1, i0 + (cand.shape[0] - n_cand) // d)  # room for every value
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
            for i in range(i0, i1):
                mask = masks[i - i0]
                if not mask:
                    continue
                for j in range(d):
                    if j < 63 and not (mask >> np.uint64(j)) & np.uint64(1):
                        continue
                    code, y, q = _code(np.float64(x[i, j]), cont[j], inv[j])
                    if not abs(y - q) > _HALF:  # a column past the 63rd, not near
                        continue
                    cand[n_cand, 0] = i
                    cand[n_cand, 1] = j
                    cand[n_cand, 2] = 1 if y > q else -1
                    cand[n_cand, 3] = np.int64(code)
                    cand[n_cand, 4] = np.int64(_mix1(code ^ salts[j]))
                    n_cand += 1
                near_acc[n_near] = accs[i - i0]
                n_near += 1
        i0 = i1
    counts[0], counts[1] = n_cand, n_near
    return i0


def hash_table(
    x: np.ndarray, cont: np.ndarray, inv: np.ndarray, salts: np.ndarray, probes: bool
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, ...]]]:
    """Every row's feature hash of ``x`` (rows, columns; any strides), the sums of the
    rows with probe candidates (ascending) and the candidates (rows, columns, sides,
    codes, contributions), as ``encode._Encoder.hash_rows`` returns them. The candidate
    buffer starts at twice the expected share of near values and grows if data sit on
    cell boundaries more often."""
    n, d = x.shape
    primary = np.empty(n, dtype=np.uint64)
    n_cont = int(np.count_nonzero(cont))
    cap = (n * n_cont // 32 + 4 * d + 64) if probes else 0
    cand = np.empty((cap, 5), dtype=np.int64)
    near_acc = np.empty(min(n, cap), dtype=np.uint64)
    counts = np.zeros(2, dtype=np.int64)
    accs, masks = np.empty(_BLOCK_ROWS, dtype=np.uint64), np.empty(_BLOCK_ROWS, dtype=np.uint64)
    at = 0
    while True:
        at = hash_rows(
            x, cont, inv, salts, at, probes, primary, near_acc, cand, counts, accs, masks
        )
        if at >= n:
            break
        cap = 2 * cap + 4 * d  # pathological data: many values on cell boundaries
        cand, near_acc = _grown(cand, cap), _grown(near_acc, min(n, cap))
    n_cand, n_near = int(counts[0]), int(counts[1])
    if not n_cand:
        return primary, np.zeros(0, dtype=np.uint64), []
    c = cand[:n_cand]
    found = (
        c[:, 0].copy(),
        c[:, 1].copy(),
        c[:, 2].astype(np.int8),
        c[:, 3].view(np.uint64).copy(),
        c[:, 4].view(np.uint64).copy(),
    )
    return primary, near_acc[:n_near].copy(), [found]


def _grown(buf: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, *buf.shape[1:]), dtype=buf.dtype)
    out[: buf.shape[0]] = buf
    return out

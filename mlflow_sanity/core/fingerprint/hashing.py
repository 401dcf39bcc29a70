"""The hash arithmetic shared by every part of a fingerprint: the splitmix64 finaliser
that ``pandas.util.hash_array`` applies to 64-bit values (same constants, same output:
``tests/test_fingerprint.py`` checks it), run in place on whole ``uint64`` arrays (no
Python work per row, no copy per call).

Why not call ``hash_array`` per column: a row hash here is a *sum* of per-column hashes
(so a probe can swap one column's code without rehashing the row), ``hash_array`` would
copy each chunk before mixing it, and the bit layout is part of the logged file format
(``fingerprint_<role>.npy``): fingerprints logged by earlier runs must keep matching.
Text goes through ``hash_array`` itself (``encode._text_codes``).
"""

from __future__ import annotations

import numpy as np

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


def _finish(sums: np.ndarray) -> np.ndarray:
    """Row feature hash from the sum of column contributions (label byte left 0)."""
    return _mix(sums ^ _ROW_SALT) & _FEATURE_MASK


def _digest(hashes: np.ndarray) -> str:
    """Order-independent digest of the rows' features: two salted sums (mod 2**64), taken
    a chunk at a time so that the working memory stays small (sums do not care)."""
    total = np.zeros(2, dtype=np.uint64)  # array arithmetic wraps silently, scalars warn
    for start in range(0, hashes.shape[0], _DIGEST_CHUNK):
        feats = hashes[start : start + _DIGEST_CHUNK] & _FEATURE_MASK
        a = _mix(feats ^ _DIGEST_SALTS[0]).sum(dtype=np.uint64)
        b = _mix(feats ^ _DIGEST_SALTS[1]).sum(dtype=np.uint64)
        np.add(total, np.array([a, b], dtype=np.uint64), out=total)
    return f"{hashes.shape[0]:x}-{int(total[0]):016x}{int(total[1]):016x}"


_DIGEST_CHUNK = 1 << 18


def probe_keys(
    salts: np.ndarray, max_near: int, near_sums: np.ndarray, found: list[tuple[np.ndarray, ...]]
) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and feature keys (label byte 0) of the probes: for each row with values
    near a cell boundary (``found``: per chunk their rows, columns, side, codes and
    column contributions; ``near_sums``: those rows' sums of contributions, by row),
    each combination of neighbouring cells for its first ``max_near`` such values, in a
    fixed order (the k-th near value of every row doubles the probes so far, in turn):
    a row's sum of column hashes lets a probe swap one column's contribution."""
    if not found:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.uint64)
    r, col, sign, code, contrib = (np.concatenate(parts) for parts in zip(*found, strict=True))
    order = np.argsort(r * len(salts) + col)  # per row, in column order (keys unique)
    r, col, sign, code, contrib = r[order], col[order], sign[order], code[order], contrib[order]
    cand, loc = np.unique(r, return_inverse=True)
    rank = np.arange(loc.size) - np.searchsorted(loc, loc)
    keep = rank < max_near
    loc, rank = loc[keep], rank[keep]
    col, sign, code, contrib = col[keep], sign[keep], code[keep], contrib[keep]
    # the neighbouring cell: code -1 or +1 in two's complement; one hash call for all
    other = code + sign.astype(np.int64).view(np.uint64)
    delta = _mix(other ^ salts[col]) - contrib
    local = np.arange(cand.size)
    acc = near_sums  # the rows ``cand``, ascending, as the hash pass kept them
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

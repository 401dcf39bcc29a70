"""A fingerprint as two files (``fingerprint_<role>.npy``, the hashes; ``.json``, the
rest) and back. A plain ``.npy`` saved with ``allow_pickle=False`` plus JSON: safe to load
from any run, nothing in them is executable."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlflow_sanity.core.fingerprint.table import Fingerprint

FORMAT_VERSION = 1


def to_files(fp: Fingerprint, role: str = "train") -> dict[str, bytes]:
    """``fingerprint_<role>.npy`` and ``fingerprint_<role>.json`` of ``fp``."""
    buf = BytesIO()
    np.save(buf, np.ascontiguousarray(fp.hashes, dtype="<u8"), allow_pickle=False)
    meta = {
        "format_version": FORMAT_VERSION,
        "role": role,
        "n_rows": fp.n_rows,
        "digest": fp.digest,
        "columns": list(fp.columns),
        "kinds": list(fp.kinds),
        "steps": _floats(fp.steps),
        "mean": _floats(fp.mean),
        "std": _floats(fp.std),
        "min": _floats(fp.min),
        "max": _floats(fp.max),
        "collision": _floats(fp.collision),
        "exact_collision": _floats(fp.exact_collision),
        "n_missing": [int(v) for v in fp.n_missing],
        "tolerance": fp.tolerance,
        "has_labels": fp.has_labels,
        "positional": fp.positional,
        "hash_layout": "uint64 little-endian: bits 63..8 features, bits 7..0 label",
    }
    return {
        f"fingerprint_{role}.npy": buf.getvalue(),
        f"fingerprint_{role}.json": json.dumps(meta, indent=1).encode(),
    }


def from_files(files: Mapping[str, bytes], role: str | None = None) -> dict[str, Any]:
    """The ``Fingerprint`` fields stored by ``to_files`` (validated: a truncated or foreign
    file is refused, never half-read); ``role`` picks one pair when several are given."""
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
    return {
        "hashes": hashes.astype(np.uint64, copy=False),
        "columns": [str(c) for c in meta["columns"]],
        "kinds": [str(k) for k in meta["kinds"]],
        "steps": _array(meta["steps"]),
        "mean": _array(meta["mean"]),
        "std": _array(meta["std"]),
        "min": _array(meta["min"]),
        "max": _array(meta["max"]),
        "collision": _array(meta["collision"]),
        "exact_collision": _array(meta["exact_collision"]),
        "n_missing": np.asarray(meta["n_missing"], dtype=np.int64),
        "tolerance": float(meta["tolerance"]),
        "has_labels": bool(meta["has_labels"]),
        "positional": bool(meta["positional"]),
    }


def _num(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _floats(values: np.ndarray) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=np.float64)]


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)

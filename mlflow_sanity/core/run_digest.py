"""Digests that say "same configuration" and "same data" across runs (no MLflow, no Keras).

Runs that differ only in their seed get equal digests, so the runs already logged can be
grouped and their spread judged without re-training (``mlflow-sanity variance``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Keys that change between otherwise identical runs: auto-generated object names
# (``dense_3``) and seeds (the thing a group varies).
VOLATILE_KEYS = frozenset({"name", "seed"})
DIGEST_CHARS = 16


def canonical(obj: Any, drop: Iterable[str] = VOLATILE_KEYS) -> Any:
    """``obj`` as plain JSON values with the ``drop`` keys removed at every level."""
    drop = frozenset(drop)
    if isinstance(obj, Mapping):
        return {str(k): canonical(v, drop) for k, v in obj.items() if str(k) not in drop}
    if isinstance(obj, (list, tuple)):
        return [canonical(v, drop) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.12g}")  # float32 round trips print the same
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalars
        return canonical(obj.item(), drop)
    return repr(obj)


def stable_digest(parts: Any, drop: Iterable[str] = VOLATILE_KEYS) -> str:
    """A short SHA-256 of the canonical JSON of ``parts`` (key order does not matter)."""
    text = json.dumps(canonical(parts, drop), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]

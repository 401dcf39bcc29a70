"""What ``fit``'s labels look like: their encoding, class counts and order (pure, numpy only).

Part of the plain descriptions of one ``fit`` (``core/keras_spec.py`` re-exports these
names): the training checks read a ``LabelSummary``, never the arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LabelSummary:
    """How the labels are encoded and how many rows each class has in train and validation.

    ``encoding`` is ``binary`` (1-D 0/1), ``sparse`` (1-D class indices), ``one_hot``,
    ``multi_hot`` (several labels per row), ``continuous`` (not class labels) or ``other``
    (not numeric).
    Counts are keyed by class index as a string. ``ordered`` is True when the rows given
    to ``fit`` are sorted by label, which makes ``validation_split`` take one class.
    """

    encoding: str
    n_classes: int
    train_counts: dict[str, int] = field(default_factory=dict)
    val_counts: dict[str, int] | None = None
    ordered: bool = False

    @property
    def is_single_label(self) -> bool:
        return self.encoding in ("binary", "sparse", "one_hot")


def label_encoding(y: Any) -> str:
    """Tell one-hot, multi-hot, binary, sparse and continuous labels apart."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.size == 0 or arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2):
        return "other"
    if arr.ndim == 1 and arr.dtype.kind in "biu":  # whole and finite already: no copy
        return "continuous" if arr.min() < 0 else "binary" if arr.max() <= 1 else "sparse"
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        return "continuous"
    if arr.ndim == 2:
        if not np.isin(arr, (0.0, 1.0)).all():
            return "continuous"
        return "one_hot" if np.all(arr.sum(axis=1) == 1) else "multi_hot"
    if not np.all(arr == np.round(arr)) or arr.min() < 0:
        return "continuous"
    return "binary" if arr.max() <= 1 else "sparse"


def label_indices(y: Any) -> np.ndarray | None:
    """Class index per row (argmax of one-hot), or None for labels that are not classes."""
    arr = np.asarray(y)
    encoding = label_encoding(arr)
    if encoding == "one_hot":
        return arr.argmax(axis=1).astype(np.int64)
    if encoding in ("binary", "sparse"):
        flat = arr.reshape(-1)
        if flat.dtype.kind in "biu":
            return flat.astype(np.int64)
        return np.round(flat.astype(np.float64)).astype(np.int64)
    return None


def _counts(indices: np.ndarray) -> dict[str, int]:
    """Rows per class index (non-negative: ``label_indices``), by one bincount, not a sort."""
    counts = np.bincount(indices)
    return {str(v): int(counts[v]) for v in np.flatnonzero(counts)}


def summarize_labels(
    y_train: Any,
    y_val: Any = None,
    output_units: int | None = None,
    y_all: Any = None,
) -> LabelSummary | None:
    """Count classes in the training (and validation) labels.

    ``y_all`` is the label array as passed to ``fit`` before ``validation_split`` cut it;
    it tells whether the rows were ordered by label.
    """
    train = np.asarray(y_train)
    encoding = label_encoding(train)
    if encoding in ("continuous", "multi_hot", "other"):
        return LabelSummary(encoding, int(train.shape[1]) if train.ndim == 2 else 0)
    idx = label_indices(train)
    if idx is None or idx.size == 0:
        return None
    val_idx = label_indices(y_val) if y_val is not None else None
    seen = idx if val_idx is None else np.concatenate([idx, val_idx])
    n_classes = int(train.shape[1]) if encoding == "one_hot" else max(int(seen.max()) + 1, 2)
    if output_units and output_units > 2 and encoding == "binary":
        encoding = "sparse"  # 0/1 labels read as class indices of a wider softmax
    ordered = False
    all_idx = label_indices(y_all) if y_all is not None else None
    if all_idx is not None and len(np.unique(all_idx)) > 1:
        ordered = _is_grouped(all_idx)
    return LabelSummary(
        encoding=encoding,
        n_classes=n_classes,
        train_counts=_counts(idx),
        val_counts=None if val_idx is None else _counts(val_idx),
        ordered=ordered,
    )


def _is_grouped(idx: np.ndarray) -> bool:
    """Each class occupies one contiguous block of rows (sorted or grouped data)."""
    changes = int(np.count_nonzero(idx[1:] != idx[:-1]))
    return changes == len(np.unique(idx)) - 1


def class_weight_keys(class_weight: Mapping[Any, float]) -> tuple[list[Any], list[int]]:
    """Split ``class_weight`` keys into those Keras can use (integers) and those it ignores.

    Keras looks weights up with ``class_weight.get(int(label), 1.0)``: a string key such
    as ``"1"`` never matches, so its weight is silently dropped.
    """
    unusable, usable = [], []
    for key in class_weight:
        whole = isinstance(key, (int, float, np.number)) and np.isfinite(key) and key == int(key)
        if whole:
            usable.append(int(key))
        else:
            unusable.append(key)
    return unusable, usable


# The names a user gives a model's classes or tags (``autolog(label_names=...)``), by output:
# ``None`` for the one output of a single-output model.
LabelNames = Mapping["str | None", tuple[str, ...]]


def label_names_of(value: Any) -> dict[str | None, tuple[str, ...]]:
    """``label_names`` as given (index i -> ``names[i]``, or output name -> such a list),
    validated when the option is set so a typo fails before training, not after it."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        if not value:
            raise ValueError("label_names is an empty mapping: give output name -> names")
        out: dict[str | None, tuple[str, ...]] = {}
        for key, names in value.items():
            if not isinstance(key, str):
                raise ValueError(f"label_names keys must be output names (str), got {key!r}")
            out[key] = _names(names, f"label_names[{key!r}]")
        return out
    return {None: _names(value, "label_names")}


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError(
            f"{where} must be a list of class/tag names (index i -> name), "
            f"got {type(value).__name__} {value!r:.60}"
        )
    if not value:
        raise ValueError(f"{where} is empty: give one name per class/tag")
    bad = [(i, v) for i, v in enumerate(value) if not isinstance(v, str) or not v]
    if bad:
        i, v = bad[0]
        raise ValueError(f"{where}[{i}] is {v!r}: every name must be a non-empty string")
    seen: set[str] = set()
    dupes = sorted({v for v in value if v in seen or seen.add(v)})
    if dupes:
        raise ValueError(f"{where} names {dupes} more than once: each index needs its own name")
    return tuple(value)

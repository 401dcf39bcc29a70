"""Sequence labelling: one class per token (NER, POS, slot filling), padding excluded.

A tagger's outputs are ``(sequences, positions, tags)``. Padded positions (a
``mask_zero`` embedding, a ``Masking`` layer, or a ``sample_weight`` of zeros) are not
tokens: counting them inflates accuracy with easy "predictions" of padding. Every figure
here is over the real tokens only, and the evaluation says how many positions were
masked. The real tokens become one ``Classification`` (tag indices as classes), so the
single-label checks judge the tagger as they judge any classifier (the majority tag,
often "O", is the baseline). For BIO/IOB tag sets the entity-level F1 comes from
``seqeval``, because token accuracy is the misleading number there. Pure: no Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlflow_sanity.core.metrics import Classification, InputError, classify

ENTITY_EXTRA = "seqeval"  # the package the entity F1 needs (a dependency of mlflow-sanity)


@dataclass(frozen=True)
class SequenceEval:
    """What a sequence evaluation adds to its token ``Classification``.

    ``masked`` positions were excluded (``mask_source`` says how they were known);
    ``entity`` holds ``entity_precision``/``entity_recall``/``entity_f1`` (seqeval, strict
    span matching in its default mode) when the tags are a BIO/IOB set, else None, with
    ``entity_note`` saying why.
    """

    n_sequences: int
    n_positions: int
    n_tokens: int
    masked: int
    mask_source: str
    entity: dict[str, float] | None = None
    entity_note: str = ""
    entity_table: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.n_sequences,
            "positions": self.n_positions,
            "tokens": self.n_tokens,
            "masked_positions": self.masked,
            "mask_source": self.mask_source,
            "entity": self.entity,
            "entity_note": self.entity_note,
        }

    @property
    def summary(self) -> str:
        return (
            f"{self.n_tokens} real tokens in {self.n_sequences} sequences; {self.masked} of "
            f"{self.n_positions} positions masked ({self.mask_source}) and not counted"
        )


def token_indices(y: Any) -> np.ndarray:
    """Tag index per position: ``(n, T)`` integers, or ``(n, T, C)`` one-hot rows."""
    arr = np.asarray(y)
    if arr.ndim == 3:
        return arr.argmax(axis=-1).astype(np.int64)
    if arr.ndim == 2 and arr.dtype.kind in "biuf":
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            raise InputError("per-token labels must be whole tag indices")
        return arr.astype(np.int64)
    raise InputError(f"per-token labels must be (sequences, positions), got shape {arr.shape}")


def evaluate_sequence(
    y_true: Any,
    proba: Any,
    *,
    mask: Any = None,
    sample_weight: Any = None,
    mask_source: str = "",
    tags: Sequence[str] | None = None,
) -> tuple[Classification, SequenceEval]:
    """The real tokens' ``Classification`` and the sequence facts.

    ``proba`` is ``(n, T, C)`` per-token probabilities; ``mask`` ``(n, T)`` True for
    real tokens (the model's own mask); a ``sample_weight`` of zeros masks too. ``tags``
    names the C tag indices (entity F1 needs them).
    """
    truth = token_indices(y_true)
    probs = np.asarray(proba, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[:2] != truth.shape:
        raise InputError(f"tagger outputs {probs.shape} do not match labels {truth.shape}")
    keep = np.ones(truth.shape, dtype=bool)
    sources = []
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool).reshape(truth.shape)
        sources.append(mask_source or "the model's mask")
    if sample_weight is not None:
        sw = np.asarray(sample_weight)
        if sw.shape == truth.shape:
            keep &= sw != 0
            sources.append("sample_weight zeros")
    if not keep.any():
        raise InputError("every position is masked: no real token to evaluate")
    n_tags = probs.shape[-1]
    c = classify(truth[keep], proba=probs[keep], labels=list(range(n_tags)))
    entity, note, table = entity_scores(truth, _predicted_tags(probs), keep, tags)
    facts = SequenceEval(
        n_sequences=int(truth.shape[0]),
        n_positions=int(truth.size),
        n_tokens=int(keep.sum()),
        masked=int((~keep).sum()),
        mask_source=" and ".join(sources) or "no mask",
        entity=entity,
        entity_note=note,
        entity_table=table,
    )
    return c, facts


def _predicted_tags(probs: np.ndarray) -> np.ndarray:
    """The predicted tag index at every position (masked ones included)."""
    return probs.argmax(axis=-1)


def bio_scheme(tags: Sequence[str] | None) -> bool:
    """Whether the tag names form a BIO/IOB set: "O" plus "B-x"/"I-x" (or "B_x") tags."""
    if not tags:
        return False
    names = [str(t) for t in tags]
    spans = [t for t in names if t[:2] in ("B-", "I-", "B_", "I_")]
    return bool(spans) and all(t == "O" or t in spans for t in names)


def entity_scores(
    truth: np.ndarray, pred: np.ndarray, keep: np.ndarray, tags: Sequence[str] | None
) -> tuple[dict[str, float] | None, str, list[dict[str, Any]]]:
    """seqeval's entity precision/recall/F1 over the real tokens of each sequence, and its
    per-entity-type table; None with the reason when the tags are not a BIO/IOB set."""
    if tags is None:
        return None, "tag names unknown: entity F1 needs them (BIO/IOB tags)", []
    if not bio_scheme(tags):
        return None, "the tags are not a BIO/IOB set: no entity F1", []
    try:
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    except ImportError:
        return None, f"entity F1 needs the {ENTITY_EXTRA!r} package (pip install seqeval)", []
    names = np.asarray([str(t).replace("_", "-", 1) for t in tags], dtype=object)
    seq_true = [list(names[truth[i][keep[i]]]) for i in range(truth.shape[0])]
    seq_pred = [list(names[pred[i][keep[i]]]) for i in range(truth.shape[0])]
    scores = {
        "entity_precision": float(precision_score(seq_true, seq_pred, zero_division=0)),
        "entity_recall": float(recall_score(seq_true, seq_pred, zero_division=0)),
        "entity_f1": float(f1_score(seq_true, seq_pred, zero_division=0)),
    }
    report = classification_report(seq_true, seq_pred, output_dict=True, zero_division=0)
    table = [
        {"entity": str(name), **{k: float(v) for k, v in row.items()}}
        for name, row in report.items()
        if not str(name).endswith(" avg")
    ]
    return scores, "", table

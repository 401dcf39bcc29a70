"""A classifier head's evaluation by what it predicts: one class, several labels, or tags.

A ``Dense(k, sigmoid)`` head trained on multi-hot labels is k yes/no tasks
(``Context.multilabel``); a head with ``(batch, time, tags)`` outputs labels tokens
(``Context.eval`` over the real tokens, ``Context.sequence`` with how many positions the
model masked); anything else is a single-label classifier (``Context.eval``). The mask
is the model's own (a ``mask_zero`` Embedding, a ``Masking`` layer) or a
``sample_weight`` of zeros.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras.predict import output_mask
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.keras_spec import ModelSpec, Predictions
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.multilabel import evaluate_multilabel
from mlflow_sanity.core.predictions import outputs_to_proba
from mlflow_sanity.core.sequence import evaluate_sequence

_log = logging.getLogger(__name__)


def is_sequence(outputs: Any) -> bool:
    """Per-token outputs: ``(batch, time, tags)``."""
    return np.ndim(outputs) == 3


def with_mask(model: Any, x: Any, preds: Predictions | None) -> Predictions | None:
    """A tagger's predictions with the model's mask (unchanged for any other head)."""
    if preds is None or not is_sequence(preds.outputs) or x is None:
        return preds
    # the user's model failing to give its mask: the sample weights (if any) still mask
    with Caught(Origin.MODEL, "the model's mask") as caught:
        mask = output_mask(model, x)
    if caught.failed:
        _log.info("mlflow-sanity: the model's mask could not be read: %s", caught.raised)
        return preds
    return replace(preds, mask=mask) if mask is not None else preds


def multilabel_evidence(spec: ModelSpec, preds: Predictions) -> dict[str, Any]:
    """A multi-label head's ``Context.multilabel`` (empty when the outputs are not one
    probability, or logit, per label of a 0/1 label table)."""
    y, out = np.asarray(preds.y_true), np.asarray(preds.outputs)
    if y.ndim != 2 or out.shape != y.shape or not np.isin(y, (0, 1)).all():
        return {}
    try:
        return {"multilabel": evaluate_multilabel(y, _unit(out, spec))}
    except InputError as exc:  # NaN outputs (a diverged fit) are non_finite_loss's to report
        _log.info("predictions not checked: %s", exc)
        return {}


def sequence_evidence(
    spec: ModelSpec, preds: Predictions, names: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """A tagger's ``Context.eval`` over its real tokens and ``Context.sequence`` (empty when
    the outputs are not ``(batch, time, tags)`` scores for per-token labels). ``names``:
    the user's tag names, index i -> ``names[i]`` (BIO/IOB names give the entity F1)."""
    if not is_sequence(preds.outputs):
        return {}
    try:
        return _sequence(spec, preds, names)
    except InputError as exc:
        _log.info("predictions not checked: %s", exc)
        return {}


def _unit(outputs: Any, spec: ModelSpec) -> np.ndarray:
    """Per-label probabilities of a multi-label head (a sigmoid applied to logits)."""
    out = np.asarray(outputs, dtype=np.float64)
    if not np.isfinite(out).all():
        raise InputError("model outputs contain NaN or inf")
    logits = spec.outputs_logits or spec.from_logits or out.min() < 0 or out.max() > 1
    return 1.0 / (1.0 + np.exp(-out)) if logits else out


def _sequence(spec: ModelSpec, preds: Predictions, names: tuple[str, ...] | None) -> dict[str, Any]:
    out = np.asarray(preds.outputs)
    n, steps, width = out.shape
    ignored = ""
    if names is not None and len(names) != width:  # a subclassed model's width shows here
        ignored = f"label_names has {len(names)} names but the tagger has {width} tags: ignored"
        _log.warning("mlflow-sanity: %s", ignored)
        names = None
    flat = outputs_to_proba(
        out.reshape(n * steps, width), spec.output_activation, from_logits=spec.outputs_logits
    )
    source = spec.mask or "the model's mask"
    c, facts = evaluate_sequence(
        preds.y_true,
        flat.reshape(n, steps, flat.shape[-1]),
        mask=preds.mask,
        sample_weight=preds.sample_weight,
        mask_source=source,
        tags=names,
    )
    if ignored:
        facts = replace(facts, entity_note=f"{ignored}; {facts.entity_note}")
    return {"eval": c, "sequence": facts}

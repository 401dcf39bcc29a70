"""One arm of a cause experiment: a fresh copy of the model, trained and scored.

The copy gets new weights drawn from the arm's seed (``clone_model``) and an optimizer
rebuilt from the compile config, with the remedy applied (a learning rate, a layer
config, standardised inputs, balanced class weights, more epochs). It is scored on the
held-out rows before training (the held-out loss it starts from: did the arm learn?) and
after (balanced accuracy, per-class recall, held-out loss). The wall clock is only a
safety stop: an arm it stops is ``stopped``, which makes its experiment inconclusive.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from mlflow_sanity.adapters.keras.remedies import (
    SEED,
    Remedy,
    Rows,
    as_float_arrays,
    balanced_weights,
    standardiser,
)
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.outputs import classify_scores
from mlflow_sanity.core.proofs import Score

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    """What one seed of one arm gave: a score, or why not."""

    score: Score | None
    updates: int = 0
    seconds: float = 0.0  # reported on the child run, never judged
    error: str = ""
    stopped: bool = False
    heads: dict[str, Score] | None = None  # a multi-output copy: each output's score

    def of(self, head: str | None) -> Trained:
        """The arm as one output's experiment sees it: that output's score."""
        if head is None or self.heads is None or self.stopped or self.error:
            return self
        score = self.heads.get(head)
        return replace(self, score=score, error="" if score else "no score for this output")


class _SafetyStop(keras.callbacks.Callback):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.hit = False
        self.updates = 0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.updates += 1
        if time.perf_counter() > self.deadline:
            self.hit = True
            self.model.stop_training = True


def _copy(model: Any, remedy: Remedy | None, seed: int) -> Any:
    """A fresh copy of ``model`` (new weights from ``seed``), compiled like it, with
    ``remedy`` applied."""
    clone_fn = None
    if remedy is not None and remedy.layer_config is not None:
        change = remedy.layer_config

        def clone_fn(layer: Any) -> Any:
            cfg = layer.get_config()
            new = change(dict(cfg))
            return type(layer).from_config(new if new is not None else cfg)

    # Both arms of a seed start from the same draw: initializers built without a seed (and
    # dropout's seed generators) draw from Python's `random`. Not keras.utils.set_random_seed:
    # it would also set TensorFlow's global seed and Keras' seed attribute, which the
    # user's program may read afterwards (`preserved_random_state` restores the rest).
    random.seed(SEED + seed)
    np.random.seed(SEED + seed)
    clone = keras.models.clone_model(model, clone_function=clone_fn)
    config = copy.deepcopy(model.get_compile_config())
    if remedy is not None and remedy.learning_rate is not None:
        config["optimizer"]["config"]["learning_rate"] = float(remedy.learning_rate)
    if remedy is not None and remedy.loss is not None:
        config["loss"] = remedy.loss
    clone.compile_from_config(config)
    return clone


def _held_out(clone: Any, x: Any, y: Any, batch_size: int, spec: Any, classes: bool) -> Score:
    """Balanced accuracy, per-class recall (classes present in ``y``, in order) and the
    loss on the held-out rows, from one eager forward pass (no tracing: cheap)."""
    from mlflow_sanity.adapters.keras.predict import predict_outputs

    outputs = predict_outputs(clone, x, batch_size)
    with Caught(Origin.MODEL) as caught:
        loss = float(np.asarray(clone.compute_loss(x=x, y=y, y_pred=outputs, training=False)))
    if caught.failed:  # a custom loss setup: Keras' own evaluate computes it
        value = clone.evaluate(x, y, batch_size=batch_size, verbose=0)
        loss = float(np.asarray(value[0] if isinstance(value, (list, tuple)) else value))
    if not classes:
        return Score(None, loss)  # no classes: the held-out loss alone
    return _scored(spec, outputs, y, loss)


def _scored(spec: Any, outputs: Any, y: Any, loss: float) -> Score:
    """A classifier's held-out score, read as the checks read its outputs
    (``core/outputs.py``): balanced accuracy and the recall of each class present in ``y``."""
    c = classify_scores(spec, y, outputs)
    if c is None:  # labels that are not classes: the held-out loss alone
        return Score(None, loss)
    recalls = tuple(float(row["recall"]) for row in c.per_class if row["support"])
    return Score(float(np.mean(recalls)), loss, None, recalls)


def _loss(scores: dict[str, Score], head: str) -> float | None:
    return scores[head].loss if head in scores else None


def _head_loss(model: Any, head: str) -> Any:
    """The loss the user compiled for output ``head`` (by name, in output order, or one for
    all)."""
    loss = model.get_compile_config().get("loss")
    if isinstance(loss, dict):
        loss = loss[head]
    elif isinstance(loss, (list, tuple)):
        loss = loss[list(model.output_names).index(head)]
    return keras.losses.get(loss)


def _held_out_heads(
    model: Any, clone: Any, x: Any, ys: dict[str, Any], batch_size: int, specs: Any, rows: Rows
) -> dict[str, Score]:
    """Each output's held-out loss (its own compiled loss on its own labels) and, for a
    single-label classifier output, its balanced accuracy and per-class recall. An output
    that cannot be scored so is left out: its experiments say why none ran."""
    from mlflow_sanity.adapters.keras.predict import predict_heads

    outputs = predict_heads(clone, x, batch_size)
    scores: dict[str, Score] = {}
    for head, classes in (rows.heads or {}).items():
        # a loss that cannot be read back (a custom callable): no score for this output
        with Caught(Origin.MODEL) as caught:
            out = np.asarray(outputs[head], dtype=np.float32)
            y = np.asarray(ys[head])
            y = y.astype(np.float32) if y.dtype.kind == "f" else y
            if y.size == out.size:  # (n,) targets against (n, 1) outputs: no broadcasting
                y = y.reshape(out.shape)
            loss = float(np.mean(np.asarray(_head_loss(model, head)(y, out))))
            score = _scored(specs[head], out, ys[head], loss) if classes else None
            scores[head] = score or Score(None, loss)
        if caught.failed:
            _log.info("mlflow-sanity: output %s not scored: %s", head, caught.raised)
            scores.pop(head, None)
    return scores


def _in_users_loss(
    model: Any, clone: Any, x_eval: Any, rows: Rows, unscale: tuple[float, float] | None = None
) -> float | None:
    """The remedied copy's held-out loss measured with the user's own loss, on the user's
    targets (a remedy that swaps the loss or rescales the targets would otherwise compare
    two units; ``unscale`` = the ``(mean, std)`` its outputs are mapped back with), None
    when it is not a named loss."""
    from mlflow_sanity.adapters.keras.predict import predict_outputs

    name = model.get_compile_config().get("loss")
    if not isinstance(name, str):
        return None
    outputs = predict_outputs(clone, x_eval, None)
    if unscale is not None:
        outputs = outputs * unscale[1] + unscale[0]
    y = np.asarray(rows.y_eval, dtype=np.float32)
    outputs = np.asarray(outputs, dtype=np.float32)
    if y.size == outputs.size:  # (n,) targets against (n, 1) outputs: no broadcasting
        y = y.reshape(outputs.shape)
    return float(np.mean(np.asarray(keras.losses.get(name)(y, outputs))))


def train_arm(
    model: Any,
    rows: Rows,
    remedy: Remedy | None,
    epochs: int,
    batch_size: int,
    seed: int,
    deadline: float,
    spec: Any,
) -> Trained:
    """Train one copy and score it; any failure is the arm's ``error``, never raised."""
    start = time.perf_counter()
    # a copy the user's model cannot train: the arm says so, fit stands
    with Caught(Origin.MODEL, "experiment arm") as caught:
        x_train, x_eval = as_float_arrays(rows.x_train), as_float_arrays(rows.x_eval)
        if remedy is not None and remedy.standardise:
            scale = standardiser(x_train)
            x_train, x_eval = scale(x_train), scale(x_eval)
        y_train, y_eval, unscale = rows.y_train, rows.y_eval, None
        if remedy is not None and remedy.standardise_targets:  # on the training targets
            unscale = (float(np.mean(y_train)), float(np.std(y_train)) or 1.0)
            y_train, y_eval = [(y - unscale[0]) / unscale[1] for y in (y_train, y_eval)]
        clone = _copy(model, remedy, seed)
        if rows.heads is not None:
            before_heads = _held_out_heads(model, clone, x_eval, y_eval, batch_size, spec, rows)
        else:
            before = _held_out(clone, x_eval, y_eval, batch_size, spec, False).loss
        stop = _SafetyStop(deadline)
        weights = balanced_weights(rows.y_train) if remedy is not None and remedy.balanced else None
        clone.fit(  # rows shuffled once, by a private generator: the same order in both arms
            x_train,
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            shuffle=False,
            callbacks=[stop],
            class_weight=weights,
        )
        if stop.hit:
            return Trained(None, stop.updates, time.perf_counter() - start, stopped=True)
        if rows.heads is not None:  # each output scored on its own labels
            after = _held_out_heads(model, clone, x_eval, y_eval, batch_size, spec, rows)
            scores = {h: replace(a, loss_before=_loss(before_heads, h)) for h, a in after.items()}
            return Trained(None, stop.updates, time.perf_counter() - start, heads=scores)
        after = _held_out(clone, x_eval, y_eval, batch_size, spec, rows.classes)
        if remedy is not None and (remedy.loss or unscale):  # losses compared in one unit
            loss = _in_users_loss(model, clone, x_eval, rows, unscale)
            before, after = None, replace(after, loss=loss)
        score = replace(after, loss_before=before)
        ba = score.balanced_accuracy
        score = score if ba is None or math.isfinite(ba) else None
        return Trained(
            score, stop.updates, time.perf_counter() - start, "" if score else "no score"
        )
    exc = caught.raised
    _log.info("mlflow-sanity: experiment arm failed: %s", exc, exc_info=exc)
    return Trained(None, 0, time.perf_counter() - start, str(exc)[:200])

"""Sequence labelling: a tagger is judged on its real tokens, padding excluded."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from mlflow_sanity.checks import Context
from mlflow_sanity.core.metrics import InputError
from mlflow_sanity.core.sequence import bio_scheme, evaluate_sequence
from mlflow_sanity.pipeline import build_report

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
STEPS, VOCAB = 12, 40


def tagged(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Padded sentences (token 0 = padding) whose tags follow from the tokens: about 88%
    "O"; a "person" is tokens 1-3 followed by 4, a "location" token 5 followed by 6."""
    rng = np.random.default_rng(seed)
    tok = np.zeros((n, STEPS), "int32")
    tags = np.zeros((n, STEPS), "int32")
    for i, length in enumerate(rng.integers(5, STEPS + 1, size=n)):
        tok[i, :length] = rng.integers(7, VOCAB, size=length)
        if rng.random() < 0.5:  # half the sentences name no entity
            continue
        start = int(rng.integers(0, length - 1))
        if rng.random() < 0.5:
            tok[i, start : start + 2] = [int(rng.integers(1, 4)), 4]
            tags[i, start : start + 2] = [1, 2]
        else:
            tok[i, start : start + 2] = [5, 6]
            tags[i, start : start + 2] = [3, 4]
    return tok, tags


def _one_hot_proba(pred: np.ndarray, k: int = 5) -> np.ndarray:
    return np.eye(k)[pred] * 0.9 + 0.1 / k


# -- the pure evaluation -------------------------------------------------------------------


def test_only_real_tokens_count_and_the_report_says_how_many_were_masked():
    tok, tags = tagged(60)
    mask = tok != 0
    pred = np.zeros_like(tags)  # "O" everywhere
    c, seq = evaluate_sequence(tags, _one_hot_proba(pred), mask=mask, tags=TAGS)
    assert c.n == seq.n_tokens == int(mask.sum())
    assert seq.masked == int((~mask).sum()) > 0 and seq.n_positions == tags.size
    assert c.metrics["accuracy"] == pytest.approx((pred == tags)[mask].mean(), abs=1e-12)
    # padding is tag 0 too: counted, it would lift the accuracy
    assert (pred == tags).mean() > c.metrics["accuracy"]
    report = build_report(Context(eval=c, sequence=seq))
    assert report.inputs["sequence"]["masked_positions"] == seq.masked
    assert {"accuracy_at_baseline", "minority_class_missed"} <= set(report.flagged_ids)
    assert report.metrics["entity_f1"] == 0.0


def test_sample_weight_zeros_mask_positions_too():
    tok, tags = tagged(30)
    weights = (tok != 0).astype("float32")
    c, seq = evaluate_sequence(tags, _one_hot_proba(tags), sample_weight=weights)
    assert seq.n_tokens == int((tok != 0).sum()) and seq.mask_source == "sample_weight zeros"
    assert c.metrics["accuracy"] == 1.0
    with pytest.raises(InputError, match="every position is masked"):
        evaluate_sequence(tags, _one_hot_proba(tags), mask=np.zeros(tags.shape, bool))


def test_entity_scores_are_seqeval_s_over_the_real_tokens():
    from seqeval.metrics import f1_score, precision_score, recall_score

    tok, tags = tagged(80, seed=3)
    rng = np.random.default_rng(1)
    pred = np.where(rng.random(tags.shape) < 0.15, rng.integers(0, 5, tags.shape), tags)
    mask = tok != 0
    _c, seq = evaluate_sequence(tags, _one_hot_proba(pred), mask=mask, tags=TAGS)
    names = np.asarray(TAGS, dtype=object)
    truth = [list(names[t[m]]) for t, m in zip(tags, mask, strict=True)]
    guess = [list(names[p[m]]) for p, m in zip(pred, mask, strict=True)]
    assert seq.entity["entity_f1"] == pytest.approx(f1_score(truth, guess))
    assert seq.entity["entity_precision"] == pytest.approx(precision_score(truth, guess))
    assert seq.entity["entity_recall"] == pytest.approx(recall_score(truth, guess))
    assert {row["entity"] for row in seq.entity_table} == {"PER", "LOC"}


def test_entity_f1_needs_a_bio_tag_set_and_says_why_not():
    assert bio_scheme(TAGS) and bio_scheme(["O", "B_X", "I_X"])
    assert not bio_scheme(["NOUN", "VERB", "O"]) and not bio_scheme(None)
    tok, tags = tagged(20)
    _, unnamed = evaluate_sequence(tags, _one_hot_proba(tags), mask=tok != 0)
    assert unnamed.entity is None and "tag names unknown" in unnamed.entity_note
    _, pos = evaluate_sequence(tags, _one_hot_proba(tags), tags=["A", "B", "C", "D", "E"])
    assert pos.entity is None and "not a BIO/IOB set" in pos.entity_note


# -- real Keras taggers ----------------------------------------------------------------------


def _tagger(keras, optimizer):
    keras.utils.set_random_seed(0)
    inp = keras.Input((STEPS,), dtype="int32")
    hidden = keras.layers.Embedding(VOCAB, 16, mask_zero=True)(inp)
    hidden = keras.layers.Dense(16, activation="relu")(hidden)  # per token; the mask follows
    out = keras.layers.Dense(len(TAGS), activation="softmax")(hidden)
    model = keras.Model(inp, out)
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def taggers(keras, tracking_uri):
    """Two fitted taggers, each fitted and evaluated once under autolog: one that
    predicts "O" everywhere (a learning rate too small to leave the prior), one that learned."""
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.report import plots

    tok, tags = tagged(500)
    mlflow.set_experiment(f"sequence-{uuid.uuid4().hex[:8]}")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("learning_curves_png", "confusion_matrix_png", "class_balance_png"):
            mp.setattr(plots, name, lambda *a, **k: b"\x89PNG\r\n\x1a\n")
        mlflow_sanity.autolog(silent=True)
        try:
            for name, optimizer, epochs in (
                ("all_o", keras.optimizers.SGD(0.05), 2),
                ("healthy", keras.optimizers.Adam(0.02), 6),
            ):
                model = _tagger(keras, optimizer)
                with mlflow.start_run() as run:
                    model.fit(
                        tok[:350],
                        tags[:350],
                        validation_data=(tok[350:], tags[350:]),
                        epochs=epochs,
                        batch_size=32,
                        verbose=0,
                    )
                    model.evaluate(tok[350:], tags[350:], verbose=0)
                pred = np.asarray(model(tok[350:], training=False)).argmax(-1)
                out[name] = (run.info.run_id, pred)
        finally:
            mlflow_sanity.autolog(disable=True)
    return out, tok[350:], tags[350:]


def _run(taggers, name):
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.tracking.reports import read_report

    runs, tok, tags = taggers
    run_id, pred = runs[name]
    data = MlflowClient().get_run(run_id).data
    return data.tags, data.metrics, read_report(run_id), pred, tok, tags


def test_the_o_everywhere_tagger_is_flagged_on_its_real_tokens(taggers):
    tags_, metrics, report, pred, tok, tags = _run(taggers, "all_o")
    mask = tok != 0
    assert (pred[mask] == 0).all()  # the story: "O" for every real token
    assert tags_["sanity.status"] == "fail", tags_["sanity.findings"]
    assert tags_["sanity.coverage"] == "full" and tags_["sanity.task"] == "sequence"
    flagged = set(tags_["sanity.findings"].split(","))
    assert {"accuracy_at_baseline", "minority_class_missed", "prediction_collapse"} <= flagged
    # the logged accuracy is over real tokens only, on fit's validation rows and on evaluate's
    real = float((pred == tags)[mask].mean())
    assert metrics["sanity/accuracy"] == pytest.approx(real, abs=1e-6)
    assert metrics["sanity/evaluate/1/accuracy"] == pytest.approx(real, abs=1e-6)
    assert report.inputs["sequence"]["masked_positions"] == int((~mask).sum())
    assert report.inputs["sequence"]["mask_source"] == "a mask_zero Embedding"


def test_a_tagger_that_learned_with_masked_padding_passes(taggers):
    tags_, metrics, report, pred, tok, tags = _run(taggers, "healthy")
    assert tags_["sanity.status"] == "pass", tags_["sanity.findings"]
    assert tags_["sanity.coverage"] == "full" and tags_["sanity.task"] == "sequence"
    mask = tok != 0
    assert metrics["sanity/accuracy"] == pytest.approx((pred == tags)[mask].mean(), abs=1e-6)
    rows = {str(r["label"]): r for r in report.tables["per_class"]}
    assert set(rows) == {"0", "1", "2", "3", "4"} and min(r["recall"] for r in rows.values()) > 0.5

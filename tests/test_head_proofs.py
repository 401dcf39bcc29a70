"""Cause experiments on a multi-output model, judged per output (``head_proofs.py``).

One tiny two-output model (a shared Dense trunk on raw, unscaled inputs; a softmax
classification head and a regression head), 400 rows, 5 epochs: the cause flagged on an
output carries a proof judged on that output's own held-out scores, and the user's model
and random state come out of it as they went in.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_proofs import _keras_seed, _next_draws, _tf_seed

from mlflow_sanity.adapters.keras.inputs import FitData
from mlflow_sanity.adapters.keras.remedies import head_rows


def _rows(n: int = 400):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    kind = ((x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 0.5)).astype("int64")
    size = (x @ np.array([1.0, -2.0, 0.5, 1.5]) + rng.normal(0, 0.3, n)).astype("float32")
    raw = (x * np.array([300, 1, 500, 20]) + np.array([500, 0, 100, 100])).astype("float32")
    return raw, {"kind": kind, "size": size}


def _two_heads(keras):
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = keras.layers.Dense(16, activation="relu")(inp)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(h)
    size = keras.layers.Dense(1, name="size")(h)
    model = keras.Model(inp, {"kind": kind, "size": size})
    model.compile(
        keras.optimizers.Adam(1e-3),
        {"kind": "sparse_categorical_crossentropy", "size": "mse"},
        metrics={"kind": ["accuracy"]},
    )
    return model


def test_a_cause_flagged_on_one_output_is_proven_on_that_outputs_scores(
    keras, mlflow_experiment, monkeypatch
):
    import mlflow

    from mlflow_sanity.adapters.keras import patch
    from mlflow_sanity.report import plots
    from mlflow_sanity.tracking.reports import read_report

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    x, y = _rows()

    def session(tool: bool):
        model = _two_heads(keras)
        keras.utils.set_random_seed(7)  # not the experiments' own seed (0)
        if tool:
            patch.autolog(silent=True, prove_causes=True, proof_budget=(1.0, 60))
        try:
            model.fit(x, y, epochs=5, validation_split=0.2, verbose=0)
            state = (*_next_draws(keras), _keras_seed(), _tf_seed())
            return state, [w.copy() for w in model.get_weights()]
        finally:
            if tool:
                patch.autolog(disable=True)

    without, weights = session(tool=False)
    with_tool, tool_weights = session(tool=True)
    assert with_tool == without  # the user's random state, as it was
    assert all(np.array_equal(a, b) for a, b in zip(weights, tool_weights, strict=True))

    run = mlflow.last_active_run()
    report = read_report(run.info.run_id)
    proven = [f for f in report.findings if "proof" in f.evidence]
    assert proven, report.flagged_ids
    for f in proven:  # each proof judged on the output its finding is about
        proof = f.evidence["proof"]
        assert proof["output"] == f.evidence["output"] in ("kind", "size"), proof
        want = "held_out_loss" if proof["output"] == "size" else "balanced_accuracy"
        assert proof.get("metric", "balanced_accuracy") == want or proof["verdict"] == "not run"
    f = next(f for f in proven if f.evidence["proof"]["verdict"] != "not run")
    proof = f.evidence["proof"]
    assert proof["verdict"] == "confirmed" and f.message.startswith(f"Output '{proof['output']}'")
    children = mlflow.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
        output_format="list",
    )
    arms = {c.info.run_id: c for c in children}
    assert set(proof["runs"]) <= set(arms) and len(proof["runs"]) == 2
    remedy = next(arms[r] for r in proof["runs"] if arms[r].data.params.get("output"))
    assert remedy.data.params["output"] == proof["output"]
    assert f.id in report.inputs["heads"][proof["output"]]["flagged"]


def test_labels_not_given_by_output_name_leave_the_experiments_unrun():
    x, y = _rows(200)
    data = FitData(x_train=x, y_train=[y["kind"], y["size"]], train_readable=True)
    assert head_rows(data, {"kind": True, "size": False}) is None
    named = FitData(x_train=x, y_train=y, train_readable=True)
    rows = head_rows(named, {"kind": True, "size": False})
    assert rows is not None and rows.heads == {"kind": True, "size": False}
    one = rows.of("size")
    assert one.classes is False and len(one.y_eval) == len(rows.y_eval["kind"])
    # the same rows for each output: the held-out labels match the inputs row by row
    i = int(np.flatnonzero(np.all(x == rows.x_eval[0], axis=1))[0])
    assert one.y_eval[0] == pytest.approx(y["size"][i])


def test_one_pair_of_arms_gives_each_output_its_own_verdict():
    """The same whole-model arms judged per output: the classifier output on balanced
    accuracy, the regression output on its held-out loss; an output the arms could not
    score is inconclusive, never a pass."""
    from mlflow_sanity.adapters.keras.proof_arms import Trained
    from mlflow_sanity.adapters.keras.proofs import Trial
    from mlflow_sanity.adapters.keras.remedies import Remedy, Rows
    from mlflow_sanity.core.proofs import Score

    y = {"kind": np.repeat([0, 1], 100), "size": np.zeros(200, "float32"), "gone": np.zeros(200)}
    rows = Rows(np.zeros((400, 2)), y, np.zeros((200, 2)), y, "validation rows")
    rows.heads = {"kind": True, "size": False, "gone": False}

    def arm(ba: float, loss: float, seed: int) -> Trained:
        kind = Score(ba + seed * 0.01, 0.7, 0.7, (ba, ba + seed * 0.02))
        return Trained(None, 100, heads={"kind": kind, "size": Score(None, loss + seed, 9.0)})

    controls = [arm(0.5, 100.0, s) for s in range(2)]
    verdicts = {}
    for head in ("kind", "size", "gone"):
        t = Trial("unscaled_inputs", Remedy("standardised"), head=head)
        t.trained = [arm(0.9, 10.0, s) for s in range(2)]
        proof = t.proof(controls, 5, rows).to_dict()
        verdicts[head] = (proof.get("metric", "balanced_accuracy"), proof["verdict"])
    assert verdicts["kind"] == ("balanced_accuracy", "confirmed")
    assert verdicts["size"] == ("held_out_loss", "confirmed")
    assert verdicts["gone"][1] == "inconclusive"  # no score for this output: no verdict

"""Experiments decide only when they can (issue 25).

Pure parts first (how a verdict grades a cause, the proven cause before its consequences,
the differential's order), then real fits through ``autolog``: a many-class model trained
one epoch on unscaled inputs and a 200-row model at a too-low learning rate (both
underpowered: the cause stays flagged, never refuted), and a working model on unscaled
inputs that gains from scaling (a confirmed gain without a symptom). Tiny models only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from keras_specs import fit_spec, model_spec

from mlflow_sanity.checks import CheckOptions, Context, run_checks
from mlflow_sanity.core.findings import Finding, Report, Severity
from mlflow_sanity.core.keras_spec import ColumnStats, DeadUnits, InputStats, ProbeSpec
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.proofs import Arm, Proof, Score


def _arm(name, ba, loss, seeds=1, counts=(500, 500), updates=100):
    return Arm(name, (Score(ba, loss, 2.3, tuple(ba for _ in counts)),) * seeds, 5, updates)


def _proof(finding, control, remedied, seeds=1, counts=(500, 500), reached=None, min_seeds=1):
    return Proof(
        finding,
        "the fix",
        _arm("control", control, 1.0, seeds, counts),
        _arm("remedy", remedied, 1.0, seeds, counts),
        800,
        counts,
        min_seeds=min_seeds,
        reached=reached,
    ).to_dict()


def _accurate(y: np.ndarray, share_right: float):
    pred = y.copy()
    wrong = np.arange(len(y)) >= round(share_right * len(y))
    pred[wrong] = (y[wrong] + 1) % len(np.unique(y))
    return classify(y, pred)


def _healthy_contexts():
    """The healthy fits of the earlier issue: a conv net on 0-255 pixels at 0.987, and a
    model with 62% of 1,024 ReLUs dead at accuracy 1.0."""
    y = np.repeat(np.arange(10), 100)
    pixels = InputStats("channels", 1000, (ColumnStats("0", 0.0, 255.0, 33.0, 78.0),), "Conv2D")
    conv = Context(
        eval=_accurate(y, 0.987),
        model=model_spec(units=10),
        fit=fit_spec(y, units=10, inputs=pixels),
        history={"loss": [0.5, 0.2, 0.1, 0.05], "accuracy": [0.9, 0.95, 0.98, 0.99]},
    )
    probes = ProbeSpec(dead_units=(DeadUnits("hidden", 1024, 635),), probe_rows=256)
    dead = Context(
        eval=_accurate(y, 1.0), model=model_spec(units=10), fit=fit_spec(y, units=10, probes=probes)
    )
    return {"unscaled_inputs": conv, "dead_units": dead}


@pytest.mark.parametrize("verdict", ["refuted", "inconclusive", "shorter budget"])
def test_healthy_fits_stay_pass_whatever_their_experiment_could_not_show(verdict):
    for cause, ctx in _healthy_contexts().items():
        if verdict == "refuted":
            proof = _proof(cause, 0.95, 0.95, seeds=2, min_seeds=2)
        elif verdict == "inconclusive":
            proof = _proof(cause, 0.90, 0.93, counts=(20, 20), min_seeds=2)
        else:  # the remedied copy beats the control only in the experiment's short budget
            proof = _proof(cause, 0.80, 0.95, seeds=2, min_seeds=2, reached=0.987)
        assert proof["verdict"] == verdict.replace("shorter budget", "inconclusive")
        ctx.proofs = {cause: proof}
        report = Report(run_checks(ctx, CheckOptions()))
        # (accuracy 1.0 draws perfect_score, a check of its own: no cause is flagged)
        assert report.status == "pass" or report.flagged_ids == ["perfect_score"], cause
        assert report.get(cause).severity is Severity.INFO


def test_a_repeated_gain_without_a_symptom_is_a_warning_that_says_what_the_model_would_gain():
    ctx = _healthy_contexts()["unscaled_inputs"]
    ctx.proofs = {"unscaled_inputs": _proof("unscaled_inputs", 0.80, 0.90, seeds=2, min_seeds=2)}
    f = Report(run_checks(ctx, CheckOptions())).get("unscaled_inputs")
    assert f.severity is Severity.WARN and f.evidence["proof"]["verdict"] == "confirmed"
    assert f.message.startswith("The model would gain from the fix (+0.10")
    one_seed = _proof("unscaled_inputs", 0.80, 0.90, min_seeds=2)
    assert one_seed["verdict"] == "inconclusive" and "needs 2 seeds" in one_seed["why"]


def _stuck_adam_x1000() -> Context:
    """Adam at 1.0 (1,000-fold its default): the loss neither diverged nor stalled, the
    ReLUs died and the model collapsed onto one class."""
    y = np.repeat([0, 1, 2], 30)
    stuck = classify(y, np.zeros_like(y), labels=[0, 1, 2])
    spec = replace(model_spec(), learning_rate=1.0, default_learning_rate=1e-3, optimizer="Adam")
    probes = ProbeSpec(dead_units=(DeadUnits("hidden", 32, 32),), probe_rows=256)
    falling = {"loss": [1.3, 1.12, 1.1, 1.1], "accuracy": [0.33] * 4}
    return Context(eval=stuck, model=spec, fit=fit_spec(y, units=3, probes=probes), history=falling)


def test_adam_x1000_with_dead_units_names_the_learning_rate_and_it_leads_once_proven():
    report = Report(run_checks(_stuck_adam_x1000(), CheckOptions()))
    f = report.get("learning_rate")
    assert f.severity is Severity.WARN and "1,000-fold above" in f.message and "died" in f.message
    ctx = _stuck_adam_x1000()
    ctx.proofs = {"learning_rate": _proof("learning_rate", 0.33, 0.90)}
    report = Report(run_checks(ctx, CheckOptions()))
    lead, dead = report.flagged[0], report.get("dead_units")
    assert lead.id == "learning_rate" and lead.evidence["proof"]["verdict"] == "confirmed"
    # every unit dead would fail on its own; as the proven cause's consequence it is
    # graded no higher than the cause, and says so
    assert dead.severity is Severity.WARN and dead.evidence["consequence_of"] == "learning_rate"
    assert dead.message.startswith("A consequence of `learning_rate`")
    symptom = report.get("prediction_collapse")
    assert symptom.evidence["caused_by"][0] == "learning_rate"


def test_the_differential_tries_the_likeliest_remedy_first():
    from mlflow_sanity.adapters.keras.remedies import differential

    high = Finding("learning_rate", Severity.INFO, "m", {"suspect": "1,000-fold above"})
    order = [(c, r.text) for c, r in differential(1.0, {"learning_rate": high}, False)]
    assert order[0] == ("learning_rate", "the learning rate 1 → 0.1")
    assert {c for c, _ in order} == {"learning_rate", "unscaled_inputs", "undertrained"}
    scaled = Finding("unscaled_inputs", Severity.PASSED, "inputs are scaled")
    collapse = Finding("prediction_collapse", Severity.FAIL, "m")
    present = {"unscaled_inputs": scaled, "prediction_collapse": collapse}
    causes = [c for c, _ in differential(1e-3, present, False)]
    assert "unscaled_inputs" not in causes and "prediction_collapse" in causes
    assert "prediction_collapse" not in [c for c, _ in differential(1e-3, present, True)]


# -- real fits ------------------------------------------------------------------------------


@pytest.fixture
def proving(keras, mlflow_experiment, monkeypatch):
    import mlflow

    from mlflow_sanity.adapters.keras import patch
    from mlflow_sanity.report import plots
    from mlflow_sanity.tracking.reports import read_report

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    patch.autolog(silent=True, prove_causes=True)

    def fit(model, x, y, **kwargs):
        model.fit(x, y, verbose=0, **kwargs)
        return read_report(mlflow.last_active_run().info.run_id)

    yield fit
    patch.autolog(disable=True)


def _mlp(keras, inputs, units, lr, activation="softmax", loss="sparse_categorical_crossentropy"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )
    model.compile(keras.optimizers.Adam(lr), loss, metrics=["accuracy"])
    return model


def test_many_classes_one_epoch_on_unscaled_inputs_keeps_its_cause(keras, proving):
    rng = np.random.default_rng(0)
    k, n = 30, 900
    centers = rng.normal(size=(k, 16)) * 2
    y = rng.integers(0, k, n)
    x = ((centers[y] + rng.normal(size=(n, 16))) * 500 + 2000).astype("float32")
    report = proving(_mlp(keras, 16, k, 1e-3), x, y, epochs=1, validation_split=0.2)
    f = report.get("unscaled_inputs")
    assert f.severity is Severity.WARN, f.message
    assert f.evidence["proof"]["verdict"] in ("confirmed", "inconclusive")


def test_200_rows_at_a_too_low_learning_rate_keep_their_cause(keras, proving):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = (rng.normal(size=(200, 8)) + y[:, None]).astype("float32")
    model = _mlp(keras, 8, 1, 1e-5, "sigmoid", "binary_crossentropy")
    report = proving(model, x, y, epochs=5, validation_split=0.2)
    f = report.get("learning_rate")
    assert f.severity is Severity.WARN, f.message
    assert f.evidence["proof"]["verdict"] in ("confirmed", "inconclusive")


def test_a_working_model_on_unscaled_inputs_gets_a_confirmed_gain(keras, proving):
    """Raw minutes (0-10,080) beside ages: the model learns (no symptom), but standardised
    inputs gain in every seed: a warning that says what it would gain."""
    rng = np.random.default_rng(0)
    age = rng.uniform(18, 90, 1200)
    minutes = rng.uniform(0, 10080, 1200)
    y = (age + rng.normal(0, 8, 1200) > 54).astype("int64")
    x = np.stack([minutes, age], 1).astype("float32")
    model = _mlp(keras, 2, 1, 1e-3, "sigmoid", "binary_crossentropy")
    report = proving(model, x, y, epochs=10, validation_split=0.25)
    assert not {"accuracy_at_baseline", "prediction_collapse"} & set(report.flagged_ids)
    f = report.get("unscaled_inputs")
    proof = f.evidence["proof"]
    assert f.severity is Severity.WARN and proof["verdict"] == "confirmed" and proof["seeds"] >= 2
    assert proof["remedied"] >= proof["control"] + 0.02
    assert "would gain" in f.message


def test_the_console_summary_names_the_experiments_in_one_line():
    """Read from the findings' proofs (the typed evidence), not from ``Report.inputs``: the
    shared control run counts once."""
    from mlflow_sanity.report.console import summary_lines

    confirmed = {"verdict": "confirmed", "runs": ["control", "remedy1"]}
    inconclusive = {"verdict": "inconclusive", "runs": ["control", "remedy2"]}
    report = Report(
        [
            Finding("unscaled_inputs", Severity.WARN, "unscaled", {"proof": confirmed}),
            Finding("learning_rate", Severity.INFO, "rate", {"proof": inconclusive}),
        ]
    )
    lines = summary_lines(report, "abc", "fit", "sqlite:///mlflow.db")
    said = [line for line in lines if "cause experiments" in line]
    assert said == [  # one shared control: three child runs
        "  2 cause experiments (3 child runs of run abc, tag sanity.proof): "
        "unscaled_inputs confirmed, learning_rate inconclusive"
    ]
    untested = Report([Finding("unscaled_inputs", Severity.WARN, "unscaled", {})])
    assert not [line for line in summary_lines(untested, "abc", "fit", "x") if "experim" in line]


def test_the_loss_that_fits_the_output_is_the_mismatchs_remedy():
    from mlflow_sanity.adapters.keras.remedies import REMEDIES

    def remedy(**evidence):
        f = Finding("loss_output_mismatch", evidence.pop("severity", Severity.WARN), "m", evidence)
        return REMEDIES["loss_output_mismatch"](f, 1e-3, 1e-3)

    mse = remedy(loss="mse", output_activation="softmax", output_units=10, label_encoding="one_hot")
    assert mse.loss == "categorical_crossentropy"
    sparse = remedy(
        loss="binary_crossentropy",
        output_activation="softmax",
        output_units=3,
        label_encoding="sparse",
    )
    assert sparse.loss == "sparse_categorical_crossentropy"
    one = remedy(loss="mse", output_activation="sigmoid", output_units=1, label_encoding="binary")
    assert one.loss == "binary_crossentropy"
    # a configuration that cannot train at all (fail) or a logits setup: not tested
    assert (
        remedy(
            severity=Severity.FAIL,
            loss="categorical_crossentropy",
            output_activation="sigmoid",
            output_units=1,
            label_encoding="binary",
        )
        is None
    )
    assert remedy(loss="mse", output_activation=None, output_units=3, from_logits=True) is None


def test_a_symptom_no_cause_explains_gets_a_differential_diagnosis(keras, monkeypatch):
    """No cause explains the collapse: the standard remedies are tried most likely first,
    within the work budget, until one is confirmed; it names its cause. The arms are
    faked here (the lr ÷10 copy learns); the planning, budget and naming are real."""
    from mlflow_sanity.adapters.keras import proof_arms, proofs
    from mlflow_sanity.adapters.keras.inputs import FitCall, FitData
    from mlflow_sanity.core.proof_budget import ProofSettings

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    y = np.repeat([0, 1, 2], 100)
    x = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
    tried = []

    def fake(model, rows, remedy, epochs, batch, seed, deadline, spec):
        tried.append(remedy.text if remedy else "control")
        good = remedy is not None and remedy.learning_rate == pytest.approx(0.02)
        ba = 0.9 if good else 0.33
        return proof_arms.Trained(Score(ba, 0.5 if good else 1.1, 1.1, (ba,) * 3), 100)

    monkeypatch.setattr(proof_arms, "train_arm", fake)
    stuck = classify(y[::3][:90], np.zeros(90, dtype=int), labels=[0, 1, 2])
    spec = replace(model_spec(), learning_rate=2e-3, default_learning_rate=1e-3)
    history = {"loss": [1.1, 1.1, 1.1], "accuracy": [0.33] * 3}
    ctx = Context(eval=stuck, model=spec, fit=fit_spec(y, units=3, n_train=300), history=history)
    report = Report(run_checks(ctx, CheckOptions()))
    assert report.get("prediction_collapse").severity.flagged
    assert not [f for f in report.flagged if f.explains]  # no cause explains it
    data = FitData(x_train=x, y_train=y, train_readable=True)
    out = proofs.prove(
        model,
        FitCall(x=x, y=y, class_weight={0: 1.0, 1: 1.0, 2: 1.0}),
        data,
        ctx,
        report,
        CheckOptions(),
        None,
        ProofSettings(True),
    )
    # the likeliest first (÷10, then ×10), and nothing after the first confirmed remedy
    assert tried == [
        "control",
        "the learning rate 0.002 → 0.0002",
        "the learning rate 0.002 → 0.02",
    ]
    f = out.get("learning_rate")
    assert f.severity is Severity.WARN and f.evidence["proof"]["verdict"] == "confirmed"
    assert "learning_rate" in out.get("prediction_collapse").evidence["caused_by"]


def test_without_classes_the_held_out_loss_alone_decides():
    """A regression (any task without classes) is judged on the relative fall of the
    held-out loss: two seeds to confirm, and the same power rules to refute."""

    def arm(name, losses, updates=100):
        return Arm(name, tuple(Score(None, v, 2.0) for v in losses), 5, updates)

    def proof(control, remedied, n_eval=200):
        return Proof(
            "unscaled_inputs",
            "r",
            arm("control", control),
            arm("remedy", remedied),
            800,
            (),
            "validation rows",
            n_eval=n_eval,
        )

    gain = proof([1.0, 1.1], [0.4, 0.45])
    assert gain.verdict == "confirmed" and gain.to_dict()["metric"] == "held_out_loss"
    assert "held-out loss" in gain.summary and gain.to_dict()["control"] == pytest.approx(1.05)
    assert proof([1.0], [0.4]).verdict == "inconclusive"  # one seed: noise unknown
    assert proof([1.0, 1.02], [1.0, 1.01]).verdict == "refuted"
    assert proof([1.0, 1.02], [1.0, 1.01], n_eval=10).verdict == "inconclusive"
    flat = Proof(
        "x", "r", arm("control", [2.0, 2.0]), arm("remedy", [2.0, 2.0]), 800, (), n_eval=200
    )
    assert flat.verdict == "inconclusive" and "did not learn" in flat.judgement.why


def test_regression_rows_are_held_out_without_counting_classes():
    from mlflow_sanity.adapters.keras.inputs import FitData
    from mlflow_sanity.adapters.keras.remedies import experiment_rows

    x = np.arange(400, dtype="float32").reshape(200, 2)
    y = np.linspace(-1.5, 2.5, 200).astype("float32")
    rows = experiment_rows(FitData(x_train=x, y_train=y, train_readable=True), classes=False)
    assert rows is not None and not rows.classes and len(rows.y_eval) >= 40
    assert not set(rows.y_eval.tolist()) & set(rows.y_train.tolist())  # never trained on


def test_a_symptom_first_seen_in_a_later_evaluate_relinks_the_fits_cause():
    """The fit worked on its validation rows (the cause was advice); a later
    ``model.evaluate`` of the same model is stuck: the fit's cause leads it there, a
    refuted one stays out."""
    from mlflow_sanity.checks.cause_rule import NO_SYMPTOM, relink_fit_causes

    advice = Finding(
        "unscaled_inputs",
        Severity.INFO,
        f"The inputs are unscaled. {NO_SYMPTOM}",
        {"graded": "warn"},
    )
    refuted = Finding(
        "learning_rate",
        Severity.INFO,
        "Refuted by experiment: …",
        {"graded": "warn", "proof": {"verdict": "refuted"}},
    )
    stuck = Finding("accuracy_at_baseline", Severity.FAIL, "Accuracy 0.10 is the baseline.")
    out = Report(relink_fit_causes([stuck], [advice, refuted]))
    cause = out.get("unscaled_inputs")
    assert cause.severity is Severity.WARN and cause.evidence["from_fit"]
    assert cause.message == "From the fit: The inputs are unscaled."
    assert out.get("learning_rate") is None
    assert out.get("accuracy_at_baseline").evidence["caused_by"] == ["unscaled_inputs"]
    assert out.flagged[0].id == "unscaled_inputs"
    # nothing stuck at evaluate: nothing comes back
    fine = Finding("accuracy_at_baseline", Severity.PASSED, "fine")
    assert relink_fit_causes([fine], [advice]) == [fine]


def test_a_regressor_on_unscaled_inputs_is_judged_on_its_held_out_loss(keras, proving):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5]) + rng.normal(0, 0.3, 400)).astype("float32")
    raw = (x * np.array([1000, 1, 5000, 20]) + np.array([5e4, 0, 1e4, 100])).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    report = proving(model, raw, y, epochs=5, validation_split=0.2)
    proof = report.get("unscaled_inputs").evidence["proof"]
    assert proof["metric"] == "held_out_loss" and proof["verdict"] == "confirmed"
    assert proof["remedied"] < proof["control"] and proof["seeds"] >= 2

"""A cause alarms only with a symptom, and is proven (or not) by experiment.

Pure parts first (the registry's one rule on hand-written contexts, the verdict), then
real fits through ``autolog`` with injected faults: the learning rate x1000 and /10000,
and raw minutes and ages fed to a two-input model. Each proof test trains tiny models
for at most 5 epochs an arm.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from keras_specs import fit_spec, model_spec

from mlflow_sanity.checks import REGISTRY, CheckOptions, Context, run_checks
from mlflow_sanity.core.findings import Report, Severity
from mlflow_sanity.core.keras_spec import ColumnStats, DeadUnits, InputStats, ProbeSpec
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.proofs import Arm, Proof, Score, not_run, verdict_of

# -- the one rule: no symptom, no alarm ---------------------------------------------------

# The causes that alarm only next to a symptom they explain (``needs_symptom``).
CAUSES = tuple(cid for cid, chk in REGISTRY.items() if chk.needs_symptom)


def _accurate(y: np.ndarray, share_right: float) -> object:
    """A classification of ``y`` that gets ``share_right`` of the rows right."""
    pred = y.copy()
    wrong = np.arange(len(y)) >= round(share_right * len(y))
    pred[wrong] = (y[wrong] + 1) % len(np.unique(y))
    return classify(y, pred)


def _report(ctx: Context) -> Report:
    return Report(run_checks(ctx, CheckOptions()))


def test_pixels_0_255_on_a_conv_net_at_0_987_are_info():
    y = np.repeat(np.arange(10), 100)
    pixels = InputStats("channels", 1000, (ColumnStats("0", 0.0, 255.0, 33.0, 78.0),), "Conv2D")
    ctx = Context(
        eval=_accurate(y, 0.987),
        model=model_spec(units=10),
        fit=fit_spec(y, units=10, inputs=pixels),
        history={"loss": [0.5, 0.2, 0.1, 0.05], "accuracy": [0.9, 0.95, 0.98, 0.99]},
    )
    report = _report(ctx)
    f = report.get("unscaled_inputs")
    assert f.severity is Severity.INFO and f.evidence["graded"] == "warn"
    assert "Rescaling(1/255)" in f.message and "not a warning" in f.message
    assert report.status == "pass"


@pytest.mark.parametrize(
    ("units", "dead", "classes", "right"),
    [(1024, 635, 10, 1.0), (20, 10, 2, 0.93)],
    ids=["62pct-of-1024-at-accuracy-1", "50pct-of-20-binary"],
)
def test_dead_units_on_a_model_that_works_are_info(units, dead, classes, right):
    y = np.repeat(np.arange(classes), 60)
    probes = ProbeSpec(dead_units=(DeadUnits("hidden", units, dead),), probe_rows=256)
    out = dict(units=1, activation="sigmoid", loss="binary_crossentropy") if classes == 2 else {}
    ctx = Context(
        eval=_accurate(y, right),
        model=model_spec(**(out or {"units": classes})),
        fit=fit_spec(y, units=classes, probes=probes),
    )
    report = _report(ctx)
    f = report.get("dead_units")
    assert f.severity is Severity.INFO and f.evidence["graded"] == "warn"
    assert not set(report.flagged_ids) & set(CAUSES), report.flagged_ids


def test_a_cause_still_alarms_with_its_symptom_or_alone():
    y = np.repeat([0, 1, 2], 30)
    stuck = classify(y, np.zeros_like(y), labels=[0, 1, 2])
    half = ProbeSpec(dead_units=(DeadUnits("hidden", 32, 20),), probe_rows=256)
    ctx = Context(eval=stuck, model=model_spec(), fit=fit_spec(y, units=3, probes=half))
    report = _report(ctx)
    assert report.get("dead_units").severity is Severity.WARN
    assert report.flagged[0].id == "dead_units"
    # every unit dead breaks training by itself: a failure even without a symptom
    dead = ProbeSpec(dead_units=(DeadUnits("hidden", 32, 32),), probe_rows=256)
    ctx = Context(eval=_accurate(y, 1.0), model=model_spec(), fit=fit_spec(y, units=3, probes=dead))
    assert _report(ctx).get("dead_units").severity is Severity.FAIL
    # symptoms not judged (no predictions): not checked is not a pass, the grade stays
    ctx = Context(model=model_spec(), fit=fit_spec(y, units=3, probes=half))
    assert _report(ctx).get("dead_units").severity is Severity.WARN


def _arm(name, ba, loss, seeds=1, updates=100, before=2.3, counts=(100, 100)):
    """An arm of ``seeds`` identical scores, per-class recall ``ba`` in every class."""
    score = Score(ba, loss, before, tuple(ba for _ in counts))
    return Arm(name, (score,) * seeds, 5, updates)


def _proof(control, remedied, n=200, finding="learning_rate", seeds=1, **kw):
    counts = (n // 2, n - n // 2)
    return Proof(
        finding,
        "the learning rate 1e-07 → 0.001",
        _arm("control", control, kw.pop("control_loss", 2.0), seeds, counts=counts),
        _arm("remedy", remedied, kw.pop("remedied_loss", 2.0), seeds, counts=counts, **kw),
        720,
        counts,
    )


def test_three_outcomes_weigh_the_gain_against_the_noise_and_the_power():
    assert _proof(0.10, 0.83).verdict == "confirmed"
    assert _proof(0.50, 0.60, n=2000).verdict == "confirmed"
    # a real null: two seeds, enough rows and updates, the control learned, the interval
    # of the gain below the smallest gain that matters, the loss no better
    null = _proof(0.80, 0.80, n=4000, seeds=2)
    assert null.verdict == "refuted", null.judgement.why
    # absence of evidence is not evidence of absence: each missing piece -> inconclusive
    assert _proof(0.80, 0.80, n=4000).verdict == "inconclusive"  # one seed
    assert _proof(0.50, 0.60, n=20, seeds=2).verdict == "inconclusive"  # 20 rows: too noisy
    few = _proof(0.80, 0.80, n=4000, seeds=2, updates=5)
    assert few.verdict == "inconclusive" and "5 updates" in few.judgement.why
    flat = Proof(
        "x", "r", _arm("control", 0.5, 2.3, 2), _arm("remedy", 0.5, 2.3, 2), 10, (2000, 2000)
    )
    assert flat.verdict == "inconclusive" and "did not learn" in flat.judgement.why
    lossy = _proof(0.50, 0.50, n=4000, seeds=2, control_loss=0.722, remedied_loss=0.60)
    assert lossy.verdict == "inconclusive" and "held-out loss improved" in lossy.judgement.why
    many = Proof(
        "x",
        "r",
        _arm("control", 0.02, 2, 2, counts=(3,) * 69),
        _arm("remedy", 0.03, 2, 2, counts=(3,) * 69),
        500,
        (3,) * 69,
    )
    assert many.verdict == "inconclusive" and "69 classes are too few" in many.judgement.why
    halted = replace(_arm("remedy", 0.9, 1), stopped=True)
    stopped = Proof("x", "r", _arm("control", 0.5, 1), halted)
    assert stopped.verdict == "inconclusive" and "stopped" in stopped.judgement.why
    d = _proof(0.10, 0.83).to_dict()
    assert {"remedy", "metric", "control", "remedied", "verdict", "runs"} <= set(d)
    assert d["summary"].startswith("with the learning rate 1e-07 → 0.001, balanced accuracy 0.10")
    assert "why" in few.to_dict() and not_run("dead_units", "x")["verdict"] == "inconclusive"
    assert verdict_of("not_confirmed") == "refuted"  # what older reports stored


def test_a_proof_decides_the_grade_and_the_lead():
    y = np.repeat([0, 1, 2], 30)
    stuck = classify(y, np.zeros_like(y), labels=[0, 1, 2])
    half = ProbeSpec(dead_units=(DeadUnits("hidden", 32, 20),), probe_rows=256)
    spec = model_spec()
    flat = {"loss": [1.1, 1.1, 1.1, 1.1], "accuracy": [0.33] * 4}

    def report(proofs):
        ctx = Context(eval=stuck, model=spec, fit=fit_spec(y, units=3, probes=half), history=flat)
        ctx.proofs = proofs
        return _report(ctx)

    confirmed = _proof(0.33, 0.90, finding="dead_units").to_dict()
    refuted = _proof(0.33, 0.33, n=4000, seeds=2, finding="dead_units").to_dict()
    assert refuted["verdict"] == "refuted"
    r = report({"dead_units": confirmed})
    assert r.get("dead_units").message.startswith("Proven: with")
    assert r.get("dead_units").evidence["proof"]["verdict"] == "confirmed"
    r = report({"dead_units": refuted})
    f = r.get("dead_units")
    assert f.severity is Severity.INFO and f.message.startswith("Refuted by experiment")
    assert "dead_units" not in r.get("accuracy_at_baseline").evidence.get("caused_by", [])
    # an experiment that could not decide leaves the grade to the rule, and says why
    weak = _proof(0.33, 0.34, n=40, finding="dead_units").to_dict()
    f = report({"dead_units": weak}).get("dead_units")
    assert f.severity is Severity.WARN and "could not decide" in f.message
    assert f.evidence["proof"]["verdict"] == "inconclusive"
    # an older report's "not_confirmed" reads as refuted
    old = {**refuted, "verdict": "not_confirmed"}
    assert report({"dead_units": old}).get("dead_units").severity is Severity.INFO


def test_a_symptoms_tested_fix_annotates_it_and_never_changes_its_grade():
    """A collapse happened whatever rebalancing would have done: the experiment names the
    fix that works (or says it did not help); the symptom keeps its severity."""
    y = np.repeat([0, 1], [90, 10])
    collapsed = classify(y, np.zeros_like(y), labels=[0, 1])

    def collapse(proof):
        ctx = Context(eval=collapsed)
        ctx.proofs = {"prediction_collapse": proof.to_dict()}
        return _report(ctx).get("prediction_collapse")

    helped = collapse(_proof(0.50, 0.87, finding="prediction_collapse"))
    assert helped.severity is Severity.FAIL and "Proven fix: with" in helped.message
    useless = collapse(_proof(0.50, 0.50, n=4000, seeds=2, finding="prediction_collapse"))
    assert useless.severity is Severity.FAIL and "did not help" in useless.message


def test_a_collapse_is_tested_only_when_the_fit_weighted_nothing():
    from mlflow_sanity.adapters.keras.inputs import FitCall
    from mlflow_sanity.adapters.keras.proofs import candidates
    from mlflow_sanity.core.findings import Finding

    report = Report([Finding("prediction_collapse", Severity.FAIL, "m")])
    assert [f.id for f in candidates(report, FitCall())] == ["prediction_collapse"]
    assert candidates(report, FitCall(class_weight={0: 1.0, 1: 9.0})) == []
    assert candidates(Report([Finding("prediction_collapse", Severity.PASSED, "m")])) == []


def test_the_budget_is_counted_in_work_not_seconds():
    from mlflow_sanity.core.proof_budget import (
        MAX_UNITS,
        MIN_UNITS,
        ProofSettings,
        arm_units,
        step_units,
    )

    auto = ProofSettings.of("auto", (1.0, 60))
    assert auto.allowed(10 * MAX_UNITS) == MAX_UNITS and auto.allowed(10) == MIN_UNITS
    assert auto.allowed(None) == 0  # the fit's own work unknown: auto cannot size it
    assert ProofSettings.of(True, (0.0, 30)).allowed(None) == MAX_UNITS
    assert ProofSettings.of(False).allowed(1e9) == 0
    # a big model's step costs more than a small one's; the same fit, the same budget
    assert step_units(10_000_000, 64) > 100 * step_units(1_000, 64)
    assert arm_units(100, 5_000, 32) == arm_units(100, 5_000, 32)
    with pytest.raises(ValueError):
        ProofSettings.of("sometimes")


def test_users_get_auto_unless_they_say_otherwise(monkeypatch):
    from mlflow_sanity.adapters.keras.proofs import MODE_ENV, ProofSettings

    monkeypatch.delenv(MODE_ENV, raising=False)  # the suite switches them off
    assert ProofSettings.of().mode == "auto"
    monkeypatch.setenv(MODE_ENV, "true")
    assert ProofSettings.of().mode is True


# -- real fits through autolog -------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    p = np.random.default_rng(0).permutation(len(d.target))[:600]
    return (d.data[p] / 16).astype("float32"), d.target[p]


def _minutes_and_ages(n: int = 1200):
    rng = np.random.default_rng(0)
    age = rng.uniform(18, 90, n).astype("float32")
    minutes = rng.uniform(0, 10080, n).astype("float32")
    y = (age + rng.normal(0, 8, n) > 54).astype("int64")
    return {"minutes": minutes[:, None], "age": age[:, None]}, y


@pytest.fixture
def proving(keras, mlflow_experiment, monkeypatch):
    """autolog with experiments forced, plots skipped; yields a fit-and-read helper."""
    import mlflow

    from mlflow_sanity.adapters.keras import patch
    from mlflow_sanity.report import plots
    from mlflow_sanity.tracking.reports import read_report

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    patch.autolog(silent=True, prove_causes=True, proof_budget=(1.0, 60))

    def fit(model, x, y, **kwargs):
        model.fit(x, y, verbose=0, **kwargs)
        run = mlflow.last_active_run()
        children = mlflow.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
            output_format="list",
        )
        return read_report(run.info.run_id), children

    yield fit
    patch.autolog(disable=True)


def _digits_mlp(keras, lr):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def _dict_model(keras):
    keras.utils.set_random_seed(0)
    a, b = keras.Input((1,), name="minutes"), keras.Input((1,), name="age")
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([a, b]))
    model = keras.Model({"minutes": a, "age": b}, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("fault", ["lr-x1000", "lr-div10000", "raw-minutes-and-ages"])
def test_an_injected_fault_names_its_cause_confirmed_by_experiment(keras, proving, digits, fault):
    x, y = digits
    if fault == "lr-x1000":
        report, children = proving(_digits_mlp(keras, 1.0), x, y, epochs=5, validation_split=0.2)
        cause = "learning_rate"
    elif fault == "lr-div10000":
        report, children = proving(_digits_mlp(keras, 1e-7), x, y, epochs=5, validation_split=0.2)
        cause = "learning_rate"
    else:
        xd, yd = _minutes_and_ages()
        report, children = proving(_dict_model(keras), xd, yd, epochs=5, validation_split=0.25)
        cause = "unscaled_inputs"
    f = report.get(cause)
    assert f is not None and f.severity.flagged, f.message if f else report.flagged_ids
    proof = f.evidence["proof"]
    assert proof["verdict"] == "confirmed" and proof["remedied"] > proof["control"]
    assert f.message.startswith("Proven: with") and f.explains
    assert f.id in [c.id for c in report.flagged if c.explains]
    symptom = next(s for s in report.flagged if "caused_by" in s.evidence)
    assert cause in symptom.evidence["caused_by"]
    arms = {
        c.data.tags["sanity.proof.arm"]: c
        for c in children
        if cause in c.data.tags["sanity.proof"].split(",")
    }
    assert set(arms) == {"control", "remedy"} and set(proof["runs"]) == {
        c.info.run_id for c in arms.values()
    }
    assert arms["remedy"].data.metrics["balanced_accuracy"] == pytest.approx(
        proof["remedied"], abs=1e-4
    )


def test_a_collapse_on_imbalanced_rows_is_proven_fixed_by_balanced_class_weights(keras, proving):
    rng = np.random.default_rng(0)
    y = (rng.random(1500) < 0.06).astype("int64")
    x = (rng.normal(size=(1500, 6)) + y[:, None] * 1.2).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
    report, children = proving(model, x, y, epochs=5, validation_split=0.25)
    f = report.get("prediction_collapse")
    assert f.severity is Severity.FAIL  # the collapse happened: the proof never softens it
    proof = f.evidence["proof"]
    assert proof["remedy"] == 'class_weight="balanced"' and proof["verdict"] == "confirmed"
    assert proof["remedied"] >= proof["control"] + 0.2
    assert "Proven fix: with class_weight" in f.message
    assert any("prediction_collapse" in c.data.tags["sanity.proof"] for c in children)


def test_a_healthy_fit_runs_no_experiment(keras, proving, digits, monkeypatch):
    from mlflow_sanity.adapters.keras import proofs

    def boom(*args, **kwargs):
        raise AssertionError("an experiment ran on a healthy fit")

    monkeypatch.setattr(proofs.proof_arms, "train_arm", boom)
    x, y = digits
    report, children = proving(_digits_mlp(keras, 1e-2), x, y, epochs=8, validation_split=0.2)
    assert report.status == "pass" or not report.flagged_ids
    assert children == [] and "proofs" not in report.inputs


def test_a_model_that_cannot_be_cloned_says_why(keras):
    from mlflow_sanity.adapters.keras.proofs import _clonable

    class Custom(keras.Model):
        def __init__(self, width):
            super().__init__()
            self.width = width
            self.dense = keras.layers.Dense(width)

        def call(self, x):
            return self.dense(x)

    model = Custom(3)
    model.compile("adam", "mse")
    assert "cannot be cloned" in _clonable(model)


def _next_draws(keras) -> tuple[float, ...]:
    nxt = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(3)])
    kernel_sum = float(sum(np.sum(w) for w in nxt.get_weights()))
    return random.random(), float(np.random.rand()), kernel_sum


def _keras_seed():
    from keras.src.utils.rng_utils import get_random_seed

    return get_random_seed()


def _tf_seed():
    from tensorflow.python.eager import context

    return context.context()._seed


def test_experiments_leave_the_users_random_state_as_it_found_it(
    keras, mlflow_experiment, digits, monkeypatch
):
    from mlflow_sanity.adapters.keras import patch
    from mlflow_sanity.report import plots

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    x, y = digits

    def session(tool: bool) -> tuple[float, ...]:
        model = _digits_mlp(keras, 1e-7)
        keras.utils.set_random_seed(7)  # not the experiments' own seed (0)
        if tool:
            patch.autolog(silent=True, prove_causes=True, proof_budget=(1.0, 60))
        try:
            model.fit(x, y, epochs=3, validation_split=0.2, verbose=0)
            return (*_next_draws(keras), _keras_seed(), _tf_seed())
        finally:
            if tool:
                patch.autolog(disable=True)

    without = session(tool=False)
    with_tool = session(tool=True)
    import mlflow

    from mlflow_sanity.tracking.reports import read_report

    report = read_report(mlflow.last_active_run().info.run_id)
    assert report.get("learning_rate").evidence["proof"]["runs"]  # experiments did run
    assert with_tool == without


def test_child_runs_are_skipped_not_waited_for_when_the_server_is_down(monkeypatch):
    import mlflow

    from mlflow_sanity.tracking.proofs import log_arms

    arms = [("learning_rate", "control", {"epochs": "5"}, {"balanced_accuracy": [0.1]})]
    runs, note = log_arms("pending-abc", arms)
    assert runs == () and "spooled" in note
    monkeypatch.setenv("MLFLOW_SANITY_PROBE_TIMEOUT", "0.5")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri("http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        runs, note = log_arms("0123456789abcdef", arms)
    finally:
        mlflow.set_tracking_uri(previous)
    assert runs == () and "did not answer" in note


def test_a_rate_far_from_the_default_is_a_suspect_the_experiment_can_confirm():
    """The loss curve alone does not convict the rate (it fell), but accuracy is stuck and
    the rate is 10,000-fold below Adam's default: info until the experiment confirms it."""
    from dataclasses import replace

    y = np.repeat([0, 1, 2], 30)
    stuck = classify(y, np.zeros_like(y), labels=[0, 1, 2])
    spec = replace(model_spec(), learning_rate=1e-7, default_learning_rate=1e-3)
    falling = {"loss": [1.2, 1.0, 0.9, 0.85], "accuracy": [0.33] * 4}

    def report(proofs=None):
        ctx = Context(eval=stuck, model=spec, fit=fit_spec(y, units=3), history=falling)
        ctx.proofs = proofs
        return _report(ctx)

    f = report().get("learning_rate")
    assert f.severity is Severity.INFO and "10,000-fold below Adam's default (0.001)" in f.message
    assert f.evidence["suspect"]
    from mlflow_sanity.adapters.keras.proofs import candidates

    assert "learning_rate" in [c.id for c in candidates(report())]
    proven = report({"learning_rate": _proof(0.33, 0.90).to_dict()})
    f = proven.get("learning_rate")
    assert f.severity is Severity.WARN and f.explains and f.message.startswith("Proven")
    assert proven.flagged[0].id == "learning_rate"
    # a rate near the default is no suspect
    near = replace(spec, learning_rate=2e-3)
    ctx = Context(eval=stuck, model=near, fit=fit_spec(y, units=3), history=falling)
    assert _report(ctx).get("learning_rate").severity is Severity.PASSED


def test_dict_inputs_get_column_statistics_by_input_name():
    from mlflow_sanity.adapters.keras.cause_data import _input_stats

    x, _ = _minutes_and_ages(50)
    x["wide"] = np.arange(100, dtype="float32").reshape(50, 2)
    stats = _input_stats(x, "Dense", None)
    names = [c.name for c in stats.columns]
    assert stats.kind == "columns" and names == ["minutes", "age", "wide[0]", "wide[1]"]
    assert max(c.max for c in stats.columns) > 1000  # the raw minutes are seen


def _half_dead_context() -> Context:
    """Three balanced classes, constant predictions and a hidden layer with 20 of 32 units
    dead: ``dead_units`` warns, and an experiment would test it."""
    y = np.repeat([0, 1, 2], 30)
    half = ProbeSpec(dead_units=(DeadUnits("hidden", 32, 20),), probe_rows=256)
    return Context(
        eval=classify(y, np.zeros_like(y), labels=[0, 1, 2]),
        model=model_spec(),
        fit=fit_spec(y, units=3, probes=half),
    )


def test_a_failing_experiment_leaves_the_report_standing(keras, lenient, monkeypatch):
    """Outside strict mode a crash in the experiment step costs the proof, not the report."""
    from mlflow_sanity.adapters.keras import proofs

    ctx = _half_dead_context()
    report = _report(ctx)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(proofs, "_run", boom)
    settings = proofs.ProofSettings(True)
    out = proofs.prove(None, None, None, ctx, report, CheckOptions(), None, settings)
    f = out.get("dead_units")
    assert f.severity is Severity.WARN and f.evidence["proof"]["verdict"] == "inconclusive"
    assert "the experiment failed (RuntimeError)" in f.message


def test_experiments_rejudge_through_build_report_under_the_callers_name(keras, monkeypatch):
    """The proofs re-grade the report the way it was built (``pipeline.build_report``, with
    its provenance): a ``SanityCallback`` fit's findings still say ``callback``."""
    from mlflow_sanity.adapters.keras import proofs
    from mlflow_sanity.core.findings import Provenance
    from mlflow_sanity.pipeline import build_report

    ctx = _half_dead_context()
    origin = Provenance(source="callback", call="fit")
    report = build_report(ctx, provenance=origin)
    assert report.get("dead_units").severity is Severity.WARN
    confirmed = _proof(0.33, 0.90, finding="dead_units").to_dict()
    monkeypatch.setattr(proofs, "_run", lambda *args: ({"dead_units": confirmed}, {}))
    settings = proofs.ProofSettings(True)
    out = proofs.prove(None, None, None, ctx, report, CheckOptions(), None, settings)
    assert out.get("dead_units").message.startswith("Proven: with")
    assert {f.source for f in out.findings} == {"callback"}

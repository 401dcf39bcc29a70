"""Why is accuracy stuck? The training-cause checks: grading rules on hand-written probe
data, then real (tiny) Keras fits that have each problem and their fixed twins."""

from __future__ import annotations

import numpy as np
import pytest
from keras_specs import fit_spec, model_spec, run_one

from mlflow_sanity.checks import REGISTRY, CheckOptions, Context, run_checks
from mlflow_sanity.checks.registry import SYMPTOMS, checks_in
from mlflow_sanity.core.findings import Finding, Report, Severity
from mlflow_sanity.core.keras_spec import (
    ColumnStats,
    DeadUnits,
    GradientProbe,
    InputStats,
    NonFiniteEvent,
    ProbeSpec,
    input_stats,
    label_values,
)
from mlflow_sanity.report.markdown import note_section, terminal_summary

NEW = checks_in("causes")
Y3 = np.repeat([0, 1, 2], 30)


def _sev(f: Finding | None) -> Severity | None:
    return None if f is None else f.severity


def _ctx(probes=None, inputs=None, y=Y3, labels=None, history=None, model=None, **fit):
    spec = fit_spec(y, units=3, probes=probes, inputs=inputs, label_values=labels, **fit)
    return Context(model=model or model_spec(), fit=spec, history=history)


def _grads(*ratios: float, layers: int = 4, epochs=None) -> tuple[GradientProbe, ...]:
    """One probe per ratio: first layer's norm = ratio x the last layer's (0.1)."""
    out = []
    for i, r in enumerate(ratios):
        norms = [0.1 * r] + [0.1] * (layers - 1)
        out.append(
            GradientProbe(
                i if epochs is None else epochs[i],
                tuple((f"d{j}", n) for j, n in enumerate(norms)),
                10.0,
                1.0,
            )
        )
    return tuple(out)


# -- grading rules on synthetic data ------------------------------------------------------


def test_every_new_id_is_registered_as_a_cause_of_the_symptoms():
    for cid in (*NEW, "loss_output_mismatch"):
        assert set(REGISTRY[cid].explains) == set(SYMPTOMS), cid


def test_unscaled_inputs_grades_scale_and_range_ratio():
    def stats(cols, normalizer=None, first="Dense"):
        return InputStats("columns", 100, tuple(cols), first, normalizer)

    pixels = [ColumnStats(str(i), 0.0, 255.0, 90.0, 80.0) for i in range(3)]
    f = run_one("unscaled_inputs", _ctx(inputs=stats(pixels)))
    assert f.severity is Severity.WARN and "Rescaling(1/255)" in f.message
    assert f.evidence["worst_columns"][0]["max"] == 255.0
    mixed = [
        ColumnStats("area", 100.0, 2500.0, 650.0, 350.0),
        ColumnStats("fd", 0.05, 0.1, 0.06, 0.01),
    ]
    f = run_one("unscaled_inputs", _ctx(inputs=stats(mixed)))
    assert f.severity is Severity.WARN and "Normalization" in f.message
    assert f.evidence["range_ratio"] > 1000
    standard = [ColumnStats(str(i), -3.0, 9.0, 0.0, 1.0) for i in range(4)]
    assert run_one("unscaled_inputs", _ctx(inputs=stats(standard))).severity is Severity.PASSED
    normalised = run_one("unscaled_inputs", _ctx(inputs=stats(pixels, "norm (Normalization)")))
    assert normalised.severity is Severity.PASSED
    assert run_one("unscaled_inputs", _ctx(inputs=stats(pixels, first="Embedding"))) is None


def test_input_stats_per_column_and_per_channel():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    s = input_stats(x, "Dense", None)
    assert s.kind == "columns" and [c.max for c in s.columns] == [18.0, 19.0]
    images = np.zeros((4, 5, 5, 3), dtype=np.uint8)
    images[..., 2] = 255
    s = input_stats(images, "Conv2D", None)
    assert s.kind == "channels" and len(s.columns) == 3 and s.columns[2].min == 255.0


def test_non_finite_loss_from_history_weights_and_terminate_on_nan():
    probes = ProbeSpec(
        non_finite=(NonFiniteEvent(3, "logs", "loss"), NonFiniteEvent(3, "weights", "dense_1")),
        terminated_on_nan=True,
    )
    history = {"loss": [1.0, 2.0, float("nan")]}
    f = run_one("non_finite_loss", _ctx(probes=probes, history=history))
    assert f.severity is Severity.FAIL
    assert "epoch 3" in f.message and "dense_1" in f.message and "TerminateOnNaN" in f.message
    healthy = run_one("non_finite_loss", _ctx(probes=ProbeSpec(), history={"loss": [1.0, 0.5]}))
    assert healthy.severity is Severity.PASSED


def test_learning_rate_too_high_too_low_and_fine():
    high = ProbeSpec(gradients=_grads(1, 1), learning_rate_start=5.0)
    jump = {"loss": [5.5, 2.4, 2.35, 2.35]}  # initial probe loss 1.0
    f = run_one("learning_rate", _ctx(probes=high, history=jump))
    assert f.severity is Severity.WARN and "too high" in f.message and "0.5" in f.message
    oscillating = {"loss": [1.0, 1.5, 0.9, 1.6, 1.0, 1.7]}
    f = run_one(
        "learning_rate", _ctx(probes=ProbeSpec(learning_rate_start=1.0), history=oscillating)
    )
    assert f.severity is Severity.WARN and "oscillates" in f.message
    low = ProbeSpec(gradients=_grads(1, 1), learning_rate_start=1e-7)
    flat = {"loss": [1.0, 0.999, 0.998, 0.998]}
    f = run_one("learning_rate", _ctx(probes=low, history=flat))
    assert f.severity is Severity.WARN and "too low" in f.message
    fine = {"loss": [1.0, 0.6, 0.4, 0.35]}
    assert run_one("learning_rate", _ctx(probes=high, history=fine)).severity is Severity.PASSED
    # a flat loss with vanishing last-layer gradients is converged, not a low learning rate
    done = ProbeSpec(gradients=(GradientProbe(4, (("a", 1e-6), ("b", 1e-6)), 1.0, 0.01),))
    assert run_one("learning_rate", _ctx(probes=done, history=flat)).severity is Severity.PASSED


def test_dead_units_shares():
    def probes(*layers):
        return ProbeSpec(dead_units=tuple(layers), probe_rows=256)

    f = run_one("dead_units", _ctx(probes=probes(DeadUnits("d1", 32, 20), DeadUnits("d2", 32, 1))))
    assert f.severity is Severity.WARN and f.evidence["worst_layer"] == "d1"
    assert run_one("dead_units", _ctx(probes=probes(DeadUnits("d1", 32, 32)))).severity is (
        Severity.FAIL
    )
    assert run_one("dead_units", _ctx(probes=probes(DeadUnits("d1", 32, 3)))).severity is (
        Severity.PASSED
    )
    assert run_one("dead_units", _ctx(probes=probes(DeadUnits("d1", 2, 2)))).severity is (
        Severity.PASSED
    )  # too narrow to judge


def test_vanishing_and_exploding_gradients():
    f = run_one("vanishing_gradients", _ctx(probes=ProbeSpec(gradients=_grads(1e-6, 1e-5, 1))))
    assert f.severity is Severity.WARN and "Vanishing" in f.message
    f = run_one("vanishing_gradients", _ctx(probes=ProbeSpec(gradients=_grads(1e4, 1e4))))
    assert f.severity is Severity.WARN and "Exploding" in f.message
    healthy = run_one("vanishing_gradients", _ctx(probes=ProbeSpec(gradients=_grads(0.5, 2))))
    assert healthy.severity is Severity.PASSED
    shallow = ProbeSpec(gradients=_grads(1e-6, layers=2))
    assert run_one("vanishing_gradients", _ctx(probes=shallow)) is None
    other = ProbeSpec(gradients_note="gradient probes are not implemented for backend jax")
    f = run_one("vanishing_gradients", _ctx(probes=other))
    assert f.severity is Severity.INFO and "backend jax" in f.message


def test_undertrained_few_updates_or_still_falling():
    few = ProbeSpec(updates=3, steps_per_epoch=3, n_params=2410)
    f = run_one("undertrained", _ctx(probes=few, history={"loss": [2.3], "accuracy": [0.3]}))
    assert f.severity is Severity.WARN and "3 weight updates" in f.message
    right = {"loss": [0.1], "accuracy": [1.0]}  # few updates, but nothing left to learn
    assert run_one("undertrained", _ctx(probes=few, history=right)).severity is Severity.PASSED
    many = ProbeSpec(updates=600, steps_per_epoch=60)
    falling = {"loss": list(2.0 * 0.8 ** np.arange(10)), "accuracy": [0.5] * 9 + [0.8]}
    f = run_one("undertrained", _ctx(probes=many, history=falling))
    assert f.severity is Severity.WARN and "still falling" in f.message
    levelled = {"loss": [2.0, 1.0, 0.6, 0.5, 0.48, 0.47, 0.47], "accuracy": [0.9] * 7}
    assert run_one("undertrained", _ctx(probes=many, history=levelled)).severity is (
        Severity.PASSED
    )
    nearly = {**falling, "accuracy": [0.5] * 9 + [0.97]}
    assert run_one("undertrained", _ctx(probes=many, history=nearly)).severity is Severity.INFO
    # separable data: the loss falls forever, but accuracy is done
    done = {**falling, "accuracy": [1.0] * 10}
    assert run_one("undertrained", _ctx(probes=many, history=done)).severity is Severity.PASSED
    # well above the majority baseline, a still-falling loss is advice, not an alarm
    from mlflow_sanity.core.metrics import classify

    y = np.array([0] * 90 + [1] * 10)
    above = classify(y, np.r_[np.zeros(88, int), [1, 1], np.ones(7, int), np.zeros(3, int)])
    ctx = _ctx(probes=many, history={**falling, "accuracy": [0.5] * 9 + [0.95]})
    ctx.eval = above
    assert run_one("undertrained", ctx).severity is Severity.INFO
    ctx = _ctx(probes=many, history={**falling, "accuracy": [0.5] * 9 + [0.91]})
    ctx.eval = classify(y, np.zeros(100, int))  # at the 0.90 baseline: it explains that
    assert run_one("undertrained", ctx).severity is Severity.WARN


def test_invalid_labels_rules():
    def judge(y, **model):
        spec = model_spec(**model)
        return run_one("invalid_labels", _ctx(labels=label_values(y), y=y, model=spec))

    assert _sev(judge(Y3 / 255)) is Severity.FAIL
    assert _sev(judge(Y3 + 5)) is Severity.FAIL  # ids beyond the 3 output units
    assert _sev(judge(Y3)) is Severity.PASSED
    binary = dict(units=1, activation="sigmoid", loss="binary_crossentropy")
    assert _sev(judge(np.repeat([0, 2], 30), **binary)) is Severity.FAIL
    assert _sev(judge(np.repeat([0, 1], 30), **binary)) is Severity.PASSED
    cce = dict(loss="categorical_crossentropy")
    multi_hot = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0]] * 10)
    assert _sev(judge(multi_hot, **cce)) is Severity.WARN
    assert _sev(judge(np.eye(4)[np.arange(40) % 4], **cce)) is Severity.FAIL  # 4 wide, 3 units
    assert _sev(judge(np.eye(3)[Y3], **cce)) is Severity.PASSED
    assert _sev(judge(np.zeros(30, dtype=int))) is Severity.FAIL  # one class


def test_loss_output_mismatch_widened():
    def judge(**model):
        return run_one("loss_output_mismatch", Context(model=model_spec(**model)))

    assert _sev(judge(activation="sigmoid", loss="categorical_crossentropy")) is Severity.WARN
    assert _sev(judge(activation="relu", loss="categorical_crossentropy")) is Severity.WARN
    assert _sev(judge(activation="relu", loss="sparse_categorical_crossentropy")) is Severity.WARN
    assert _sev(judge(activation="sigmoid", loss="mse")) is Severity.WARN  # multi-unit sigmoid
    assert _sev(judge(activation="softmax", loss="categorical_crossentropy")) is Severity.PASSED


def test_a_cause_leads_the_symptom_it_explains():
    from mlflow_sanity.core.metrics import classify

    y = np.repeat([0, 1, 2], 30)
    c = classify(y, np.zeros_like(y), labels=[0, 1, 2])
    probes = ProbeSpec(dead_units=(DeadUnits("dense", 32, 32),), probe_rows=256)
    ctx = _ctx(probes=probes)
    ctx.eval = c
    findings = run_checks(ctx, CheckOptions())
    report = Report(findings)
    assert report.flagged[0].id == "dead_units"
    assert report.flagged[0].explains
    symptom = report.get("accuracy_at_baseline")
    assert symptom.message.startswith("Accuracy is stuck at 0.33 because every unit of dense")
    assert symptom.evidence["caused_by"] == ["dead_units"]
    assert note_section(report).index("`dead_units`") < note_section(report).index(
        "`accuracy_at_baseline`"
    )
    assert terminal_summary(report).index("dead_units") < terminal_summary(report).index(
        "accuracy_at_baseline"
    )
    again = Report.from_dict(report.to_dict())
    assert again.get("dead_units").explains == report.get("dead_units").explains
    # without a flagged cause the symptom is untouched
    plain = Report(run_checks(Context(eval=c), CheckOptions()))
    assert not plain.get("accuracy_at_baseline").message.startswith("Accuracy is stuck")


# -- real fits ----------------------------------------------------------------------------


def _mlp(keras, d, k, hidden=(32,), act="relu", out="softmax", init="glorot_uniform"):
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(h, activation=act, kernel_initializer=init) for h in hidden]
    return keras.Sequential([keras.Input((d,)), *layers, keras.layers.Dense(k, activation=out)])


def _compile(model, keras, loss="sparse_categorical_crossentropy", opt=None):
    model.compile(opt or keras.optimizers.Adam(1e-2), loss, metrics=["accuracy"])
    return model


def _flagged(report, cid) -> bool:
    f = report.get(cid)
    return f is not None and f.severity.flagged


def _new_above_info(report) -> dict[str, str]:
    return {
        cid: report.get(cid).message
        for cid in NEW
        if report.get(cid) is not None and report.get(cid).severity.flagged
    }


FIT = dict(epochs=12, batch_size=32, validation_split=0.2)


def test_unscaled_pixels_that_still_learn_are_advice_and_scaled_twin_is_quiet(
    keras, fit_report, digits
):
    x, y = digits
    raw = fit_report(_compile(_mlp(keras, 64, 10), keras), x * 256, y, **FIT)
    # the model learns anyway (no symptom): the cause is info, with its advice and why
    f = raw.get("unscaled_inputs")
    assert f.severity is Severity.INFO and f.evidence["graded"] == "warn"
    assert "Rescaling(1/255)" in f.message and "no symptom" not in f.message
    assert "not a warning" in f.message and not raw.flagged
    good = fit_report(_compile(_mlp(keras, 64, 10), keras), x, y, **FIT)
    assert _new_above_info(good) == {}


def test_learning_rate_5_with_sgd_fires_and_leads(keras, fit_report, digits):
    x, y = digits
    opt = keras.optimizers.SGD(5.0)
    bad = fit_report(_compile(_mlp(keras, 64, 10), keras, opt=opt), x, y, **FIT)
    assert _flagged(bad, "learning_rate")
    assert "too high" in bad.get("learning_rate").message
    assert bad.flagged[0].explains  # a cause leads the report
    stuck = [bad.get(s) for s in SYMPTOMS if _flagged(bad, s)]
    assert stuck and all(s.message.startswith("Accuracy is stuck") for s in stuck)
    good = fit_report(
        _compile(_mlp(keras, 64, 10), keras, opt=keras.optimizers.SGD(0.1)), x, y, **FIT
    )
    assert not _flagged(good, "learning_rate")
    assert not _flagged(good, "dead_units")


def test_relu_output_with_categorical_ce(keras, fit_report, digits):
    x, y = digits
    onehot = np.eye(10, dtype="float32")[y]
    model = _compile(_mlp(keras, 64, 10, out="relu"), keras, loss="categorical_crossentropy")
    bad = fit_report(model, x, onehot, **FIT)
    assert _flagged(bad, "loss_output_mismatch")
    assert "relu output" in bad.get("loss_output_mismatch").message
    assert _flagged(bad, "non_finite_loss")  # 0/0 in the normalised ReLU outputs
    assert not _flagged(bad, "learning_rate")  # NaN from the first epoch: not the rate
    model = _compile(_mlp(keras, 64, 10), keras, loss="categorical_crossentropy")
    good = fit_report(model, x, onehot, **FIT)
    assert not _flagged(good, "loss_output_mismatch")
    assert _new_above_info(good) == {}


def test_deep_sigmoid_stack_vanishes(keras, fit_report, digits):
    x, y = digits
    opt = keras.optimizers.SGD(0.01)
    deep = _mlp(keras, 64, 10, hidden=(32,) * 10, act="sigmoid")
    bad = fit_report(_compile(deep, keras, opt=opt), x, y, epochs=4, batch_size=32)
    assert bad.get("vanishing_gradients").severity is Severity.WARN
    fixed = _mlp(keras, 64, 10, hidden=(32,) * 10, act="relu", init="he_normal")
    good = fit_report(_compile(fixed, keras, opt=keras.optimizers.SGD(0.01)), x, y, epochs=4)
    assert good.get("vanishing_gradients").severity is Severity.PASSED


def test_labels_divided_by_255(keras, fit_report, digits):
    x, y = digits
    bad = fit_report(_compile(_mlp(keras, 64, 10), keras), x, y / 255, **FIT)
    assert bad.get("invalid_labels").severity is Severity.FAIL
    good = fit_report(_compile(_mlp(keras, 64, 10), keras), x, y, **FIT)
    assert good.get("invalid_labels").severity is Severity.PASSED


def test_one_epoch_of_three_steps_is_undertrained(keras, fit_report, digits):
    x, y = digits
    bad = fit_report(_compile(_mlp(keras, 64, 10), keras), x[:96], y[:96], epochs=1, batch_size=32)
    f = bad.get("undertrained")
    assert f.evidence["graded"] == "warn" and f.evidence["updates"] == 3
    # three updates already lift accuracy well above the baseline: advice, not an alarm
    assert not _flagged(bad, "accuracy_at_baseline") and f.severity is Severity.INFO
    good = fit_report(_compile(_mlp(keras, 64, 10), keras), x, y, **FIT)
    assert not _flagged(good, "undertrained")


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "separable"])
def test_healthy_fits_raise_no_new_finding_above_info(keras, fit_report, name):
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    if name == "separable":
        rng = np.random.default_rng(1)
        x = rng.normal(size=(300, 4))
        y = (x[:, 0] > 0).astype("int64")
        x[:, 0] += np.where(y == 1, 3.0, -3.0)
    else:
        d = getattr(datasets, f"load_{name}")()
        x, y = d.data, d.target
    p = np.random.default_rng(0).permutation(len(y))
    x = StandardScaler().fit_transform(x[p]).astype("float32")
    y = y[p]
    k = len(np.unique(y))
    if k == 2:
        model = _compile(
            _mlp(keras, x.shape[1], 1, (16,), out="sigmoid"), keras, "binary_crossentropy"
        )
    else:
        model = _compile(_mlp(keras, x.shape[1], k, (16,)), keras)
    epochs = 12 if name == "digits" else 30
    report = fit_report(model, x, y, epochs=epochs, batch_size=16, validation_split=0.2)
    assert _new_above_info(report) == {}
    assert report.get("vanishing_gradients") is None  # 2 kernel layers: too shallow to judge
    assert report.get("dead_units") is not None and report.get("undertrained") is not None


def test_probes_leave_training_unchanged(keras, fit_report, digits):
    """Inference-mode probes: no dropout draw, no state update, the same weights."""
    x, y = digits

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dropout(0.3),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        return _compile(m, keras)

    plain = model()
    plain.fit(x[:300], y[:300], epochs=2, batch_size=32, verbose=0)
    probed = model()
    report = fit_report(probed, x[:300], y[:300], epochs=2, batch_size=32)
    assert report.inputs["probes"]["gradients"]  # the probes did run
    for a, b in zip(plain.get_weights(), probed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_failed_probe_is_reported_as_info():
    broken = ProbeSpec(errors=("train end: RuntimeError: boom",))
    for cid in ("dead_units", "vanishing_gradients"):
        f = run_one(cid, _ctx(probes=broken))
        assert f.severity is Severity.INFO and "boom" in f.message


def test_a_probe_that_raises_never_breaks_fit(keras, fit_report, digits, monkeypatch, lenient):
    from mlflow_sanity.adapters.keras import probes

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(probes, "dead_units", boom)
    monkeypatch.setattr(probes, "weights_report", boom)
    x, y = digits
    keras.utils.set_random_seed(0)
    unbuilt = keras.Sequential(  # no Input: built by fit, so no probe before training
        [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    )
    report = fit_report(_compile(unbuilt, keras), x[:200], y[:200], epochs=2)
    assert report.get("dead_units").severity is Severity.INFO
    assert "boom" in report.get("dead_units").message
    assert report.inputs["probes"]["errors"]

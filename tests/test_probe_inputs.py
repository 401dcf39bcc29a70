"""Probes on every finite input kind: arrays, ``tf.data``, ``PyDataset``, multi-output.

A dataset is never read during ``fit`` (an extra pass advances its shuffle seed); the
probes of such a fit are measured after ``fit`` on the rows the checks read, with copies
of the weights of each probed moment. A stuck fit must get the same causes whatever
feeds it.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_sanity.checks.registry import checks_in

CAUSES = set(checks_in("causes"))  # the ids that explain a stuck accuracy, from the registry


def _mlp(keras, lr: float):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _dataset(x, y, batch=32):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _py_dataset(keras, x, y, batch=32):
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return int(np.ceil(len(x) / batch))

        def __getitem__(self, i):
            return x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]

    return Batches()


def _causes(report) -> set[str]:
    return {f.id for f in report.flagged if f.id in CAUSES}


@pytest.mark.parametrize(
    ("case", "scale", "lr"),
    [("learning rate 5 with SGD", 1.0, 5.0), ("unscaled pixels", 256.0, 0.01)],
)
def test_a_stuck_fit_gets_the_same_causes_from_arrays_tf_data_and_py_dataset(
    keras, fit_report, digits, case, scale, lr
):
    x, y = digits
    x = x * scale
    tx, ty, vx, vy = x[:720], y[:720], x[720:], y[720:]
    arrays = fit_report(
        _mlp(keras, lr), tx, ty, validation_data=(vx, vy), epochs=8, batch_size=32, shuffle=False
    )
    fed = fit_report(_mlp(keras, lr), _dataset(tx, ty), validation_data=_dataset(vx, vy), epochs=8)
    py = fit_report(
        _mlp(keras, lr),
        _py_dataset(keras, tx, ty),
        validation_data=_py_dataset(keras, vx, vy),
        epochs=8,
        shuffle=False,  # Keras shuffles the order of a PyDataset's batches by default
    )
    assert _causes(arrays), arrays.flagged  # stuck, with a cause
    assert {"learning_rate", "unscaled_inputs"} & _causes(arrays)
    for other in (fed, py):
        assert _causes(other) == _causes(arrays), (other.flagged, arrays.flagged)
        assert other.flagged_ids == arrays.flagged_ids
        probes = other.inputs["probes"]
        assert probes["probe_rows_from"] == "training rows read after fit"
        assert [g["epoch"] for g in probes["gradients"]] == [0, 1, 3, 5, 8]
        assert probes["dead_units"] is not None and probes["gradients_note"] == ""
        ours = [(g["epoch"], g["loss"]) for g in probes["gradients"]]
        theirs = [(g["epoch"], g["loss"]) for g in arrays.inputs["probes"]["gradients"]]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert arrays.inputs["probes"]["probe_rows_from"] == "the arrays given to fit"


def test_a_healthy_tf_data_fit_is_probed_and_not_flagged(keras, fit_report, digits):
    import tensorflow as tf

    x, y = digits
    keras.utils.set_random_seed(0)
    shuffled = tf.data.Dataset.from_tensor_slices((x[:720], y[:720])).shuffle(720).batch(32)
    report = fit_report(
        _mlp(keras, 0.1), shuffled, validation_data=_dataset(x[720:], y[720:]), epochs=12
    )
    assert not _causes(report), report.flagged
    assert report.get("dead_units") is not None
    assert report.inputs["probes"]["gradients"]


def _two_outputs(keras, **compile_kwargs):
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    hidden = keras.layers.Dense(16, activation="relu")(inp)
    model = keras.Model(
        inp,
        {
            "digit": keras.layers.Dense(10, activation="softmax", name="digit")(hidden),
            "big": keras.layers.Dense(1, activation="sigmoid", name="big")(hidden),
        },
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        loss={"digit": "sparse_categorical_crossentropy", "big": "binary_crossentropy"},
        metrics={"digit": ["accuracy"], "big": ["accuracy"]},
        **compile_kwargs,
    )
    return model


def test_a_multi_output_model_is_probed_with_its_compiled_losses(keras, fit_report, digits):
    """Per-output losses times ``loss_weights``: the loss the gradient probe measures is the
    one Keras trains on (checked against ``model.compute_loss``-free arithmetic)."""
    x, digit = digits
    y = {"digit": digit, "big": (digit >= 5).astype("int64")}
    weights = {"digit": 1.0, "big": 0.25}
    for feed in ("arrays", "tf.data"):
        model = _two_outputs(keras, loss_weights=weights)
        if feed == "arrays":
            report = fit_report(model, x, y, validation_split=0.2, epochs=3)
        else:
            report = fit_report(
                model, _dataset(x[:720], {k: v[:720] for k, v in y.items()}), epochs=3
            )
        probes = report.inputs["probes"]
        assert probes["gradients_note"] == "" and not probes["errors"], probes
        assert [g["epoch"] for g in probes["gradients"]] == [0, 1, 2, 3]
        assert probes["dead_units"] is not None
        assert report.get("dead_units") is not None
        assert not _causes(report), report.flagged  # healthy: no cause
        # the last probe's loss is the weighted sum of the two losses on the probe rows
        rows = np.unique(np.linspace(0, 719, 256).astype(np.int64))
        out = model(x[rows], training=False)
        digit_loss = keras.losses.SparseCategoricalCrossentropy()(y["digit"][rows], out["digit"])
        big_loss = keras.losses.BinaryCrossentropy()(y["big"][rows, None], out["big"])
        expected = float(digit_loss) + 0.25 * float(big_loss)
        assert probes["gradients"][-1]["loss"] == pytest.approx(expected, rel=1e-4)


def test_large_weights_are_not_copied_and_the_evidence_says_so(
    keras, fit_report, digits, monkeypatch
):
    from mlflow_sanity.adapters.keras import probes as probes_module

    monkeypatch.setattr(probes_module, "SNAPSHOT_BYTES", 1000)
    x, y = digits
    report = fit_report(_mlp(keras, 0.1), _dataset(x[:720], y[:720]), epochs=3)
    probes = report.inputs["probes"]
    assert [g["epoch"] for g in probes["gradients"]] == [3]  # train end only
    assert "too large to keep" in probes["gradients_note"]
    assert probes["dead_units"] is not None


def test_unreadable_training_data_says_why_gradients_were_not_probed(keras, fit_report, digits):
    x, y = digits

    def forever():
        while True:
            yield x[:32], y[:32]

    report = fit_report(_mlp(keras, 0.1), forever(), epochs=2, steps_per_epoch=3)
    finding = report.get("vanishing_gradients")
    assert finding.severity.value == "info"
    assert "not read" in finding.message or "could not be read" in finding.message


def test_an_explicit_callback_probes_a_tf_data_fit(keras, mlflow_experiment, digits, monkeypatch):
    """``SanityCallback`` alone drives its own probe: its train end runs inside the check."""
    import mlflow

    import mlflow_sanity
    from mlflow_sanity.report import plots
    from mlflow_sanity.tracking.reports import read_report

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    x, y = digits
    train, val = _dataset(x[:720], y[:720]), _dataset(x[720:], y[720:])
    callback = mlflow_sanity.SanityCallback(validation_data=val, training_data=train)
    _mlp(keras, 0.1).fit(train, validation_data=val, epochs=3, verbose=0, callbacks=[callback])
    probes = read_report(mlflow.last_active_run().info.run_id).inputs["probes"]
    assert [g["epoch"] for g in probes["gradients"]] == [0, 1, 2, 3]
    assert probes["dead_units"] is not None and probes["gradients_note"] == ""
    assert probes["probe_rows_from"] == "training rows read after fit"


def test_a_shuffled_tf_data_fit_trains_exactly_as_without_the_tool(
    keras, mlflow_experiment, digits, monkeypatch
):
    """The dataset is not iterated during fit (that would move its shuffle seed), the
    probes draw no random numbers, and the rows read after fit come from a copy with a
    seed generator of its own: a second fit on the same dataset object (fine-tuning)
    still sees the epoch orders it would see unchecked. The same weights, on and off."""
    import tensorflow as tf

    import mlflow_sanity
    from mlflow_sanity.report import plots

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    x, y = digits

    def train():
        model = _mlp(keras, 0.1)  # seeds Keras, NumPy and TF
        ds = tf.data.Dataset.from_tensor_slices((x[:720], y[:720])).shuffle(720, seed=3)
        ds = ds.batch(32)
        model.fit(ds, epochs=2, verbose=0)
        model.fit(ds, epochs=2, verbose=0)  # the same dataset object again
        return model.get_weights()

    plain = train()
    mlflow_sanity.autolog()
    try:
        checked = train()
    finally:
        mlflow_sanity.autolog(disable=True)
    for a, b in zip(plain, checked, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_shuffled_dataset_is_read_through_a_copy_unless_it_holds_much_data(keras, monkeypatch):
    import tensorflow as tf

    from mlflow_sanity.adapters.keras import inputs

    x = np.arange(200, dtype="float32")[:, None]
    plain = tf.data.Dataset.from_tensor_slices(x).batch(10)
    shuffled = tf.data.Dataset.from_tensor_slices(x).shuffle(200, seed=1).batch(10)
    assert inputs._unshared_shuffle(plain) is plain  # nothing to protect: no copy
    copy = inputs._unshared_shuffle(shuffled)
    assert copy is not shuffled
    assert sorted(np.concatenate(list(copy.as_numpy_iterator())).ravel()) == list(range(200))
    monkeypatch.setattr(inputs, "COPY_MAX_BYTES", 100)  # 800 bytes of tensors: too many
    assert inputs._unshared_shuffle(shuffled) is shuffled

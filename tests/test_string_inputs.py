"""Raw-string inputs (Keras' structured-data and text patterns) are checked end to end.

Keras takes strings as ``tf.string`` tensors or through ``tf.data`` (its array adapters
reject NumPy string arrays), so the fits here use both; the checks must see the rows
exactly as the model does: no cast of a string, the evaluation set predicted and checked.
"""

from __future__ import annotations

import numpy as np

from mlflow_sanity.core.findings import Severity
from mlflow_sanity.tracking.reports import read_report

COLORS = np.array(["red", "green", "blue", "amber"])
WORDS = {
    1: ["great", "superb", "lovely", "fine", "good"],
    0: ["awful", "poor", "bad", "dull", "weak"],
}
FILLER = ["the", "a", "film", "plot", "cast", "was", "very", "and", "it", "so"]
# what the model's own evaluation shows, per check of the evaluation set
EVAL_FINDINGS = {"metric_disagreement", "accuracy_at_baseline", "prediction_collapse"}


def _report():
    import mlflow

    run = mlflow.last_active_run()
    return run, read_report(run.info.run_id)


def tabular(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A colour (strings) and two numbers; the label depends on both, with noise."""
    rng = np.random.default_rng(seed)
    color = COLORS[rng.integers(0, len(COLORS), n)]
    size = rng.normal(size=n).astype("float32")
    weight = rng.normal(size=n).astype("float32")
    logit = 2.5 * (color == "red") - 1.2 * (color == "blue") + 1.5 * size - 0.4
    y = (logit + rng.normal(scale=0.7, size=n) > 0).astype("int64")
    return {"color": color[:, None], "size": size[:, None], "weight": weight[:, None]}, y


def _structured_model(keras, colors):
    keras.utils.set_random_seed(0)
    lookup = keras.layers.StringLookup(output_mode="one_hot")
    lookup.adapt(colors)
    inputs = {
        "color": keras.Input((1,), dtype="string", name="color"),
        "size": keras.Input((1,), name="size"),
        "weight": keras.Input((1,), name="weight"),
    }
    h = keras.layers.concatenate([lookup(inputs["color"]), inputs["size"], inputs["weight"]])
    h = keras.layers.Dense(16, activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    return model


def _dataset(x, y, batch=32):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _assert_checked_and_clean(report):
    assert report.coverage == "full", report.not_checked
    assert report.status == "pass", [(f.id, f.message) for f in report.flagged]


def test_a_tf_data_of_dicts_of_strings_is_checked(keras, sanity_on):
    """Keras' structured-data pattern: StringLookup + numbers, fed by tf.data."""
    x, y = tabular(900, seed=1)
    train = {k: v[:500] for k, v in x.items()}
    val = {k: v[500:700] for k, v in x.items()}
    test = {k: v[700:] for k, v in x.items()}
    model = _structured_model(keras, x["color"][:500])
    model.fit(
        _dataset(train, y[:500]),
        validation_data=_dataset(val, y[500:700]),
        epochs=12,
        verbose=0,
    )
    run, report = _report()
    _assert_checked_and_clean(report)
    assert report.provenance.evaluated_on == "validation data"
    assert report.get("train_test_overlap").severity is Severity.PASSED
    probes = report.inputs["probes"]  # probed on the string rows read after fit
    assert probes["gradients"] and probes["dead_units"] is not None and not probes["errors"]
    assert probes["probe_rows_from"] == "training rows read after fit"
    scaling = report.get("preprocessing_leakage").evidence["data"]
    assert scaling["columns_not_numeric"] == ["color[0]"] and scaling["columns_checked"] == 2
    model.evaluate(_dataset(test, y[700:]), verbose=0)
    run, report = _report()
    _assert_checked_and_clean(report)
    call = report.inputs["evaluate_calls"][-1]
    assert call["status"] == "pass"
    evaluated = {f.id for f in report.findings if f.source == "model.evaluate #1"}
    assert evaluated >= EVAL_FINDINGS, evaluated  # the evaluation set itself was checked
    assert run.data.tags["sanity.coverage"] == "full"


def test_evaluating_string_rows_seen_in_training_is_flagged(keras, sanity_on):
    """Exact duplicates are found on strings too: evaluate on the training rows."""
    import tensorflow as tf

    x, y = tabular(600, seed=2)
    train = {k: tf.constant(v[:400]) for k, v in x.items()}  # eager string tensors
    model = _structured_model(keras, x["color"][:400])
    model.fit(
        train,
        y[:400],
        validation_data=({k: tf.constant(v[400:]) for k, v in x.items()}, y[400:]),
        epochs=3,
        verbose=0,
    )
    model.evaluate(_dataset({k: v[:400] for k, v in x.items()}, y[:400]), verbose=0)
    _, report = _report()
    found = report.get("eval_is_train")
    assert found is not None and found.severity is Severity.FAIL
    assert found.source == "model.evaluate #1"


def reviews(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Short reviews: sentiment words among filler, one in eight words of the other side."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = []
    for label in y:
        words = list(rng.choice(FILLER, 6))
        for _ in range(3):
            side = label if rng.random() > 0.125 else 1 - label
            words.insert(int(rng.integers(0, len(words))), str(rng.choice(WORDS[side])))
        texts.append(" ".join(words))
    return np.array(texts), y.astype("int64")


def _text_model(keras, texts):
    keras.utils.set_random_seed(0)
    vectorize = keras.layers.TextVectorization(max_tokens=50, output_mode="multi_hot")
    vectorize.adapt(texts)
    model = keras.Sequential(
        [
            keras.Input((1,), dtype="string"),
            vectorize,
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    return model


def test_an_end_to_end_text_model_is_checked(keras, sanity_on):
    """Raw strings through TextVectorization inside the model, as tensors and tf.data."""
    import tensorflow as tf

    texts, y = reviews(900, seed=3)
    model = _text_model(keras, texts[:500])
    model.fit(
        tf.constant(texts[:500, None]),
        y[:500],
        validation_data=(tf.constant(texts[500:700, None]), y[500:700]),
        epochs=8,
        verbose=0,
    )
    _, report = _report()
    _assert_checked_and_clean(report)
    probes = report.inputs["probes"]  # string tensors are arrays: probed during fit
    assert probes["gradients"] and probes["dead_units"] is not None and not probes["errors"]
    assert probes["probe_rows_from"] == "the arrays given to fit"
    model.evaluate(_dataset(texts[700:, None], y[700:]), verbose=0)
    _, report = _report()
    _assert_checked_and_clean(report)
    evaluated = {f.id for f in report.findings if f.source == "model.evaluate #1"}
    assert evaluated >= EVAL_FINDINGS, evaluated
    model.evaluate(tf.constant(texts[:500, None]), y[:500], verbose=0)  # the training rows
    _, report = _report()
    assert report.get("eval_is_train").severity is Severity.FAIL


def test_the_forward_pass_takes_strings_directly_and_through_predict(keras):
    """NumPy string arrays (str, bytes, object) reach the model as they are; a model with
    its own ``predict_step`` goes through ``model.predict``, given string tensors."""
    from mlflow_sanity.adapters.keras.predict import predict_outputs

    x, _ = tabular(120, seed=5)
    model = _structured_model(keras, x["color"])
    expected = np.asarray(model({**x, "color": x["color"].astype(object)}))
    for form in (str, bytes, object):
        given = {**x, "color": x["color"].astype(form)}
        np.testing.assert_allclose(predict_outputs(model, given, 32), expected, atol=1e-6)

    class OwnStep(keras.Model):
        def predict_step(self, data):
            return super().predict_step(data)

    keras.utils.set_random_seed(0)
    inner = _structured_model(keras, x["color"])
    wrapped = OwnStep(inner.inputs, inner.outputs)
    out = predict_outputs(wrapped, {**x, "color": x["color"].astype(object)}, 32)
    np.testing.assert_allclose(
        out, np.asarray(inner({**x, "color": x["color"].astype(object)})), atol=1e-6
    )

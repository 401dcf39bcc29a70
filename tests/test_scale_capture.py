"""One forward pass where Keras already made one: a checked ``model.evaluate`` keeps the
outputs of Keras' own pass, and nothing the user's code sees changes."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_sanity.tracking.reports import read_report


class _Logs:
    """A callback that writes down every batch's logs and the final ones."""

    def __new__(cls, keras):
        class Logs(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.batches: list[dict[str, float]] = []
                self.end: dict[str, float] = {}

            def on_test_batch_end(self, batch, logs=None):
                self.batches.append({k: float(v) for k, v in (logs or {}).items()})

            def on_test_end(self, logs=None):
                self.end = {k: float(v) for k, v in (logs or {}).items()}

        return Logs()


def _fitted(keras, rng, jit_compile="auto"):
    keras.utils.set_random_seed(0)
    x = rng.normal(size=(400, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(int)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    model.fit(x[:300], y[:300], epochs=2, verbose=0)
    return model, x[300:], y[300:]


@pytest.mark.parametrize("jit_compile", ["auto", True])
def test_evaluate_keeps_keras_outputs_and_changes_nothing_seen(
    keras, sanity_on, monkeypatch, jit_compile
):
    import mlflow_sanity
    from mlflow_sanity.adapters.keras import heads

    model, x, y = _fitted(keras, np.random.default_rng(0), jit_compile)
    mlflow_sanity.autolog(disable=True)
    bare_cb = _Logs(keras)
    bare = model.evaluate(x, y, batch_size=32, verbose=0, callbacks=[bare_cb])
    keras_function = model.test_function
    mlflow_sanity.autolog(silent=True)

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the checks predicted the evaluated rows again")

    monkeypatch.setattr(heads, "predict_outputs", no_second_pass)
    checked_cb = _Logs(keras)
    checked = model.evaluate(x, y, batch_size=32, verbose=0, callbacks=[checked_cb])
    assert checked == bare  # the returned numbers, bit for bit
    assert checked_cb.batches == bare_cb.batches and checked_cb.end == bare_cb.end
    assert model.test_function is keras_function  # Keras' cached function is back
    assert "compute_metrics" not in vars(model)
    import mlflow

    report = read_report(mlflow.last_active_run().info.run_id)
    from sklearn.metrics import roc_auc_score

    assert report.metrics["n_rows"] == len(x)  # the evaluate's report, on Keras' outputs
    scores = model.predict(x, verbose=0)[:, 0]
    assert report.metrics["accuracy"] == pytest.approx(float(((scores > 0.5) == y).mean()))
    assert report.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-6)


def test_a_call_cut_short_predicts_again(keras, sanity_on):
    """``steps=`` (or a callback stopping) leaves rows without Keras' outputs: the checks
    then make their own pass, on every row."""
    import mlflow

    from mlflow_sanity.adapters.keras import predict

    model, x, y = _fitted(keras, np.random.default_rng(1))
    assert predict.capturable(model, x, None) and not predict.capturable(model, x, 2)
    with predict.evaluate_outputs(model, x) as captured:
        model.evaluate(x, y, batch_size=32, steps=2, verbose=0)
    assert captured is not None and captured.outputs(len(x)) is None
    model.evaluate(x, y, batch_size=32, verbose=0)
    report = read_report(mlflow.last_active_run().info.run_id)
    assert report.get("small_eval_set") is not None or report.findings


def test_the_cached_function_does_not_keep_a_model_alive(keras, sanity_on) -> None:
    """Our test function refers to its model: cached beside the model, both are freed
    together (a cache outside the model would keep every evaluated model alive)."""
    import gc
    import weakref

    model, x, y = _fitted(keras, np.random.default_rng(2))
    model.evaluate(x, y, batch_size=64, verbose=0)
    assert "_mlflow_sanity_capturing" in vars(model)
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None

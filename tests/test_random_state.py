"""Turning mlflow-sanity on must not change the user's next model.

MLflow draws a new run's name from Python's ``random`` and Keras draws the seed of every
initializer built without one from it too, so one unguarded run creation shifts the
initial weights of the next model the user builds. These tests compare everything the
user could draw next after a fit + evaluate, with and without the tool.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from keras_data import blobs


def _next_draws(keras) -> tuple[float, ...]:
    """What the user's program would draw next: Python, NumPy, Keras' global seed
    generator, and the initial weights of a freshly built (unseeded) model."""
    nxt = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(3)])
    kernel_sum = float(sum(np.sum(w) for w in nxt.get_weights()))
    return (
        random.random(),
        float(np.random.rand()),
        float(keras.random.uniform((1,))[0]),
        kernel_sum,
    )


def _session(keras, *, tool: bool, mlflow_autolog: bool) -> tuple[float, ...]:
    import mlflow

    import mlflow_sanity

    x, y = blobs(n=240)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    if mlflow_autolog:
        mlflow.keras.autolog(log_models=False, log_datasets=False, silent=True)
    if tool:
        mlflow_sanity.autolog(silent=True)
    try:
        model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
        model.evaluate(x[:60], y[:60], verbose=0)
        return _next_draws(keras)
    finally:
        if tool:
            mlflow_sanity.autolog(disable=True)
        if mlflow_autolog:
            mlflow.keras.autolog(disable=True)
        while mlflow.active_run() is not None:
            mlflow.end_run()


@pytest.mark.parametrize("mlflow_autolog", [False, True], ids=["alone", "with-mlflow-autolog"])
def test_the_tool_leaves_the_users_random_state_as_it_found_it(
    keras, mlflow_experiment, mlflow_autolog
):
    without = _session(keras, tool=False, mlflow_autolog=mlflow_autolog)
    with_tool = _session(keras, tool=True, mlflow_autolog=mlflow_autolog)
    assert with_tool == without


def test_the_guard_restores_every_source_it_knows(keras):
    """The guard itself: draws inside it leave no trace outside it."""
    from mlflow_sanity.adapters.rng import preserved_random_state

    keras.utils.set_random_seed(3)
    expected = _next_draws(keras)
    keras.utils.set_random_seed(3)
    with preserved_random_state():
        random.random()
        np.random.rand(5)
        keras.random.uniform((4,))
        keras.layers.Dense(4).build((None, 2))
    assert _next_draws(keras) == expected

"""A tiny Keras training for the determinism test (module level: worker processes import it)."""

from __future__ import annotations

import keras
import numpy as np

_RNG = np.random.default_rng(0)  # the data are fixed; only training depends on the seed
X = _RNG.normal(size=(256, 8)).astype("float32")
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype("int32")


def train_small(seed: int) -> dict:
    """Dropout, shuffling and random init: every one of them must follow the seed."""
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(X[:192], Y[:192], epochs=3, batch_size=32, shuffle=True, verbose=0)
    loss, accuracy = model.evaluate(X[192:], Y[192:], verbose=0)
    return {"accuracy": accuracy, "loss": loss}


_XR = _RNG.normal(size=(240, 5)).astype("float32")
_YR = _XR @ np.array([1.0, -2.0, 0.5, 0.0, 1.5], dtype="float32") + _RNG.normal(size=240)


def regressor_seed(seed: int) -> tuple:
    """A small Keras regressor (MSE on a linear output), returned as (model, x, y)."""
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    model.fit(_XR[:160], _YR[:160], epochs=8, batch_size=32, verbose=0)
    return model, _XR[160:], _YR[160:]

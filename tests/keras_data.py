"""Tiny, learnable data and models shared by the real-fit Keras tests."""

from __future__ import annotations

import numpy as np


def blobs(n: int = 360, k: int = 3, d: int = 6, spread: float = 1.6, seed: int = 0):
    """Gaussian classes with some overlap: learnable, not perfectly separable."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 2.0
    y = rng.permutation(np.arange(n) % k)
    x = (centers[y] + rng.normal(size=(n, d)) * spread).astype("float32")
    return x, y


def mlp(keras, units: int, activation: str | None, hidden: str = "relu", d: int = 6, width=16):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(width, activation=hidden),
            keras.layers.Dense(units, activation=activation),
        ]
    )

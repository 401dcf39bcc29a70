"""Training functions for the seed-runner tests: scikit-learn only, fast, module level.

Module level so that worker processes can unpickle them (``executor="local"``); no Keras
import here, so workers running them never load TensorFlow.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

# One fixed data set (70/30 classes): seeds change only the training, not the data.
_X, _Y = make_classification(
    n_samples=300, n_features=10, n_informative=5, weights=[0.7], random_state=0
)
X_TRAIN, X_TEST, Y_TRAIN, Y_TEST = train_test_split(
    _X, _Y, test_size=0.4, random_state=0, stratify=_Y
)


def _sgd(seed: int, x: np.ndarray, y: np.ndarray) -> SGDClassifier:
    return SGDClassifier(loss="log_loss", random_state=seed, max_iter=50, tol=None, alpha=1e-3).fit(
        x, y
    )


def stable(seed: int) -> tuple:
    """A well-posed linear model: seeds move accuracy by about 0.01."""
    return _sgd(seed, X_TRAIN, Y_TRAIN), X_TEST, Y_TEST


def unstable(seed: int) -> tuple:
    """40 training rows and a learning rate of 3: seeds decide how good the model is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(
            hidden_layer_sizes=(16,),
            solver="sgd",
            learning_rate_init=3.0,
            max_iter=20,
            random_state=seed,
        ).fit(X_TRAIN[:40], Y_TRAIN[:40])
    return model, X_TEST, Y_TEST


def metrics_dict(seed: int) -> dict:
    """A plain dict of metrics with a little seed noise (and a key that is not a number)."""
    rng = np.random.default_rng(seed)
    return {
        "accuracy": float(0.9 + 0.01 * rng.standard_normal()),
        "loss": float(0.3 + 0.02 * rng.standard_normal()),
        "note": "not a number",
    }


def fails_on_two(seed: int) -> dict:
    if seed == 2:
        raise ValueError("boom on seed 2")
    return metrics_dict(seed)


def dies_on_one(seed: int) -> dict:
    """Seed 1 kills its worker process outright, as a segfault or the OOM killer would."""
    if seed == 1:
        os._exit(3)
    time.sleep(0.2)
    return metrics_dict(seed)


def seeded_shuffle(seed: int) -> dict:
    """Order of the training rows drawn from the seed: the same seed reproduces exactly."""
    order = np.random.permutation(len(Y_TRAIN))  # the global RNG the runner seeded
    model = SGDClassifier(
        loss="log_loss", random_state=seed, max_iter=5, tol=None, shuffle=False
    ).fit(X_TRAIN[order], Y_TRAIN[order])
    return {
        "accuracy": model.score(X_TEST, Y_TEST),
        "coef_norm": float(np.linalg.norm(model.coef_)),
    }


def unseeded_shuffle(seed: int) -> dict:
    """The classic bug: a fresh, unseeded generator shuffles the data on every call."""
    order = np.random.default_rng().permutation(len(Y_TRAIN))
    model = SGDClassifier(
        loss="log_loss", random_state=seed, max_iter=5, tol=None, shuffle=False
    ).fit(X_TRAIN[order], Y_TRAIN[order])
    return {
        "accuracy": model.score(X_TEST, Y_TEST),
        "coef_norm": float(np.linalg.norm(model.coef_)),
    }


def sleeps(seed: int) -> dict:
    """Records its pid, then trains 'forever': for the Ctrl-C test."""
    marker = os.environ.get("SEED_PID_DIR")
    if marker:
        Path(marker, f"{seed}.pid").write_text(str(os.getpid()))
    time.sleep(120)
    return {"accuracy": 0.5}


def keras_small(seed: int) -> dict:
    """The Keras training, imported on first call: the test process never loads TensorFlow.

    Because Keras is imported lazily here, sweeps must pass ``keras=True`` to get it seeded.
    """
    from seed_keras_fns import train_small

    return train_small(seed)

"""Training functions for the seed-runner tests: fast, module level, no Keras at import.

Module level so that worker processes can unpickle them (``executor="local"``).
scikit-learn and the data are loaded on first use, so that workers running the
numpy-only functions start in a fraction of a second.
"""

from __future__ import annotations

import os
import time
import warnings
from functools import cache
from pathlib import Path

import numpy as np


@cache
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One fixed data set (70/30 classes): seeds change only the training, not the data."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(
        n_samples=300, n_features=10, n_informative=5, weights=[0.7], random_state=0
    )
    return tuple(train_test_split(x, y, test_size=0.4, random_state=0, stratify=y))


def stable(seed: int) -> tuple:
    """A well-posed linear model: seeds move accuracy by about 0.01."""
    from sklearn.linear_model import SGDClassifier

    x_train, x_test, y_train, y_test = data()
    model = SGDClassifier(loss="log_loss", random_state=seed, max_iter=50, tol=None, alpha=1e-3)
    return model.fit(x_train, y_train), x_test, y_test


def unstable(seed: int) -> tuple:
    """40 training rows and a learning rate of 3: seeds decide how good the model is."""
    from sklearn.neural_network import MLPClassifier

    x_train, x_test, y_train, y_test = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(
            hidden_layer_sizes=(16,),
            solver="sgd",
            learning_rate_init=3.0,
            max_iter=20,
            random_state=seed,
        ).fit(x_train[:40], y_train[:40])
    return model, x_test, y_test


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


def _shuffled_sgd(seed: int, order: np.ndarray) -> dict:
    from sklearn.linear_model import SGDClassifier

    x_train, x_test, y_train, y_test = data()
    model = SGDClassifier(loss="log_loss", random_state=seed, max_iter=5, tol=None, shuffle=False)
    model.fit(x_train[order], y_train[order])
    return {
        "accuracy": model.score(x_test, y_test),
        "coef_norm": float(np.linalg.norm(model.coef_)),
    }


def seeded_shuffle(seed: int) -> dict:
    """Order of the training rows drawn from the seeded global RNG: reproducible."""
    return _shuffled_sgd(seed, np.random.permutation(len(data()[2])))


def unseeded_shuffle(seed: int) -> dict:
    """The classic bug: a fresh, unseeded generator shuffles the data on every call."""
    return _shuffled_sgd(seed, np.random.default_rng().permutation(len(data()[2])))


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

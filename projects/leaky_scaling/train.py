"""A test score inflated by the test set leaking into training.

buggy: the rare class is oversampled (rows duplicated) and a StandardScaler is fitted on
       all rows, both before ``train_test_split``: copies land on both sides, and the
       scaler has seen the test rows.
fixed: split first; oversample and fit the scaler on the training part only.
"""

import argparse

import keras
import mlflow
import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
variant = parser.parse_args().variant

x, y = make_classification(
    1500, 12, n_informative=8, weights=[0.85], class_sep=1.5, flip_y=0.01, random_state=7
)
rng = np.random.default_rng(0)


def oversample(x, y):
    """Duplicate minority rows until the classes are balanced."""
    rare = np.flatnonzero(y == 1)
    extra = rng.choice(rare, (y == 0).sum() - rare.size)
    return np.vstack([x, x[extra]]), np.concatenate([y, y[extra]])


if variant == "buggy":
    x, y = oversample(x, y)
    x = StandardScaler().fit_transform(x)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0)
else:
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    x_tr, y_tr = oversample(x_tr, y_tr)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)

columns = [f"f{i}" for i in range(x.shape[1])]
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(32, "relu"),
                          keras.layers.Dense(1, "sigmoid")])  # fmt: skip
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
model.fit(x_tr, y_tr, epochs=15, verbose=0)

with mlflow.start_run():
    p = model.predict(x_te, verbose=0)[:, 0]
    test = pd.DataFrame(x_te, columns=columns).assign(label=y_te, pred=(p > 0.5).astype(int), p=p)
    mlflow.models.evaluate(
        data=test, targets="label", predictions="pred", model_type="classifier",
        evaluators="sanity",
        evaluator_config={
            "probability_columns": "p",
            "train_data": pd.DataFrame(x_tr, columns=columns).assign(label=y_tr),
        },
    )  # fmt: skip

"""Validation accuracy 1.0 while the model only ever sees class 0 in validation.

buggy: the rows are sorted by label and ``validation_split=0.2`` takes the *last* 20%
       before shuffling, so validation holds a single class.
fixed: a stratified hold-out passed as ``validation_data``, and class weights.
"""

import argparse

import keras
import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
variant = parser.parse_args().variant

x, digit = load_digits(return_X_y=True)
x, y = (x / 16).astype("float32"), (digit == 9).astype(int)  # 10% nines
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((64,)), keras.layers.Dense(32, "relu"), keras.layers.Dense(1, "sigmoid")]
)
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    if variant == "buggy":
        order = np.argsort(-y, kind="stable")  # nines first: "sorted for convenience"
        model.fit(x[order], y[order], validation_split=0.2, epochs=10, verbose=0)
    else:
        x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
        model.fit(
            x_tr, y_tr, validation_data=(x_val, y_val), epochs=10, verbose=0,
            class_weight={0: 1.0, 1: float((y_tr == 0).sum() / (y_tr == 1).sum())},
        )  # fmt: skip

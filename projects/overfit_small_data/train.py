"""100% training accuracy on 80 rows says nothing about new data.

buggy: a wide network, 100 epochs, no regularisation, validated on 20 rows.
fixed: dropout + L2 + EarlyStopping, validated on 200 held-out rows.
"""

import argparse

import keras
import mlflow
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
variant = parser.parse_args().variant

# Noisy data (20 features, 4 informative, 15% flipped labels): easy to memorise, hard to learn.
x, y = make_classification(300, 20, n_informative=4, flip_y=0.15, random_state=1)
x_small, x_rest, y_small, y_rest = train_test_split(
    x, y, train_size=100, stratify=y, random_state=1
)
keras.utils.set_random_seed(0)
mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    if variant == "buggy":
        scaler = StandardScaler().fit(x_small[:80])
        model = keras.Sequential(
            [keras.Input((20,)), keras.layers.Dense(256, "relu"), keras.layers.Dense(256, "relu"),
             keras.layers.Dense(1, "sigmoid")]
        )  # fmt: skip
        model.compile(keras.optimizers.Adam(0.003), "binary_crossentropy", metrics=["accuracy"])
        model.fit(scaler.transform(x_small), y_small, validation_split=0.2, epochs=100, verbose=0)
    else:
        x_val, y_val = x_rest[:200], y_rest[:200]
        scaler = StandardScaler().fit(x_small)
        l2 = keras.regularizers.l2(1e-3)
        model = keras.Sequential(
            [keras.Input((20,)), keras.layers.Dense(16, "relu", kernel_regularizer=l2),
             keras.layers.Dropout(0.3), keras.layers.Dense(1, "sigmoid")]
        )  # fmt: skip
        model.compile(keras.optimizers.Adam(0.003), "binary_crossentropy", metrics=["accuracy"])
        stop = keras.callbacks.EarlyStopping("val_loss", patience=5, restore_best_weights=True)
        model.fit(
            scaler.transform(x_small), y_small, epochs=100, verbose=0, callbacks=[stop],
            validation_data=(scaler.transform(x_val), y_val),
        )  # fmt: skip

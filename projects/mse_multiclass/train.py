"""Ten digit classes trained with mean squared error and a softmax squeezed into a hidden layer.

buggy: softmax hidden layer + MSE loss on one-hot labels: it trains, slowly and badly.
fixed: ReLU hidden layer + categorical cross-entropy.
"""

import argparse

import keras
import mlflow
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
variant = parser.parse_args().variant

x, y = load_digits(return_X_y=True)
x_tr, x_val, y_tr, y_val = train_test_split(x / 16, y, test_size=0.3, stratify=y, random_state=0)
onehot = keras.utils.to_categorical
hidden, loss = ("softmax", "mse") if variant == "buggy" else ("relu", "categorical_crossentropy")
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((64,)), keras.layers.Dense(32, hidden), keras.layers.Dense(10, "softmax")]
)
model.compile(keras.optimizers.Adam(0.01), loss, metrics=["accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    model.fit(
        x_tr, onehot(y_tr, 10), validation_data=(x_val, onehot(y_val, 10)), epochs=15, verbose=0
    )

"""Six tags at 4% positives each, and a multi-label model that predicts none of them.

buggy: plain binary cross-entropy on a ``Dense(6, sigmoid)`` head. The cheapest way down
       the loss is to predict "no" for every tag: after 15 epochs the model (almost)
       never predicts one, and Keras prints ``val_binary_accuracy: 0.96``, the share of
       the "no" cells.
fixed: the same model with class-balanced binary cross-entropy
       (``BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.8, gamma=0)``: a
       positive weighs four times a negative, per tag), the multi-label form of class
       weights. The report's per-label table also advises a threshold per tag.
"""

import argparse

import keras
import mlflow
import numpy as np

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

rng = np.random.default_rng(0)
n, d, k = 3000, 12, 6
x = rng.normal(size=(n, d)).astype("float32")
score = x @ rng.normal(size=(d, k)) / np.sqrt(d) + 0.3 * rng.normal(size=(n, k))
y = (score > np.quantile(score, 0.96, axis=0)).astype("float32")  # 4% positives per tag
x_tr, y_tr, x_val, y_val = x[:2000], y[:2000], x[2000:], y[2000:]

keras.utils.set_random_seed(args.seed)
model = keras.Sequential(
    [keras.Input((d,)), keras.layers.Dense(32, "relu"), keras.layers.Dense(k, "sigmoid")]
)
if args.variant == "buggy":
    loss = keras.losses.BinaryCrossentropy()
else:
    loss = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.8, gamma=0.0)
model.compile(keras.optimizers.Adam(1e-3), loss, metrics=["binary_accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    history = model.fit(
        x_tr, y_tr, validation_data=(x_val, y_val), epochs=15, batch_size=64, verbose=0
    )
    print(f"val_binary_accuracy: {history.history['val_binary_accuracy'][-1]:.3f}")

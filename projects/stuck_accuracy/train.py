"""Accuracy stuck at the share of one class, and why.

buggy: raw pixel values (0-255 scale) go straight into a ReLU MLP trained with SGD at
       learning rate 1.0: the first steps blow the weights up, the units die and the model
       predicts one class for the rest of training.
fixed: a ``Rescaling(1/255)`` layer at the input and Adam at its default learning rate.
"""

import argparse

import keras
import mlflow
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x, y = load_digits(return_X_y=True)  # 8x8 images, pixel values 0-16
x = x * 16.0  # as photographs come: 0-255
x_tr, x_val, y_tr, y_val = train_test_split(
    x, y, test_size=0.25, stratify=y, random_state=args.seed
)

keras.utils.set_random_seed(args.seed)
layers = [keras.Input((64,))]
if args.variant == "fixed":
    layers.append(keras.layers.Rescaling(1 / 255))
layers += [keras.layers.Dense(64, "relu"), keras.layers.Dense(10, "softmax")]
model = keras.Sequential(layers)
optimizer = keras.optimizers.SGD(1.0) if args.variant == "buggy" else keras.optimizers.Adam()
model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    history = model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=15, verbose=0)
    print(f"val_accuracy: {history.history['val_accuracy'][-1]:.3f}")

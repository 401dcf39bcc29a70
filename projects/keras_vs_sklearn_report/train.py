"""Keras says one accuracy, scikit-learn's classification report says another.

buggy: a linear (logit) output with ``from_logits=True`` and ``metrics=["accuracy"]``:
       Keras compares raw logits with 0.5, so its accuracy is not the model's accuracy.
fixed: ``BinaryAccuracy(threshold=0.0)`` for logits (or a sigmoid output).
"""

import argparse

import keras
import mlflow
from sklearn.datasets import make_classification
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
variant = parser.parse_args().variant

x, y = make_classification(2000, 10, n_informative=5, flip_y=0.05, random_state=3)
x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
metric = "accuracy" if variant == "buggy" else keras.metrics.BinaryAccuracy(threshold=0.0)
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((10,)), keras.layers.Dense(16, "relu"), keras.layers.Dense(1)]
)
model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True), metrics=[metric])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    history = model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=10, verbose=0)
    predicted = (model.predict(x_val, verbose=0)[:, 0] > 0).astype(int)
    keras_name = next(k for k in history.history if k.startswith("val_") and "acc" in k)
    print(f"Keras {keras_name}: {history.history[keras_name][-1]:.3f}")
    print(classification_report(y_val, predicted, digits=3))

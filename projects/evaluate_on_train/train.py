"""An accuracy measured on the rows the model was fitted on.

buggy: the scaler and the model are fitted on every row, and ``model.evaluate`` is called
       on those same rows: the printed accuracy is memory, not generalisation.
fixed: a stratified held-out test set, the scaler fitted on the training part only, and
       ``model.evaluate`` on the test rows.
"""

import argparse

import keras
import mlflow
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x, y = load_digits(return_X_y=True)  # 1797 8x8 images of the digits 0-9
if args.variant == "buggy":
    x_tr = x_te = StandardScaler().fit_transform(x)
    y_tr = y_te = y
else:
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=args.seed
    )
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)

keras.utils.set_random_seed(args.seed)
model = keras.Sequential(
    [keras.Input((64,)), keras.layers.Dense(64, "relu"), keras.layers.Dense(10, "softmax")]
)
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    model.fit(x_tr, y_tr, epochs=20, verbose=0)
    _, accuracy = model.evaluate(x_te, y_te, verbose=0)
    print(f"test accuracy: {accuracy:.3f}")

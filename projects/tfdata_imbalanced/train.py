"""A tf.data test set that is 95% one class, and a model that only ever says that class.

buggy: an L2 penalty of 0.3 (copied from a tiny dataset) and no class weights: the model
       collapses onto the majority class, and ``model.evaluate(test_ds)`` prints an
       accuracy of about 0.95, the share of that class.
fixed: a sane L2 penalty (1e-4), balanced class weights and stratified splits, still fed
       through tf.data.
"""

import argparse

import keras
import mlflow
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

# 8000 rows, 5% positives: 20 features, the positives shifted in 10 of them (no single
# feature gives them away; together they are easy to find).
rng = np.random.default_rng(7)
y = (rng.random(8000) < 0.05).astype("int64")
shift = np.r_[np.full(10, 4 / np.sqrt(10)), np.zeros(10)]
x = (rng.normal(size=(8000, 20)) + y[:, None] * shift).astype("float32")

stratify = y if args.variant == "fixed" else None
x_rest, x_te, y_rest, y_te = train_test_split(
    x, y, test_size=0.25, stratify=stratify, random_state=args.seed
)
stratify = y_rest if args.variant == "fixed" else None
x_tr, x_val, y_tr, y_val = train_test_split(
    x_rest, y_rest, test_size=0.2, stratify=stratify, random_state=args.seed
)


def dataset(x, y, shuffle=False):
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=args.seed)
    return ds.batch(64).prefetch(tf.data.AUTOTUNE)


train_ds, val_ds, test_ds = dataset(x_tr, y_tr, True), dataset(x_val, y_val), dataset(x_te, y_te)

keras.utils.set_random_seed(args.seed)
l2 = keras.regularizers.l2(0.3 if args.variant == "buggy" else 1e-4)
model = keras.Sequential(
    [keras.Input((20,)), keras.layers.Dense(32, "relu", kernel_regularizer=l2),
     keras.layers.Dense(1, "sigmoid", kernel_regularizer=l2)]
)  # fmt: skip
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
class_weight = None
if args.variant == "fixed":  # "balanced": each class weighs as much as the other in total
    counts = np.bincount(y_tr)
    class_weight = {c: float(len(y_tr) / (2 * n)) for c, n in enumerate(counts)}

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    model.fit(train_ds, validation_data=val_ds, epochs=15, class_weight=class_weight, verbose=0)
    _, accuracy = model.evaluate(test_ds, verbose=0)
    print(f"test accuracy: {accuracy:.3f}")

"""A regressor whose MAE looks fine although it predicts the mean.

buggy: diabetes progression (targets 25-346) with raw targets; the learning rate was raised
       for the large targets and an L2 penalty of 1000 (a Ridge-sized alpha) added against
       overfitting on 331 rows. The penalty wins: every weight shrinks to 0 and the output
       is its bias, the training mean. Keras prints val_mae ~58 on targets in the hundreds.
fixed: the targets standardised on the training rows (and mapped back for the printed MAE),
       Adam at its default rate, no L2, EarlyStopping on val_loss restoring the best weights.
"""

import argparse

import keras
import mlflow
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x, y = load_diabetes(return_X_y=True, scaled=False)
x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=0.25, random_state=args.seed)
mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)  # features standardised on the training rows
x_tr, x_val = (x_tr - mean) / std, (x_val - mean) / std

buggy = args.variant == "buggy"
y_mu, y_sd = (0.0, 1.0) if buggy else (y_tr.mean(), y_tr.std())
keras.utils.set_random_seed(args.seed)
l2 = keras.regularizers.l2(1000.0) if buggy else None
model = keras.Sequential(
    [
        keras.Input((10,)),
        keras.layers.Dense(32, "relu", kernel_regularizer=l2),
        keras.layers.Dense(1, kernel_regularizer=l2),
    ]
)
model.compile(keras.optimizers.Adam(0.5 if buggy else 0.001), "mse", metrics=["mae"])
callbacks = [] if buggy else [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    history = model.fit(
        x_tr,
        (y_tr - y_mu) / y_sd,
        validation_data=(x_val, (y_val - y_mu) / y_sd),
        epochs=30 if buggy else 200,
        callbacks=callbacks,
        verbose=0,
    )
    pred = model.predict(x_val, verbose=0)[:, 0] * y_sd + y_mu
    print(f"val_mae: {np.mean(np.abs(pred - y_val)):.1f} (targets {y.min():.0f}-{y.max():.0f})")

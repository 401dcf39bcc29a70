"""A test set that holds copies of training rows, and the accuracy it really measures.

buggy: an export joined every customer record twice; the rows are split without removing
       the copies, so most test rows (about 70%) have their twin in the training rows and
       the printed accuracy mixes memory with generalisation.
fixed: the copies are dropped before the split (``drop_duplicates``), so the test rows
       are rows the model has never seen.
"""

import argparse

import keras
import mlflow
import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import mlflow_sanity

parser = argparse.ArgumentParser()
parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

# 1,500 customers, 12 features, labels with 10% noise: about 0.8 is what can be learned
x, y = make_classification(
    n_samples=1500, n_features=12, n_informative=6, flip_y=0.1, random_state=args.seed
)
records = pd.DataFrame(x, columns=[f"f{j}" for j in range(12)]).assign(churned=y)
export = pd.concat([records, records], ignore_index=True)  # the join doubled every row
if args.variant == "fixed":
    export = export.drop_duplicates()

train, test = train_test_split(
    export, test_size=0.3, stratify=export["churned"], random_state=args.seed
)
scaler = StandardScaler().fit(train.drop(columns="churned"))
x_tr = scaler.transform(train.drop(columns="churned")).astype(np.float32)
x_te = scaler.transform(test.drop(columns="churned")).astype(np.float32)
y_tr, y_te = train["churned"].to_numpy(), test["churned"].to_numpy()

keras.utils.set_random_seed(args.seed)
model = keras.Sequential(
    [
        keras.Input((12,)),
        keras.layers.Dense(128, "relu"),
        keras.layers.Dense(128, "relu"),
        keras.layers.Dense(1, "sigmoid"),
    ]
)
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])

mlflow.keras.autolog(log_models=False)
mlflow_sanity.autolog()
with mlflow.start_run():
    model.fit(x_tr, y_tr, epochs=60, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_te, y_te, verbose=0)
    print(f"test accuracy: {accuracy:.3f}")

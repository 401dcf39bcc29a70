"""A "better" model whose win over the old one is one lucky seed.

Both variants claim to beat the old model's accuracy of 0.85 and re-train with five
seeds to check. buggy: small data and a learning rate so high that the score swings by
seed, so the old score sits inside the seed interval. fixed: more data and a sane
learning rate: every seed clears the bar.
"""

import argparse

import mlflow
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from mlflow_sanity import seed_sweep

OLD_MODEL_ACCURACY = 0.85
SETUPS = {"buggy": {"rows": 300, "lr": 0.3}, "fixed": {"rows": 3000, "lr": 0.003}}


def train(seed: int, rows: int, lr: float):
    import keras

    x, y = make_classification(rows + 1000, 10, n_informative=6, flip_y=0.02, random_state=5)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=1000, random_state=seed)
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(32, "relu"), keras.layers.Dense(1, "sigmoid")]
    )
    model.compile(keras.optimizers.Adam(lr), "binary_crossentropy")
    model.fit(x_tr, y_tr, epochs=20, batch_size=32, verbose=0)
    return model, x_te, y_te


def train_buggy(seed: int):
    return train(seed, **SETUPS["buggy"])


def train_fixed(seed: int):
    return train(seed, **SETUPS["fixed"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=["buggy", "fixed"], default="buggy")
    variant = parser.parse_args().variant
    with mlflow.start_run() as run:
        summary = seed_sweep(
            train_buggy if variant == "buggy" else train_fixed,
            seeds=5,
            executor="local",
            max_workers=2,
            reference=OLD_MODEL_ACCURACY,
            metric="accuracy",
            parent_run_id=run.info.run_id,
        )

"""The demo task: "is this digit a 9?" on scikit-learn's bundled digits (10% positives).

An imbalanced task where a collapsed model still scores ~0.90 accuracy, which is
exactly the number people believe.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

TARGET = "label"


def load_split(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    x, digit = load_digits(return_X_y=True)
    frame = pd.DataFrame(x, columns=[f"px{i}" for i in range(x.shape[1])])
    frame[TARGET] = (digit == 9).astype(int)
    return train_test_split(frame, test_size=0.3, random_state=seed, stratify=frame[TARGET])


def train_and_evaluate(
    *, l2: float, epochs: int, seed: int, evaluators: list[str] | str = ("default", "sanity")
) -> str:
    """Train a small Keras MLP in the active run, log it, evaluate it; return the run id.

    ``mlflow_sanity.autolog()`` checks the fit and the evaluator checks the test set: both
    land on this run, and its tags describe the union; the test-set verdict also lands on
    the logged model.
    """
    import keras

    import mlflow_sanity

    mlflow_sanity.autolog()

    train, test = load_split(seed)
    x_train, y_train = train.drop(columns=TARGET).to_numpy("float32"), train[TARGET].to_numpy()
    x_test = test.drop(columns=TARGET).to_numpy("float32")
    keras.utils.set_random_seed(seed)
    reg = keras.regularizers.l2(l2)
    model = keras.Sequential(
        [
            keras.Input((x_train.shape[1],)),
            keras.layers.Rescaling(1 / 16),
            keras.layers.Dense(32, "relu", kernel_regularizer=reg),
            keras.layers.Dense(1, "sigmoid", kernel_regularizer=reg),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    mlflow.log_params({"l2": l2, "epochs": epochs, "seed": seed})
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0, validation_split=0.2)
    logged = mlflow.keras.log_model(model, name="model")

    p9 = model.predict(x_test, verbose=0)[:, 0]
    scored = test.assign(prediction=(p9 > 0.5).astype(int), p_nine=p9)
    mlflow.models.evaluate(
        data=scored,
        targets=TARGET,
        predictions="prediction",
        model_type="classifier",
        evaluators=list(evaluators) if not isinstance(evaluators, str) else evaluators,
        evaluator_config={"sanity": {"probability_columns": "p_nine"}},
        model_id=logged.model_id,  # the verdict lands on the LoggedModel too (Models tab)
    )
    accuracy = float(np.mean(scored["prediction"] == scored[TARGET]))
    mlflow.log_metric("test_accuracy", accuracy)
    return mlflow.active_run().info.run_id

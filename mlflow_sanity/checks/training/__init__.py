"""Checks on one training run: the learning curves, the logged metrics and the split.

They read the per-epoch Keras history, the ``ModelSpec``/``FitSpec`` descriptions and,
when the adapter could read the validation data, the model's outputs on it. Pure: the
recomputation uses scikit-learn and scipy on plain arrays.

- ``history``: ``overfitting``, ``loss_accuracy_divergence`` (the learning curves);
- ``metrics``: ``metric_disagreement`` (Keras' logged accuracy vs a recomputation);
- ``split``: ``label_shift`` (the train/validation split).
"""

from mlflow_sanity.checks.training import history, metrics, split  # noqa: F401  (registers)

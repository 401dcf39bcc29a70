"""Leakage checks: is the evaluation data really unseen by the model?

Inputs (all plain data, filled by the evaluator, autolog or the CLI):

- ``ctx.test``: a ``Split`` (features and, optionally, labels) of the evaluation data;
- ``ctx.train``: a ``Split`` of the raw training data, and/or ``ctx.fingerprint``: a
  ``fingerprint.Fingerprint`` of it logged by an earlier run (raw data wins when both);
- ``ctx.validation_fingerprint`` and ``ctx.model_selection`` (what EarlyStopping or a
  best-only ModelCheckpoint monitored) from the training run;
- ``ctx.normalization``: the mean/variance of a Keras ``Normalization`` layer at the
  model input.

Modules: ``overlap`` (evaluation rows found in a fingerprint, judged against chance),
``scaling`` (preprocessing statistics), ``univariate`` (one-feature scores) measure;
``checks`` holds the five checks that compare evaluation with training data, which grade
those measurements; ``duplicates`` measures and grades repeats inside the evaluation data.
"""

from mlflow_sanity.checks.leakage import checks, duplicates  # noqa: F401  (registers checks)
from mlflow_sanity.checks.leakage.overlap import (
    Overlap,
    chance_share,
    overlap,
    train_overlap,
    training_fingerprint,
)
from mlflow_sanity.checks.leakage.univariate import roc_auc_columns, univariate_scores

__all__ = [
    "Overlap",
    "chance_share",
    "overlap",
    "roc_auc_columns",
    "train_overlap",
    "training_fingerprint",
    "univariate_scores",
]

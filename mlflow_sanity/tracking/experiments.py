"""The experiment kind: ``mlflow.experimentKind`` (what the UI's own kind selector writes)
set to ``custom_model_development`` marks a model-training experiment, for the UIs and
tools that read it. MLflow 3.17's UI does not (its view follows a per-browser switch):
``report.links.ui_link`` builds the links that open it on the training runs.
"""

from __future__ import annotations

from mlflow_sanity.core import tag_names
from mlflow_sanity.tracking.runs import MlflowClient, client_or_default

KIND_TAG = tag_names.EXPERIMENT_KIND
MODEL_TRAINING = "custom_model_development"


def mark_model_training(experiment_id: str, client: MlflowClient | None = None) -> bool:
    """Make ``experiment_id`` a model-training experiment unless its kind is already set
    (a user's choice is kept); True when the tag was written."""
    client = client_or_default(client)
    if client.get_experiment(experiment_id).tags.get(KIND_TAG):
        return False
    client.set_experiment_tag(experiment_id, KIND_TAG, MODEL_TRAINING)
    return True

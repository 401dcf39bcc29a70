"""Where a Keras user looks in the MLflow 3 UI: the Model-training view of an experiment.

The 3.17 UI picks its view (GenAI or Model training) from the switch at the top of its
sidebar, remembered per browser and GenAI on a first visit, so an experiment opens on the
GenAI overview ("Detect issues in your traces") whatever it holds. A link carrying
``workflowType=machine_learning`` opens the Model-training view instead: ``ui_link`` builds
it, with the runs already filtered when asked. The ``mlflow.experimentKind`` tag (what the
UI's own kind selector writes) is still set to ``custom_model_development``, for the UIs and
tools that read it.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from mlflow_sanity.tracking.runs import MlflowClient, client_or_default

KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
UI_ADDRESS = "http://127.0.0.1:5000"  # where ``mlflow ui`` serves by default
FLAGGED_RUNS = "tags.`sanity.status` = 'fail'"


def mark_model_training(experiment_id: str, client: MlflowClient | None = None) -> bool:
    """Make ``experiment_id`` a model-training experiment unless its kind is already set
    (a user's choice is kept); True when the tag was written."""
    client = client_or_default(client)
    if client.get_experiment(experiment_id).tags.get(KIND_TAG):
        return False
    client.set_experiment_tag(experiment_id, KIND_TAG, MODEL_TRAINING)
    return True


def ui_link(
    experiment_id: str, page: str = "runs", search: str | None = None, address: str = UI_ADDRESS
) -> str:
    """A UI link to the experiment's ``page`` (``runs``, ``models``, ``models/<model id>``)
    in the Model-training view, with the runs search box pre-filled with ``search``."""
    query = {"workflowType": "machine_learning"}
    if search:
        query["searchFilter"] = search
    return f"{address.rstrip('/')}/#/experiments/{experiment_id}/{page}?" + urlencode(
        query, quote_via=quote
    )

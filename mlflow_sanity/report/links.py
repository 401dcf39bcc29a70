"""Links into the MLflow UI, printed where people read: the demo, the console summary.

MLflow 3.17's UI picks its view (GenAI or Model training) from the switch at the top of its
sidebar, remembered per browser and GenAI on a first visit, so an experiment opens on the
GenAI overview ("Detect issues in your traces") whatever it holds, and whatever its
``mlflow.experimentKind`` tag says. A link carrying ``workflowType=machine_learning``
opens the Model-training view instead.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from mlflow_sanity.core import tag_names

UI_ADDRESS = "http://127.0.0.1:5000"  # where ``mlflow ui`` serves by default
FLAGGED_RUNS = f"tags.`{tag_names.STATUS}` = 'fail'"


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


def served_by_tracking_server(tracking_uri: str) -> bool:
    """A tracking server serves its own UI; a local store needs ``mlflow ui``."""
    return tracking_uri.startswith(("http://", "https://"))


def ui_address(tracking_uri: str) -> str:
    """Where the UI for ``tracking_uri`` is: the server itself, else ``mlflow ui``'s default."""
    return tracking_uri.rstrip("/") if served_by_tracking_server(tracking_uri) else UI_ADDRESS


def run_link(run_id: str, tracking_uri: str) -> str:
    """Where to see a run: its page on the tracking server, or, for a local store, the
    ``mlflow ui`` command and the page it will serve (the UI finds the run's experiment)."""
    page = f"{ui_address(tracking_uri)}/#/runs/{run_id}"
    if served_by_tracking_server(tracking_uri):
        return page
    return f"mlflow ui --backend-store-uri {tracking_uri}, then {page}"

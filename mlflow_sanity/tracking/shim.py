"""The one place that touches MLflow names outside its public API.

Each entry says why it is needed and what happens when MLflow changes it, so an MLflow
upgrade that breaks one shows up here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import mlflow

# Set by MLflow's ``safe_patch`` on ``keras.Model`` while ``mlflow.keras.autolog()`` is on.
# The Keras adapter wraps ``fit`` one class below MLflow's patch and skips this mark.
MLFLOW_PATCH_MARK = "_gorilla_active_patch_fit"


def reapply_mlflow_keras_autolog(model_class: type) -> None:
    """Make MLflow's Keras patch call the current ``fit``.

    MLflow captures the method it patches over when ``mlflow.keras.autolog()`` runs; if
    that happened before ``mlflow_sanity.autolog()``, it would call the unwrapped ``fit``.
    Re-running MLflow's autolog with its stored configuration (what
    ``mlflow.models.evaluate`` does after an evaluation) makes it capture the wrapper.
    Without the private configuration store there is nothing to re-apply.
    """
    if MLFLOW_PATCH_MARK not in model_class.__dict__:
        return
    try:
        import mlflow.keras
        from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS
    except ImportError:
        return
    config = dict(AUTOLOGGING_INTEGRATIONS.get("keras") or {})
    if config and not config.get("disable", False):
        mlflow.keras.autolog(**config)


def default_experiment_id() -> str:
    """The experiment a new run would go to (``MLFLOW_EXPERIMENT_ID``/name, else default).

    ``MlflowClient.create_run`` needs an id; the fluent API's resolution of it is private.
    """
    active = mlflow.active_run()
    if active is not None:
        return active.info.experiment_id
    from mlflow.tracking.fluent import _get_experiment_id

    return _get_experiment_id()


def context_tags(tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """The source/user/git tags ``mlflow.start_run`` adds, for runs created by the client
    (the seed runner's parent and child runs); plain ``tags`` when MLflow moved them."""
    try:
        from mlflow.tracking.context.registry import resolve_tags
    except ImportError:
        return dict(tags or {})
    return resolve_tags(tags or {})


def artifact_root(artifact_uri: str, tracking_uri: str) -> str:
    """A run's artifact URI, readable by ``mlflow.artifacts`` directly (one call per file
    instead of resolving ``runs:/`` each time). On Databricks the URI must carry the
    tracking profile, which only a private helper adds; elsewhere it is the URI itself."""
    try:
        from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri
    except ImportError:
        return artifact_uri
    return add_databricks_profile_info_to_artifact_uri(artifact_uri, tracking_uri)


def log_run_metrics(client: Any, run_id: str, metrics: list[Any]) -> None:
    """Log ``metrics`` on the run only, never on the active model.

    ``MlflowClient.log_batch`` links every metric without a ``model_id`` to the active
    model (``mlflow.set_active_model``, or the one ``mlflow.models.evaluate(model_id=...)``
    left active for the rest of the process): a run's verdict would then become the latest
    verdict of a model it is not about. The client's store logs what it is given; where
    that private attribute is gone, the public call (and its linking) is used.
    """
    if mlflow.get_active_model_id() is None:
        client.log_batch(run_id, metrics=metrics)
        return
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None or not hasattr(store, "log_batch"):
        client.log_batch(run_id, metrics=metrics)
        return
    store.log_batch(run_id=run_id, metrics=metrics, params=[], tags=[])

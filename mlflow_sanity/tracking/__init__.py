"""Every MLflow call of mlflow-sanity: reports (tags, metrics, note, artifacts), run
lifecycle, experiment lookup, and the one shim around private MLflow names (``shim``)."""

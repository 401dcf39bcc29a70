"""Every MLflow call of mlflow-sanity.

``reports`` (a report's tags, metrics, note and artifacts; reading them back),
``runs`` (experiments, creating and ending runs, batched logging, project runs),
``seed_runs`` (the seed child runs of a sweep), ``queries`` (what the CLI reads) and
``shim``, the one place that touches MLflow names outside its public API.
"""

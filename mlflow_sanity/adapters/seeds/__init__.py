"""The multi-seed runner: ``sweep`` (the public ``seed_sweep``), ``executors`` (where seeds
run), ``progress`` (what the terminal shows), ``worker`` (what runs in a worker process,
importable without MLflow) and ``project`` (the ``multiseed`` MLproject entry point).
MLflow is reached only through ``mlflow_sanity.tracking``."""

"""The multi-seed runner: ``sweep`` (the public ``seed_sweep``), ``worker`` (what runs in a
worker process, importable without MLflow) and ``project`` (the ``multiseed`` MLproject)."""

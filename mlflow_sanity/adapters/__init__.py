"""Adapters: turn MLflow and Keras objects into core inputs and hand reports to ``tracking``."""

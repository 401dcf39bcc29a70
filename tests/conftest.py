"""Shared fixtures: one MLflow store per session, one TensorFlow import per session."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory):
    """A SQLite store shared by the session (creating one costs ~1 s of migrations)."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    yield uri
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture
def mlflow_experiment(tracking_uri):
    """A fresh experiment per test, so runs never leak between tests."""
    import mlflow

    exp_id = mlflow.set_experiment(f"test-{uuid.uuid4().hex[:10]}").experiment_id
    yield exp_id
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on TensorFlow, imported once; tests that use it are marked ``keras``."""
    keras = pytest.importorskip("keras")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return keras


def pytest_collection_modifyitems(items):
    for item in items:
        if "keras" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.keras)

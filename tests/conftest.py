"""Shared fixtures: one MLflow store per session, one TensorFlow import per session."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# Internal errors re-raise in the suite (users get one SanityWarning instead).
os.environ.setdefault("MLFLOW_SANITY_STRICT", "1")
# Cause experiments (default "auto": up to 10 s on every stuck fit) are tested where they
# are asked for (tests/test_proofs.py, the gallery); elsewhere the many deliberately stuck
# tiny fits would each pay for them, and their child runs would join the run counts.
os.environ.setdefault("MLFLOW_SANITY_PROVE_CAUSES", "false")


@pytest.fixture
def lenient(monkeypatch):
    """What users get: strict mode off, internal errors become one warning."""
    monkeypatch.delenv("MLFLOW_SANITY_STRICT", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _outside_the_checkout(tmp_path_factory):
    """Run the session in a temporary directory: MLflow's default ``./mlruns`` artifact
    root and ``sqlite:///mlflow.db`` resolve against the working directory, and tests
    must leave nothing in the checkout. Tests use absolute paths to project files."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("workdir"))
    yield
    os.chdir(here)


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


@pytest.fixture
def fast_plots(monkeypatch):
    """Skip matplotlib rendering (~0.3 s a plot on a busy machine) in finding-only tests."""
    from mlflow_sanity.report import plots

    for name in ("learning_curves_png", "confusion_matrix_png", "class_balance_png"):
        monkeypatch.setattr(plots, name, lambda *args, **kwargs: b"\x89PNG\r\n\x1a\n")


@pytest.fixture
def sanity_on(keras, mlflow_experiment, fast_plots):
    """``mlflow_sanity.autolog()`` for one test (strict mode: internal errors raise)."""
    import mlflow_sanity

    mlflow_sanity.autolog()
    yield mlflow_sanity
    mlflow_sanity.autolog(disable=True)


@pytest.fixture(scope="session")
def digits():
    """900 rows of scikit-learn's digits, scaled to [0, 1]: a quick real task."""
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    p = np.random.default_rng(0).permutation(len(d.target))[:900]
    return (d.data[p] / 16).astype("float32"), d.target[p]


@pytest.fixture
def fit_report(keras, monkeypatch):
    """Fit with the probe callback the autolog wrapper injects, analyse without MLflow;
    the analysis must leave the model's weights as the fit left them."""
    import numpy as np

    from mlflow_sanity.adapters.keras import analyse, patch
    from mlflow_sanity.adapters.keras.inputs import FitCall
    from mlflow_sanity.checks import CheckOptions
    from mlflow_sanity.report import plots

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")

    def run(model, x, y=None, **kwargs):
        kwargs.setdefault("verbose", 0)
        fit = type(model).fit
        call = FitCall.from_arguments(fit, model, (x, y), kwargs, CheckOptions())
        args, kw = patch._with_probe(fit, model, (x, y), dict(kwargs), call)
        assert call.probe is not None
        history = fit(model, *args, **kw)
        before = [w.copy() for w in model.get_weights()]
        report = analyse.analyse(model, history.history, call, CheckOptions()).report
        for a, b in zip(before, model.get_weights(), strict=True):  # the model is untouched
            np.testing.assert_array_equal(a, b)
        return report

    return run


def pytest_collection_modifyitems(items):
    for item in items:
        if "keras" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.keras)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlflow_server(root, port: int, log=None):
    """A real ``mlflow server`` (SQLite backend, artifacts under ``root``) on a localhost
    port, in its own process group; returns once ``/health`` answers."""
    import subprocess
    import sys
    import time
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_mlflow_server(proc)
            raise RuntimeError("mlflow server did not start")
        time.sleep(0.3)


def stop_mlflow_server(proc, sig=None) -> None:
    """Stop the server's whole process group (SIGTERM, else SIGKILL), whatever happened."""
    import signal
    import subprocess

    try:
        os.killpg(proc.pid, sig or signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (SQLite backend, temp artifact root, free localhost port).

    Started in its own process group and always killed, even when a test fails.
    """
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    with open(root / "server.log", "wb") as log:
        try:
            proc = start_mlflow_server(root, port, log)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {(root / 'server.log').read_text()}") from None
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_mlflow_server(proc)

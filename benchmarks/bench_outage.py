"""``fit`` with mlflow-sanity when the tracking server is down: how much later it returns.

Two scenarios, each timed without and with ``mlflow_sanity.autolog()`` (MLflow's own
Keras autologging stays off: its retries against a dead server are MLflow's, not ours):

- dead from the start: ``MLFLOW_TRACKING_URI=http://127.0.0.1:9`` (nothing listens);
- dying mid-fit: a local ``mlflow server`` is started, the run is created on it, and a
  callback kills the server at the end of epoch 2.

The target: ``fit`` with the tool returns within +10 s of ``fit`` without it, and the
report is in the spool (a temporary folder here). Prints one line per scenario.

    python benchmarks/bench_outage.py [--rows 5000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
TARGET_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(root: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    _kill(proc)
    raise RuntimeError("mlflow server did not start")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    import keras
    import mlflow
    import numpy as np

    import mlflow_sanity
    from mlflow_sanity.tracking import spool

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 20)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int64")

    def fit(callbacks: list) -> tuple[float, object]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((20,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(
            x, y, validation_split=0.2, epochs=args.epochs, verbose=0, callbacks=callbacks
        )
        return time.perf_counter() - start, history

    tmp = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    os.environ[spool.SPOOL_ENV] = str(tmp / "spool")
    fit([])  # warm-up (graph tracing)

    # -- dead from the start
    mlflow.set_tracking_uri("http://127.0.0.1:9")
    os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"
    plain, _ = fit([])
    mlflow_sanity.autolog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checked, history = fit([])
    mlflow_sanity.autolog(disable=True)
    spooled = sum(issubclass(w.category, spool.SpoolWarning) for w in caught)
    entries = sum(len(p.entries) for p in spool.pending())
    extra = checked - plain
    print(
        f"dead from the start: fit {plain:.2f} s without, {checked:.2f} s with mlflow-sanity "
        f"(+{extra:.2f} s, target <= +{TARGET_S:.0f} s): "
        f"{'OK' if extra <= TARGET_S else 'TOO SLOW'}; {spooled} spool warning, "
        f"{entries} report(s) spooled"
    )

    # -- dying mid-fit
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    mlflow.set_tracking_uri(uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    timings = {}
    for label, tool in (("without", False), ("with", True)):
        root = tmp / f"server-{label}"
        root.mkdir()
        proc = _start_server(root, port)

        class KillAtEpoch2(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: object = None, proc=proc) -> None:
                if epoch == 1:
                    _kill(proc)

        if tool:
            mlflow_sanity.autolog()
        before = sum(len(p.entries) for p in spool.pending())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            timings[label], history = fit([KillAtEpoch2()])
        if tool:
            mlflow_sanity.autolog(disable=True)
        _kill(proc)
        while mlflow.active_run() is not None:
            mlflow.end_run()
    spooled = sum(issubclass(w.category, spool.SpoolWarning) for w in caught)
    entries = sum(len(p.entries) for p in spool.pending()) - before
    extra = timings["with"] - timings["without"]
    print(
        f"dying mid-fit:       fit {timings['without']:.2f} s without, {timings['with']:.2f} s "
        f"with mlflow-sanity (+{extra:.2f} s, target <= +{TARGET_S:.0f} s): "
        f"{'OK' if extra <= TARGET_S else 'TOO SLOW'}; {spooled} spool warning, "
        f"{entries} report(s) spooled"
    )
    print(f"spool: {spool.spool_root()} ({len(history.history['loss'])} epochs returned)")


if __name__ == "__main__":
    main()

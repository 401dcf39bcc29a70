"""``mlflow run .`` (entry point ``main``): two Keras models that both report high accuracy.

One collapsed to the class prior (too much L2), one learned the task. Only
mlflow-sanity tells them apart at a glance.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow

from mlflow_sanity.project.digits import train_and_evaluate
from mlflow_sanity.report.links import (
    FLAGGED_RUNS,
    served_by_tracking_server,
    ui_address,
    ui_link,
)
from mlflow_sanity.report.markdown import terminal_summary
from mlflow_sanity.tracking.experiments import mark_model_training
from mlflow_sanity.tracking.reports import read_report

VARIANTS = {
    "over-regularised (l2=0.3)": 0.3,
    "well-regularised (l2=1e-4)": 1e-4,
}


# Loggers whose INFO lines and notices would bury the demo's summary. ``mlflow_sanity`` is
# among them only because the demo prints each verdict itself (``terminal_summary``).
QUIET_LOGGERS = ("mlflow", "alembic", "absl", "tensorflow", "keras", "mlflow_sanity")


@contextmanager
def quiet() -> Iterator[None]:
    """The demo's own output only: MLflow's INFO chatter and third-party warnings (schema
    hints, ``UndefinedMetricWarning``) are off while the demo runs, and restored after.

    This is the demo's choice for its own process; the library never changes a user's
    logging or warning filters.
    """
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def main(epochs: int = 10) -> None:
    """Train and check the demo's models, print each verdict, then where to look."""
    with quiet():
        _demo(epochs)


def _demo(epochs: int) -> None:
    with mlflow.start_run(run_name="mlflow-sanity demo") as parent:
        # for UIs that read the experiment's kind; 3.17 needs the links printed below
        mark_model_training(parent.info.experiment_id)
        for name, l2 in VARIANTS.items():
            with mlflow.start_run(run_name=name, nested=True):
                run_id = train_and_evaluate(l2=l2, epochs=epochs, seed=0)
            report = read_report(run_id)
            accuracy = report.metrics["accuracy"]
            print(f"\n=== {name}: test accuracy {accuracy:.3f}  (run {run_id})")
            print(terminal_summary(report))
    uri = mlflow.get_tracking_uri()
    exp = parent.info.experiment_id
    ui = ui_address(uri)
    start = "open" if served_by_tracking_server(uri) else f"mlflow ui --backend-store-uri {uri}"
    print(f"\nBrowse the results:  {start}")
    print(f"  the demo's runs (expand the demo run):  {ui_link(exp, address=ui)}")
    print(f"  only the flagged runs:  {ui_link(exp, search=FLAGGED_RUNS, address=ui)}")
    print("  Sanity column: Columns > Tags > sanity.status (and sanity.findings).")
    print("  Each run's verdict: its Overview (description) and Artifacts > sanity/report.html")
    models = ui_link(exp, "models", address=ui)
    print(f"  Each logged model's verdict: its page in the Models tab ({models})")
    print(f"(parent run {parent.info.run_id}, experiment {exp})")


def _import_keras_quietly() -> None:
    """Import TensorFlow and Keras with the process' stderr closed: their C++ start-up
    notices (absl's "All log messages before absl::InitializeLog()", oneDNN's) ignore
    ``TF_CPP_MIN_LOG_LEVEL`` and are written straight to file descriptor 2."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:  # the train step says what is missing
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ notices
    _import_keras_quietly()
    main()

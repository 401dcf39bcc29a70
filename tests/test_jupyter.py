"""In a notebook the summary of a flagged call is said once, as HTML, not again on stderr,
and the quickstart notebook (``examples/quickstart.ipynb``) runs as shipped.

A real kernel (``ipykernel`` through ``nbclient``) runs the quickstart, with a setup cell
in front (the suite's tracking store, this checkout) and one more flagged fit behind: the
decision depends on the IPython shell the kernel really is, which no mock reproduces. One
kernel serves both, to keep the suite's time.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.ipynb"

SETUP = """
import os, sys
sys.path.insert(0, {root!r})
os.environ["MLFLOW_TRACKING_URI"] = {uri!r}
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import mlflow
import numpy as np
import keras
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
import mlflow_sanity
mlflow.set_tracking_uri({uri!r})
mlflow.set_experiment({experiment!r})
"""

# a model frozen at "always class 0" on 20% positives: prediction_collapse, a fail
FIT = """
rng = np.random.default_rng(0)
y = (rng.random(400) < 0.2).astype(int)
x = (rng.normal(size=(400, 4)) + y[:, None] * 2.5).astype("float32")
model = keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(1, "sigmoid", kernel_initializer="zeros",
                       bias_initializer=keras.initializers.Constant(-6.0)),
])
model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=2, batch_size=64, validation_split=0.25, verbose=0)
print("fit done")
"""


def _html(cell) -> list[str]:
    return [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]


def _streams(cell) -> dict[str, str]:
    return {
        name: "".join(o["text"] for o in cell.outputs if o.get("name") == name)
        for name in ("stdout", "stderr")
    }


def _said_once_as_html(cell, what: str, finding: str) -> None:
    html = _html(cell)
    assert len(html) == 1, cell.outputs
    assert html[0].count("mlflow-sanity: ") == 1  # the summary's first line, once
    assert f"this {what} is FAIL" in html[0] and finding in html[0]
    assert "mlflow-sanity report " in html[0]  # where the rest of the findings are
    for name, text in _streams(cell).items():
        assert "mlflow-sanity: " not in text and f"this {what} is" not in text, (name, text)


def _cell(nb, text: str):
    return next(c for c in nb.cells if c.cell_type == "code" and text in c.source)


def test_the_quickstart_notebook_runs_and_says_each_flagged_call_once_as_html(tracking_uri):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    experiment = f"jupyter-{uuid.uuid4().hex[:8]}"
    nb = nbformat.read(QUICKSTART, as_version=4)
    shipped = len(nb.cells)
    setup = SETUP.format(root=str(ROOT), uri=tracking_uri, experiment=experiment)
    nb.cells = [nbformat.v4.new_code_cell(setup), *nb.cells, nbformat.v4.new_code_cell(FIT)]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300).execute()

    assert len(nb.cells) == shipped + 2
    evaluate = _cell(nb, "loss, accuracy = model.evaluate")
    assert "accuracy " in _streams(evaluate)["stdout"]  # the number people believe, printed
    _said_once_as_html(evaluate, "evaluate", "eval_is_train")
    assert _streams(_cell(nb, "sanity.findings"))["stdout"].startswith("fail ")
    report = _cell(nb, "check_predictions(y_test")
    shown = [o for o in report.outputs if o.get("output_type") == "execute_result"]
    assert len(shown) == 1 and shown[0]["data"]["text/plain"].startswith("Report(status=")
    assert "mlflow-sanity: " in shown[0]["data"]["text/html"]  # the report renders as HTML

    fit = nb.cells[-1]  # a model frozen at "always class 0": prediction_collapse at the fit
    assert "fit done" in _streams(fit)["stdout"]  # the cell ran to its end
    _said_once_as_html(fit, "fit", "prediction_collapse")

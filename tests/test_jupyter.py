"""In a notebook the summary of a flagged fit is said once, as HTML, not again on stderr.

A real kernel (``ipykernel`` through ``nbclient``) runs a notebook built here: the decision
depends on the IPython shell the kernel really is, which no mock reproduces.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parent.parent

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
mlflow_sanity.autolog()
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


def test_flagged_fit_in_a_notebook_is_summarised_once_as_html(tracking_uri):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    experiment = f"jupyter-{uuid.uuid4().hex[:8]}"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            SETUP.format(root=str(ROOT), uri=tracking_uri, experiment=experiment)
        ),
        nbformat.v4.new_code_cell(FIT),
    ]
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300)
    client.execute()

    outputs = nb.cells[1].outputs
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    streams = {
        name: "".join(o["text"] for o in outputs if o.get("name") == name)
        for name in ("stdout", "stderr")
    }
    assert "fit done" in streams["stdout"]  # the cell ran to its end
    assert len(html) == 1, outputs
    assert html[0].count("mlflow-sanity: ") == 1  # the summary's first line, once
    assert "this fit is FAIL" in html[0] and "prediction_collapse" in html[0]
    for name, text in streams.items():
        assert "mlflow-sanity: " not in text and "this fit is" not in text, (name, text)

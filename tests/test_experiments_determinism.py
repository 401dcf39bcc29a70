"""The same seeded program gets the same verdict on an idle and on a busy machine.

Experiments are sized in work (steps, rows, parameters), never by the clock: three runs
of one tiny seeded fit, one of them beside a CPU-bound process, give identical
``sanity.status``, ``sanity.findings`` and ``evidence.proof.verdict`` values.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

BUSY = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"


def _program(keras):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = (rng.normal(size=(200, 8)) + y[:, None]).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-5), "binary_crossentropy", metrics=["accuracy"])
    return model, x, y


def test_the_verdict_does_not_depend_on_the_machines_load(keras, mlflow_experiment, monkeypatch):
    import mlflow

    from mlflow_sanity.adapters.keras import patch
    from mlflow_sanity.report import plots
    from mlflow_sanity.tracking.reports import read_report

    monkeypatch.setattr(plots, "learning_curves_png", lambda *a, **k: b"")
    patch.autolog(silent=True, prove_causes="auto")
    seen = []
    try:
        for busy in (False, True, False):
            hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
            try:
                model, x, y = _program(keras)
                model.fit(x, y, epochs=5, validation_split=0.2, verbose=0)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            run = mlflow.last_active_run()
            report = read_report(run.info.run_id)
            verdicts = {
                f.id: f.evidence["proof"]["verdict"]
                for f in report.findings
                if "proof" in f.evidence
            }
            tags = run.data.tags
            seen.append((tags["sanity.status"], tags["sanity.findings"], verdicts))
    finally:
        patch.autolog(disable=True)
    assert seen[0][2], "no experiment ran: the test shows nothing"
    assert seen[0] == seen[1] == seen[2], seen

"""A quiet demo: ``make demo`` shows the tool's summary, the links and what to click,
without MLflow's INFO lines or third-party warnings; and the quieting is the demo's own,
undone when it returns (the library never changes a user's logging or warning filters)."""

from __future__ import annotations

import logging
import re
import warnings

import pytest

pytestmark = pytest.mark.keras

MLFLOW_INFO = re.compile(r"\bINFO\b.*\bmlflow\b|\bmlflow\b.*\bINFO\b")


def test_the_demo_prints_its_summary_and_links_and_nothing_else(
    keras, mlflow_experiment, fast_plots, capfd, monkeypatch
):
    import mlflow.keras.save

    from mlflow_sanity.project import demo

    # log_model's pip-requirements inference reloads the model in a subprocess (5-20 s)
    monkeypatch.setattr(
        mlflow.keras.save, "infer_pip_requirements", lambda *a, fallback=None, **k: fallback
    )
    # the collapsed model alone, two epochs: the demo's story, small
    monkeypatch.setattr(demo, "VARIANTS", {"over-regularised (l2=0.3)": 0.3})
    mlflow_level = logging.getLogger("mlflow").level
    filters = list(warnings.filters)
    capfd.readouterr()
    demo.main(epochs=2)
    out, err = capfd.readouterr()

    assert "=== over-regularised (l2=0.3)" in out and "mlflow-sanity status: FAIL" in out
    assert "Browse the results:" in out and "Sanity column: Columns > Tags" in out
    lines = (out + err).splitlines()
    assert not [line for line in lines if MLFLOW_INFO.search(line)], err
    assert not [line for line in lines if "Warning" in line or "WARNING" in line], err
    # the demo's quiet is its own: undone when it returns
    assert logging.getLogger("mlflow").level == mlflow_level
    assert warnings.filters == filters

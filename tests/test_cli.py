"""Browsing and gating checked runs from the terminal."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_sanity.cli import main


@pytest.fixture
def two_runs(mlflow_experiment):
    """A collapsed run (fail) and a healthy one (pass), checked through the evaluator."""
    ids = {}
    y = np.array([0, 1] * 100)
    for name, pred in {"collapsed": np.zeros(200, int), "healthy": y}.items():
        pred = pred.copy()
        if name == "healthy":
            pred[:15] = 1 - pred[:15]
        with mlflow.start_run(run_name=name) as run:
            mlflow.models.evaluate(
                data=pd.DataFrame({"x": 0.0, "label": y, "pred": pred}),
                targets="label",
                predictions="pred",
                model_type="classifier",
                evaluators="sanity",
            )
        ids[name] = run.info.run_id
    return ids


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_runs_lists_and_filters_by_status(two_runs):
    exp = mlflow.get_experiment(mlflow.get_run(two_runs["healthy"]).info.experiment_id).name
    out = invoke("runs", "--experiment", exp)
    assert out.exit_code == 0, out.output
    assert "collapsed" in out.output and "healthy" in out.output
    only_fail = invoke("runs", "--experiment", exp, "--status", "fail").output
    assert "collapsed" in only_fail and "healthy" not in only_fail
    assert "prediction_collapse" in only_fail


def test_report_prints_findings(two_runs):
    out = invoke("report", two_runs["collapsed"])
    assert out.exit_code == 0
    assert "status: FAIL" in out.output and "prediction_collapse" in out.output
    missing = invoke("report", "0" * 32)
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_gate_exit_codes(two_runs):
    assert invoke("gate", two_runs["collapsed"]).exit_code == 1
    assert invoke("gate", two_runs["healthy"]).exit_code == 0
    assert invoke("gate", two_runs["healthy"], "--fail-on", "warn").exit_code == 0
    with mlflow.start_run() as unchecked:
        pass
    result = invoke("gate", unchecked.info.run_id)
    assert result.exit_code == 2 and "never checked" in result.output


def test_variance_log_rejudges_a_group_that_grew(mlflow_experiment):
    """Three noisy runs of one configuration warn; seven more steady runs clear it, and
    --log replaces the earlier warning on every run instead of keeping the worst."""
    exp = mlflow.get_experiment(mlflow_experiment).name
    digests = {"sanity.config_digest": "cfg", "sanity.data_digest": "data"}

    def runs(values):
        ids = []
        for value in values:
            with mlflow.start_run(tags=digests) as run:
                mlflow.log_metrics(
                    {"sanity/accuracy": value, "sanity/majority_baseline_accuracy": 0.5}
                )
            ids.append(run.info.run_id)
        return ids

    first = runs([0.85, 0.70, 0.95])
    noisy = invoke("variance", "--experiment", exp, "--log")
    assert noisy.exit_code == 0, noisy.output
    assert "[warn] seed_variance" in noisy.output
    assert mlflow.get_run(first[0]).data.tags["sanity.finding.seed_variance"] == "warn"

    runs([0.85] * 7)
    steady = invoke("variance", "--experiment", exp, "--log")
    assert steady.exit_code == 0, steady.output
    assert "10 runs of this configuration" in steady.output
    assert "[pass] seed_variance" in steady.output
    tags = mlflow.get_run(first[0]).data.tags
    assert tags["sanity.status"] == "pass", tags
    assert "sanity.finding.seed_variance" not in tags
    assert "seed_variance" not in tags["sanity.findings"]


def test_an_unknown_experiment_name_is_a_clear_error(mlflow_experiment):
    for args in (["runs", "--models"], ["variance"]):
        out = invoke(*args, "--experiment", "no-such-experiment")
        assert out.exit_code == 1, out.output
        assert "no experiment named 'no-such-experiment'" in out.output
        assert "Traceback" not in out.output

"""`mlflow-sanity compare RUN_A RUN_B`: verdicts and exit codes on synthetic multi-seed parents."""

from __future__ import annotations

import json

import pytest
import seed_train_fns as fns
from click.testing import CliRunner
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_sanity.adapters.seeds.sweep import seed_sweep
from mlflow_sanity.cli import main


def fake_parent(experiment_id: str, values: list[float], metric: str = "accuracy", **extra) -> str:
    """A parent run with one finished seed child per value (what seed_sweep writes)."""
    client = MlflowClient()
    parent = client.create_run(experiment_id).info.run_id
    client.log_param(parent, "sanity.metric", metric)
    for seed, value in enumerate(values):
        child = client.create_run(
            experiment_id, tags={"mlflow.parentRunId": parent, "sanity.seed": str(seed)}
        ).info.run_id
        client.log_batch(
            child,
            metrics=[Metric(metric, value, 0, 0)],
            params=[Param("seed", str(seed))],
            tags=[RunTag(k, v) for k, v in extra.items()],
        )
        client.set_terminated(child)
    client.set_terminated(parent)
    return parent


def compare(*args: str):
    return CliRunner().invoke(main, ["compare", *args])


GOOD = [0.90, 0.91, 0.92, 0.905, 0.915]
WORSE = [0.80, 0.81, 0.82, 0.805, 0.815]


def test_a_significantly_better_exits_0(mlflow_experiment):
    a, b = fake_parent(mlflow_experiment, GOOD), fake_parent(mlflow_experiment, WORSE)
    result = compare(a, b)
    assert result.exit_code == 0, result.output
    assert "P(A beats B) across seed pairs: 1.00" in result.output
    assert "exact" in result.output
    assert "verdict: A is better than B" in result.output


def test_b_better_or_no_difference_exits_1(mlflow_experiment):
    a, b = fake_parent(mlflow_experiment, GOOD), fake_parent(mlflow_experiment, WORSE)
    reverse = compare(b, a)
    assert reverse.exit_code == 1 and "verdict: B is better than A" in reverse.output
    noisy = fake_parent(mlflow_experiment, [0.85, 0.80, 0.90, 0.83])
    other = fake_parent(mlflow_experiment, [0.84, 0.86, 0.79, 0.82])
    tie = compare(noisy, other)
    assert tie.exit_code == 1 and "No significant difference" in tie.output


def test_json_output_and_lower_is_better_metric(mlflow_experiment):
    a = fake_parent(mlflow_experiment, [0.20, 0.21, 0.19, 0.22, 0.2], metric="val_loss")
    b = fake_parent(mlflow_experiment, [0.30, 0.31, 0.29, 0.32, 0.3], metric="val_loss")
    result = compare(a, b, "--metric", "val_loss", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["higher_is_better"] is False and data["a_better"] is True
    assert data["values_a"] == {"0": 0.2, "1": 0.21, "2": 0.19, "3": 0.22, "4": 0.2}
    flipped = compare(a, b, "--metric", "val_loss", "--higher-is-better")
    assert flipped.exit_code == 1


def test_usage_errors_exit_2(mlflow_experiment):
    a = fake_parent(mlflow_experiment, GOOD)
    one_seed = fake_parent(mlflow_experiment, [0.9])
    assert compare(a, "0" * 32).exit_code == 2  # no such run
    lonely = compare(a, one_seed)
    assert lonely.exit_code == 2 and "at least 2" in lonely.output
    assert compare(a, a, "--metric", "nope").exit_code == 2
    assert compare(a).exit_code == 2  # click's own usage error


def test_failed_children_are_skipped_and_counted(mlflow_experiment):
    a = fake_parent(mlflow_experiment, GOOD)
    b = fake_parent(mlflow_experiment, WORSE)
    client = MlflowClient()
    crashed = client.create_run(
        mlflow_experiment, tags={"mlflow.parentRunId": a, "sanity.seed": "9"}
    ).info.run_id
    client.set_terminated(crashed, "FAILED")
    client.create_run(mlflow_experiment, tags={"mlflow.parentRunId": a})  # not a seed child
    result = compare(a, b)
    assert result.exit_code == 0
    assert "n=5" in result.output and "1 failed/incomplete child run(s) skipped" in result.output


def test_compare_two_real_sweeps(mlflow_experiment):
    stable = seed_sweep(fns.stable, 3, executor="sequential", progress=False)
    unstable = seed_sweep(fns.unstable, 3, executor="sequential", progress=False)
    result = compare(stable.parent_run_id, unstable.parent_run_id)
    assert result.exit_code in (0, 1)
    assert "metric: accuracy (higher is better)" in result.output  # from the sweep's param
    expected = pytest.approx(stable.aggregates["seed/accuracy_mean"], abs=5e-5)
    assert float(result.output.split("mean ")[1].split(" ")[0]) == expected

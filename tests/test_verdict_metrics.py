"""The verdict as numbers: ``sanity/status_level`` and ``sanity/flagged_count`` on runs and
LoggedModels, following the union of every report (the same union as the tags)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_sanity.tracking.verdict import FLAGGED_COUNT, STATUS_LEVEL, latest_model_values


def _frame(kind: str, seed: int = 0) -> pd.DataFrame:
    """Static predictions the evaluator judges fail (collapsed on an imbalanced set), warn
    (a 3% class: accuracy not above the majority baseline) or pass (a healthy 90% model)."""
    rng = np.random.default_rng(seed)
    if kind == "fail":
        y = np.array([0] * 180 + [1] * 20)
        pred = np.zeros_like(y)
    elif kind == "warn":
        y = (np.random.default_rng(3).random(1000) < 0.03).astype(int)
        pred = np.where(np.random.default_rng(4).random(1000) < 0.02, 1 - y, y)
    else:
        y = rng.integers(0, 2, 600)
        pred = np.where(rng.random(600) < 0.1, 1 - y, y)
    return pd.DataFrame({"x": rng.normal(size=len(y)), "label": y, "pred": pred})


def _evaluate(kind: str, model_id: str | None = None, name: str | None = None) -> None:
    data = mlflow.data.from_pandas(
        _frame(kind), targets="label", predictions="pred", name=name or kind
    )
    mlflow.models.evaluate(
        data=data, model_type="classifier", evaluators="sanity", model_id=model_id
    )


def _run_values(run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    data = mlflow.MlflowClient().get_run(run_id).data
    return {k: data.metrics.get(k) for k in (STATUS_LEVEL, FLAGGED_COUNT)}, data.tags


def _expected(tags: dict[str, str]) -> dict[str, float]:
    """What the tags say, as the two numbers."""
    level = {"pass": 0.0, "warn": 1.0, "fail": 2.0}[tags["sanity.status"]]
    count = float(len([f for f in tags["sanity.findings"].split(",") if f]))
    return {STATUS_LEVEL: level, FLAGGED_COUNT: count}


@pytest.mark.parametrize(
    ("kind", "level", "count"), [("fail", 2.0, 3.0), ("warn", 1.0, 1.0), ("pass", 0.0, 0.0)]
)
def test_run_and_logged_model_get_the_verdict_as_numbers(mlflow_experiment, kind, level, count):
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name=f"clf-{kind}")
        _evaluate(kind, model.model_id)
    values, tags = _run_values(run.info.run_id)
    assert tags["sanity.status"] == kind
    assert values == {STATUS_LEVEL: level, FLAGGED_COUNT: count} == _expected(tags)
    logged = mlflow.get_logged_model(model.model_id)
    assert logged.tags["sanity.status"] == kind
    assert latest_model_values(logged.metrics) == values
    rows = [m for m in logged.metrics if m.key in (STATUS_LEVEL, FLAGGED_COUNT)]
    assert len(rows) == 2 and all(m.dataset_name is None for m in rows)  # the model's own


def test_two_reports_on_one_run_and_model_give_their_union(mlflow_experiment):
    """A warn, then a fail on other data, then a pass: the numbers follow the tags (worst
    status, every flagged id), not the latest report."""
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="clf")
        _evaluate("warn", model.model_id)
        _evaluate("fail", model.model_id)
        _evaluate("pass", model.model_id)
    values, tags = _run_values(run.info.run_id)
    assert tags["sanity.status"] == "fail"
    assert set(tags["sanity.findings"].split(",")) >= {"accuracy_at_baseline"}
    assert values == _expected(tags)
    assert values[STATUS_LEVEL] == 2.0 and values[FLAGGED_COUNT] >= 3.0
    logged = mlflow.get_logged_model(model.model_id)
    assert latest_model_values(logged.metrics) == _expected(logged.tags) == values
    # one model row per state of its verdict (warn, then fail), none for the pass that
    # changed nothing
    levels = [m.value for m in logged.metrics if m.key == STATUS_LEVEL and not m.dataset_name]
    assert levels == [1.0, 2.0]
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, STATUS_LEVEL)
    assert [m.value for m in sorted(history, key=lambda m: m.timestamp)][-1] == 2.0


def test_model_judged_in_two_runs_keeps_each_union(mlflow_experiment):
    """A model failed in one run and passed in a later one: the model's numbers say fail
    (its union), the later run's say pass (its own), although MLflow files the model's
    values through that run."""
    with mlflow.start_run() as first:
        model = mlflow.initialize_logged_model(name="clf")
        _evaluate("fail", model.model_id)
    with mlflow.start_run() as second:
        _evaluate("pass", model.model_id)
    assert _run_values(first.info.run_id)[0] == {STATUS_LEVEL: 2.0, FLAGGED_COUNT: 3.0}
    values, tags = _run_values(second.info.run_id)
    assert tags["sanity.status"] == "pass"
    assert values == {STATUS_LEVEL: 0.0, FLAGGED_COUNT: 0.0}
    logged = mlflow.get_logged_model(model.model_id)
    assert latest_model_values(logged.metrics) == {STATUS_LEVEL: 2.0, FLAGGED_COUNT: 3.0}
    # the later run's own values never landed on the model (MLflow links what is logged
    # during ``evaluate(model_id=...)`` to that model unless told otherwise)
    levels = [m.value for m in logged.metrics if m.key == STATUS_LEVEL and not m.dataset_name]
    assert levels == [2.0]
    ranked = mlflow.search_logged_models(
        experiment_ids=[mlflow_experiment],
        order_by=[{"field_name": f"metrics.{STATUS_LEVEL}", "ascending": False}],
        output_format="list",
    )
    assert ranked[0].model_id == model.model_id


def test_models_list_sorts_flagged_first(mlflow_experiment):
    with mlflow.start_run():
        ids = {}
        for kind in ("pass", "fail", "warn"):
            ids[kind] = mlflow.initialize_logged_model(name=f"clf-{kind}").model_id
            _evaluate(kind, ids[kind])
    ranked = mlflow.search_logged_models(
        experiment_ids=[mlflow_experiment],
        order_by=[{"field_name": f"metrics.{STATUS_LEVEL}", "ascending": False}],
        output_format="list",
    )
    assert [m.model_id for m in ranked] == [ids["fail"], ids["warn"], ids["pass"]]

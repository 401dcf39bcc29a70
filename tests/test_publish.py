"""One publish path (tracking/publish.py): the run, its LoggedModel and digests in one call,
and no entry point that logs by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlflow_sanity import check_predictions
from mlflow_sanity.tracking.publish import Target, publish

COLLAPSED = ([0] * 180 + [1] * 20, [0] * 200)
HEALTHY = ([0] * 180 + [1] * 20, [0] * 172 + [1] * 8 + [1] * 17 + [0] * 3)
PACKAGE = Path(__file__).resolve().parents[1] / "mlflow_sanity"
# the calls only the publish path (and the tracking package under it) may make
BY_HAND = {"log_report", "tag_model", "tag_digests", "write_entry"}


def _called_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_no_entry_point_publishes_by_hand():
    """Adapters, the project entry points and the CLI hand reports to ``publish``."""
    outside = [p for p in PACKAGE.rglob("*.py") if "tracking" not in p.relative_to(PACKAGE).parts]
    assert len(outside) > 20
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(_called_names(p) & BY_HAND)
        for p in outside
        if _called_names(p) & BY_HAND
    }
    assert offenders == {}


def test_publish_logs_the_run_tags_the_model_and_the_digests(mlflow_experiment):
    import mlflow

    with mlflow.start_run() as run:
        model_id = mlflow.initialize_logged_model(name="m").model_id
    run_id = run.info.run_id
    digests = {"config": "c" * 16, "data": "d" * 16}
    merged = publish(
        check_predictions(*COLLAPSED), {}, Target(run_id, model_id), what="fit", digests=digests
    )
    assert merged.status == "fail"
    assert merged.state.metric_prefix == ""
    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    assert tags["sanity.status"] == "fail"
    assert tags["sanity.config_digest"] == "c" * 16 and tags["sanity.data_digest"] == "d" * 16
    assert mlflow.get_logged_model(model_id).tags["sanity.status"] == "fail"
    # a second, healthy report merges on the run (worst wins) and on the model
    again = publish(check_predictions(*HEALTHY), None, Target(run_id, model_id), what="evaluate")
    assert again.status == "fail"
    assert mlflow.get_logged_model(model_id).tags["sanity.status"] == "fail"


def test_a_healthy_report_without_model_or_digests_touches_only_the_run(mlflow_experiment):
    import mlflow

    with mlflow.start_run() as run:
        pass
    merged = publish(
        check_predictions(*HEALTHY), None, Target(run.info.run_id), what="cli", offline="raise"
    )
    assert merged.status == "pass"
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["sanity.status"] == "pass"
    assert "sanity.config_digest" not in tags


def test_a_command_reports_a_missing_run_instead_of_spooling(
    mlflow_experiment, tmp_path, monkeypatch
):
    from mlflow.exceptions import MlflowException

    from mlflow_sanity.tracking import spool

    monkeypatch.setenv(spool.SPOOL_ENV, str(tmp_path / "spool"))
    with pytest.raises(MlflowException):
        publish(check_predictions(*HEALTHY), None, Target("0" * 32), what="cli", offline="raise")
    assert not spool.pending(tmp_path / "spool")

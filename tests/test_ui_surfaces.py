"""What the MLflow UI shows: the verdict on a LoggedModel, merged over every report about it
(tags for search, a description section for the Models tab's model page, whose list shows
no tags), and links that open the UI's Model-training view."""

from __future__ import annotations

from mlflow_sanity import check_predictions
from mlflow_sanity.report.links import FLAGGED_RUNS, run_link, ui_address, ui_link
from mlflow_sanity.tracking.models import tag_model

COLLAPSED = ([0] * 180 + [1] * 20, [0] * 200)
# 94% accuracy with mistakes on both classes: an honest model, nothing to flag
HEALTHY = ([0] * 180 + [1] * 20, [0] * 172 + [1] * 8 + [1] * 17 + [0] * 3)


def _new_model(mlflow, name="digits"):
    with mlflow.start_run():
        return mlflow.initialize_logged_model(name=name).model_id


def test_flagged_model_gets_tags_and_description(mlflow_experiment):
    import mlflow

    model_id = _new_model(mlflow)
    assert tag_model(model_id, check_predictions(*COLLAPSED)) == "fail"
    tags = mlflow.get_logged_model(model_id).tags
    assert tags["sanity.status"] == "fail"
    assert tags["sanity.finding.prediction_collapse"] == "fail"
    note = tags["mlflow.note.content"]
    assert "mlflow-sanity: FAIL" in note
    assert "`prediction_collapse`" in note and "predicts" in note  # the finding's own words


def test_healthy_model_says_pass(mlflow_experiment):
    import mlflow

    model_id = _new_model(mlflow)
    assert tag_model(model_id, check_predictions(*HEALTHY)) == "pass"
    tags = mlflow.get_logged_model(model_id).tags
    assert tags["sanity.findings"] == ""
    assert "mlflow-sanity: PASS" in tags["mlflow.note.content"]


def test_later_clean_report_keeps_the_worst_and_the_users_words(mlflow_experiment):
    """A second, clean evaluation neither clears the fail nor drops the earlier finding
    from the description; what the user wrote there stays."""
    import mlflow

    model_id = _new_model(mlflow)
    mlflow.set_logged_model_tags(model_id, {"mlflow.note.content": "Baseline, trained Friday."})
    tag_model(model_id, check_predictions(*COLLAPSED))
    assert tag_model(model_id, check_predictions(*HEALTHY)) == "fail"
    note = mlflow.get_logged_model(model_id).tags["mlflow.note.content"]
    assert note.startswith("Baseline, trained Friday.")
    assert note.count("### mlflow-sanity") == 1 and "mlflow-sanity: FAIL" in note
    assert "`prediction_collapse`" in note and "earlier check of this model" in note


def test_unreachable_model_is_a_warning_not_an_error(mlflow_experiment, caplog):
    assert tag_model("m-0000000000000000000000000000dead", check_predictions(*HEALTHY)) is None
    assert "could not tag logged model" in caplog.text


def test_ui_links_open_the_model_training_view():
    assert (
        ui_link("7") == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"
    )
    flagged = ui_link("7", search=FLAGGED_RUNS, address="http://mlflow.internal:8080/")
    assert flagged == (
        "http://mlflow.internal:8080/#/experiments/7/runs?workflowType=machine_learning"
        "&searchFilter=tags.%60sanity.status%60%20%3D%20%27fail%27"
    )
    assert ui_link("7", "models/m-1").endswith(
        "/#/experiments/7/models/m-1?workflowType=machine_learning"
    )


def test_run_link_on_a_server_and_on_a_local_store():
    assert run_link("abc", "http://mlflow:5000/") == "http://mlflow:5000/#/runs/abc"
    local = run_link("abc", "sqlite:///mlflow.db")
    assert local.startswith("mlflow ui --backend-store-uri sqlite:///mlflow.db")
    assert local.endswith("http://127.0.0.1:5000/#/runs/abc")
    assert ui_address("https://mlflow.example.org/") == "https://mlflow.example.org"
    assert ui_address("file:///tmp/mlruns") == "http://127.0.0.1:5000"

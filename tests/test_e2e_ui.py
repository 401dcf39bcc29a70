"""A real tracking server and a real browser: the flagged run looks flagged in the MLflow UI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _chrome():
    """Debian's headless Chromium, without the background traffic a closed network refuses."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--window-size=1400,1400",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def server_run(mlflow_server, monkeypatch):
    """A collapsed classifier evaluated through the server's REST API."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        exp_id = mlflow.set_experiment("browser-check").experiment_id
        rng = np.random.default_rng(0)
        y = np.array([0] * 180 + [1] * 20)
        df = pd.DataFrame({"x": rng.normal(size=200), "label": y, "pred": 0})
        with mlflow.start_run(run_name="digits-9-vs-rest", description="Trained on Friday.") as run:
            mlflow.models.evaluate(
                data=df, targets="label", predictions="pred",
                model_type="classifier", evaluators="sanity",
            )  # fmt: skip
        yield exp_id, run.info.run_id
    finally:
        mlflow.set_tracking_uri(previous)


def test_tags_readable_through_rest(server_run, mlflow_server):
    import json
    import urllib.request

    _, run_id = server_run
    with urllib.request.urlopen(f"{mlflow_server}/api/2.0/mlflow/runs/get?run_id={run_id}") as r:
        tags = {t["key"]: t["value"] for t in json.load(r)["run"]["data"]["tags"]}
    assert tags["sanity.status"] == "fail"
    assert (
        tags["sanity.findings"] == "accuracy_at_baseline,minority_class_missed,prediction_collapse"
    )
    assert tags["mlflow.note.content"].startswith("Trained on Friday.")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium/chromedriver not installed")
def test_flagged_run_in_the_ui(server_run, mlflow_server):
    from selenium.webdriver.support.ui import WebDriverWait

    exp_id, run_id = server_run
    driver = _chrome()
    try:
        driver.get(f"{mlflow_server}/#/experiments/{exp_id}/runs/{run_id}")
        WebDriverWait(driver, 90).until(
            lambda d: "mlflow-sanity: FAIL" in d.find_element("tag name", "body").text
        )
        body = driver.find_element("tag name", "body").text
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "flagged_run.png"))
    finally:
        driver.quit()
    assert "Trained on Friday." in body
    assert "prediction_collapse" in body
    assert "sanity.status" in body or "fail" in body


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium/chromedriver not installed")
def test_demo_link_lists_only_flagged_runs(server_run, mlflow_server):
    """The link the demo prints opens the Model-training view with the runs filtered."""
    from mlflow import MlflowClient
    from selenium.webdriver.support.ui import WebDriverWait

    from mlflow_sanity.report.links import FLAGGED_RUNS, ui_link

    exp_id, _ = server_run
    flagged = len(MlflowClient(mlflow_server).search_runs([exp_id], FLAGGED_RUNS))
    driver = _chrome()
    try:
        driver.get(ui_link(exp_id, search=FLAGGED_RUNS, address=mlflow_server))
        # the count settles as the runs load: wait for the one the server gives
        WebDriverWait(driver, 90).until(lambda d: f"{flagged} matching run" in _text(d))
        body, url = _text(driver), driver.current_url
    finally:
        driver.quit()
    assert "/runs?" in url and "workflowType=machine_learning" in url
    assert flagged >= 1 and f"{flagged} matching run" in body and "digits-9-vs-rest" in body


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium/chromedriver not installed")
def test_flagged_logged_model_in_the_models_tab(mlflow_server, monkeypatch):
    """A LoggedModel judged by ``mlflow.models.evaluate(..., model_id=...)``: found by the
    tag search, and its page in the Models tab shows the verdict in its description."""
    import mlflow
    from selenium.webdriver.support.ui import WebDriverWait

    from mlflow_sanity.report.links import ui_link

    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        exp_id = mlflow.set_experiment("models-tab-check").experiment_id
        y = np.array([0] * 180 + [1] * 20)
        df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=200), "label": y, "pred": 0})
        with mlflow.start_run(run_name="collapsed-digits"):
            model = mlflow.initialize_logged_model(name="digits-9-vs-rest")
            mlflow.set_logged_model_tags(model.model_id, {"mlflow.note.content": "Candidate."})
            mlflow.models.evaluate(
                data=df, targets="label", predictions="pred", model_type="classifier",
                evaluators="sanity", model_id=model.model_id,
            )  # fmt: skip
        found = mlflow.search_logged_models(
            experiment_ids=[exp_id], filter_string="tags.`sanity.status` = 'fail'",
            output_format="list",
        )  # fmt: skip
        assert [m.model_id for m in found] == [model.model_id]
    finally:
        mlflow.set_tracking_uri(previous)
    driver = _chrome()
    try:
        driver.get(ui_link(exp_id, address=mlflow_server))  # lands on the runs
        _click_link(driver, "Models")
        WebDriverWait(driver, 90).until(lambda d: "digits-9-vs-rest" in _text(d))
        # the list's model links drop the view; the link helper keeps it
        driver.get(ui_link(exp_id, f"models/{model.model_id}", address=mlflow_server))
        WebDriverWait(driver, 90).until(lambda d: "mlflow-sanity: FAIL" in _text(d))
        for close in driver.find_elements("css selector", "button[aria-label='Close']"):
            close.click()  # the assistant panel that opens on a first visit
        body = _text(driver)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "flagged_model.png"))
    finally:
        driver.quit()
    assert "Candidate." in body  # the user's description stays
    assert "prediction_collapse" in body


def _text(driver) -> str:
    return driver.find_element("tag name", "body").text


def _click_link(driver, text: str) -> None:
    """Click the first link showing ``text`` once there is one; the UI re-renders while it
    loads, so an element found a moment ago may be gone: look again until the click lands."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def click(d) -> bool:
        links = [a for a in d.find_elements("css selector", "a") if a.text.strip() == text]
        if links:
            links[0].click()
        return bool(links)

    WebDriverWait(driver, 90, ignored_exceptions=[StaleElementReferenceException]).until(click)

"""A real tracking server and a real browser: the flagged run looks flagged in the MLflow UI."""

from __future__ import annotations

import html
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


def _judged_models(exp_name: str) -> tuple[str, dict[str, str]]:
    """Three LoggedModels judged by ``mlflow.models.evaluate(..., model_id=...)`` on static
    predictions: a collapsed one (fail), one at the baseline of a 3% class (warn) and a
    healthy one (pass)."""
    import mlflow

    exp_id = mlflow.set_experiment(exp_name).experiment_id
    frames = {
        "collapsed-digits": (np.array([0] * 180 + [1] * 20), None),
        "rare-fraud-3pc": ((np.random.default_rng(3).random(1000) < 0.03).astype(int), 0.02),
        "healthy-baseline": (np.random.default_rng(5).integers(0, 2, 600), 0.1),
    }
    ids = {}
    for name, (y, noise) in frames.items():
        rng = np.random.default_rng(4)
        pred = np.zeros_like(y) if noise is None else np.where(rng.random(len(y)) < noise, 1 - y, y)
        df = pd.DataFrame({"x": rng.normal(size=len(y)), "label": y, "pred": pred})
        with mlflow.start_run(run_name=name):
            ids[name] = mlflow.initialize_logged_model(name=name).model_id
            mlflow.models.evaluate(
                data=df, targets="label", predictions="pred", model_type="classifier",
                evaluators="sanity", model_id=ids[name],
            )  # fmt: skip
    return exp_id, ids


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium/chromedriver not installed")
def test_models_list_shows_the_verdict_column(mlflow_server, monkeypatch):
    """The Models list (no tag columns in MLflow 3.17) shows ``sanity/status_level`` and
    ``sanity/flagged_count`` as metric columns, each model's own verdict."""
    import mlflow
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    from mlflow_sanity.report.links import ui_link

    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        exp_id, ids = _judged_models("models-list-check")
        statuses = {
            name: mlflow.get_logged_model(model_id).tags["sanity.status"]
            for name, model_id in ids.items()
        }
    finally:
        mlflow.set_tracking_uri(previous)
    assert statuses == dict(zip(_MODEL_NAMES, ("fail", "warn", "pass"), strict=True))
    driver = _chrome()
    try:
        driver.set_window_size(1600, 560)
        driver.get(ui_link(exp_id, "models", address=mlflow_server))
        WebDriverWait(driver, 90).until(lambda d: "healthy-baseline" in _text(d))
        for close in driver.find_elements("css selector", "button[aria-label='Close']"):
            close.click()  # the assistant panel that opens on a first visit
        # the grid draws only the columns in view: the model's own metrics ("No dataset")
        # come after those linked to the evaluated dataset
        settled = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
        settled.until(lambda d: _scrolled_to(d, "sanity/status_level"))
        headers, rows = settled.until(lambda d: _filled_grid(d, "sanity/flagged_count"))
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "models_list.png"))
    finally:
        driver.quit()
    level, count = headers.index("sanity/status_level"), headers.index("sanity/flagged_count")
    shown = {row[0]: (row[level], row[count]) for row in rows}
    assert shown == {
        "collapsed-digits": ("2", "3"), "rare-fraud-3pc": ("1", "1"),
        "healthy-baseline": ("0", "0"),
    }  # fmt: skip


_MODEL_NAMES = ("collapsed-digits", "rare-fraud-3pc", "healthy-baseline")


def _scrolled_to(driver, header: str) -> bool:
    """Scroll the grid to its last columns; True once ``header`` is drawn."""
    driver.execute_script(
        "const v = document.querySelector('.ag-body-horizontal-scroll-viewport');"
        "if (v) { v.scrollLeft = v.scrollWidth; }"
    )
    return any(
        h.text.strip() == header for h in driver.find_elements("css selector", ".ag-header-cell")
    )


def _filled_grid(driver, header: str):
    """The grid once every row shows a value under ``header`` (the cells fill in after the
    columns are drawn), else False."""
    headers, rows = _grid(driver)
    column = headers.index(header) if header in headers else None
    if column is None or len(rows) < len(_MODEL_NAMES) or not all(r[column] for r in rows):
        return False
    return headers, rows


def _grid(driver) -> tuple[list[str], list[list[str]]]:
    """The Models list's ag-grid as drawn: header texts, and per row (in row order) its
    cells' texts in column order, the model name first. ag-grid splits pinned and scrolled
    columns into containers of their own, so cells are placed by their ``col-id``."""
    headers = driver.find_elements("css selector", ".ag-header-cell")
    order = [h.get_attribute("col-id") for h in headers]
    names = [h.text.strip() for h in headers]
    cells: dict[int, dict[str, str]] = {}
    for cell in driver.find_elements("css selector", ".ag-row .ag-cell"):
        row = cell.find_element("xpath", "./ancestor::div[contains(@class,'ag-row')][1]")
        index = int(row.get_attribute("row-index"))
        text = (cell.get_attribute("textContent") or "").strip()
        column = html.unescape(cell.get_attribute("col-id") or "")  # cells escape quotes
        cells.setdefault(index, {})[column] = text
    rows = []
    for index in sorted(cells):
        values = [cells[index].get(c, "") for c in order]
        name = next((n for n in _MODEL_NAMES if any(v.endswith(n) for v in values)), "")
        if name:
            rows.append([name, *values])
    return ["model", *names], rows

"""The pitfall gallery against a real tracking server: precision and recall of the tool.

Every buggy project must be flagged with its expected finding ids and every fixed one
must pass, checked through the server's REST API rather than the Python client.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from mlflow_sanity.project.gallery import CORRECTED, EXPECTED, run_gallery, table

pytestmark = pytest.mark.e2e
PROJECTS = Path(__file__).resolve().parent.parent / "projects"


def _rest(server: str, path: str, payload: dict) -> dict:
    request = urllib.request.Request(
        f"{server}/api/2.0/mlflow/{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def gallery(mlflow_server):
    import mlflow

    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # project subprocesses inherit it
        mp.setenv("MLFLOW_SANITY_PROVE_CAUSES", "auto")  # the users' default (the suite's is off)
        # `mlflow run --env-manager local` runs `python` from PATH: make it this interpreter.
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        mlflow.set_tracking_uri(mlflow_server)
        try:
            outcomes = run_gallery(PROJECTS, "gallery-e2e", jobs=2)
        finally:
            mlflow.set_tracking_uri(previous)
    print("\n" + table(outcomes))
    return outcomes


def test_every_scenario_has_both_variants(gallery):
    assert {(o.scenario, o.variant) for o in gallery} == {
        (s, v) for s in EXPECTED for v in ("buggy", "fixed")
    }


def test_gallery_precision_and_recall_via_rest(gallery, mlflow_server):
    query = urllib.parse.urlencode({"experiment_name": "gallery-e2e"})
    with urllib.request.urlopen(
        f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?{query}"
    ) as r:
        exp_id = json.load(r)["experiment"]["experiment_id"]
    runs = _rest(mlflow_server, "runs/search", {"experiment_ids": [exp_id], "max_results": 100})
    tags = {
        run["info"]["run_id"]: {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        for run in runs["runs"]
    }
    problems = []
    for o in gallery:
        t = tags[o.run_id]
        flagged = set(filter(None, t.get("sanity.findings", "").split(",")))
        if o.variant == "buggy":
            if (
                t.get("sanity.status") not in ("warn", "fail")
                or not EXPECTED[o.scenario] <= flagged
            ):
                problems.append(f"{o.scenario}/buggy missed: {t.get('sanity.status')} {flagged}")
            if o.scenario in CORRECTED and not t.get("sanity.corrected"):
                problems.append(f"{o.scenario}/buggy has no sanity.corrected tag")
        elif t.get("sanity.status") != "pass" or flagged:
            problems.append(f"{o.scenario}/fixed false alarm: {t.get('sanity.status')} {flagged}")
    assert not problems, "\n".join(problems)


def test_stuck_accuracy_shows_a_proven_cause_and_its_child_runs(gallery, mlflow_server):
    """The buggy ``stuck_accuracy`` fit tests its causes: each experiment's two arms are
    child runs of the fit's run, tagged with the finding they test."""
    run_id = next(
        o.run_id for o in gallery if (o.scenario, o.variant) == ("stuck_accuracy", "buggy")
    )
    query = urllib.parse.urlencode({"run_id": run_id})
    with urllib.request.urlopen(f"{mlflow_server}/api/2.0/mlflow/runs/get?{query}") as r:
        run = json.load(r)["run"]
    children = _rest(
        mlflow_server,
        "runs/search",
        {
            "experiment_ids": [run["info"]["experiment_id"]],
            "filter": f"tags.mlflow.parentRunId = '{run_id}'",
            "max_results": 50,
        },
    ).get("runs", [])
    arms: dict[str, set[str]] = {}
    for child in children:
        tags = {t["key"]: t["value"] for t in child["data"].get("tags", [])}
        for finding in tags.get("sanity.proof", "").split(","):  # a shared control: several
            arms.setdefault(finding, set()).add(tags.get("sanity.proof.arm", ""))
    assert arms.get("unscaled_inputs") == {"control", "remedy"}, arms

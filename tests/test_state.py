"""The carried state of a report (core/state.py): typed, versioned, its own report.json section."""

from __future__ import annotations

import json

from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.state import STATE_VERSION, CarriedState

# A report.json as written before the "state" section: the bookkeeping sat in "inputs".
OLD_REPORT_JSON = """
{
  "version": "0.9.0",
  "status": "warn",
  "flagged": ["imbalance_collapse"],
  "corrected": null,
  "coverage": "full",
  "not_checked": [],
  "findings": [
    {"id": "imbalance_collapse", "severity": "warn", "message": "m", "evidence": {},
     "remedy": "", "source": "model.evaluate #1"}
  ],
  "metrics": {"accuracy": 0.9},
  "inputs": {
    "source": "model.evaluate",
    "evaluated_on": "evaluation data",
    "metric_prefix": "evaluate/1/",
    "metric_names": {"": {"data": "validation data"}, "evaluate/1/": {"data": "evaluation data"}},
    "evaluate_calls": [{"call": "model.evaluate #1", "status": "warn",
                        "flagged": ["imbalance_collapse"]}],
    "synced_spool_entries": ["abc", "def"]
  },
  "tables": {}
}
"""


def test_old_report_json_moves_its_state_out_of_inputs():
    report = Report.from_dict(json.loads(OLD_REPORT_JSON))
    assert report.state.metric_prefix == "evaluate/1/"
    assert set(report.state.metric_names) == {"", "evaluate/1/"}
    assert report.state.calls["evaluate"][0]["call"] == "model.evaluate #1"
    assert report.state.synced_spool_entries == ["abc", "def"]
    # provenance stays where it was; no state key is left among the inputs
    assert report.inputs["source"] == "model.evaluate"
    assert report.inputs["evaluated_on"] == "evaluation data"
    for key in ("metric_prefix", "metric_names", "evaluate_calls", "synced_spool_entries"):
        assert key not in report.inputs
    written = report.to_dict()
    assert written["state"]["version"] == STATE_VERSION
    assert written["state"]["calls"]["evaluate"][0]["flagged"] == ["imbalance_collapse"]
    again = Report.from_dict(json.loads(json.dumps(written)))
    assert again.state == report.state
    assert again.inputs == report.inputs


def test_a_report_without_state_loads_empty_and_writes_only_the_version():
    report = Report.from_dict({"findings": [], "inputs": {"source": "evaluator"}})
    assert report.state.empty
    assert report.state.metric_names is None  # never recorded, not "no claims"
    assert report.to_dict()["state"] == {"version": STATE_VERSION}
    # a key that only ends like the old one, without call records, stays provenance
    kept = Report.from_dict({"inputs": {"n_calls": 3, "warmup_calls": [1, 2]}})
    assert kept.inputs == {"n_calls": 3, "warmup_calls": [1, 2]}
    assert kept.state.calls == {}


def test_damaged_state_section_loads_as_absent():
    state = CarriedState.from_dict(
        {"version": "x", "metric_names": [1], "calls": "no", "synced_spool_entries": 4}
    )
    assert state == CarriedState()


def test_merge_keeps_the_newer_fact_and_every_scope():
    older = CarriedState(
        metric_prefix="",
        metric_names={"": {"data": "validation data"}},
        calls={"evaluate": [{"call": "model.evaluate #1"}]},
        synced_spool_entries=["a"],
    )
    newer = CarriedState(calls={"other": [{"call": "x #1"}]})
    merged = Report(state=older).merge(Report(state=newer)).state
    assert merged.metric_prefix == "" and merged.metric_names == older.metric_names
    assert set(merged.calls) == {"evaluate", "other"}
    assert merged.synced_spool_entries == ["a"]
    newest = CarriedState(metric_prefix="eval/", synced_spool_entries=["a", "b"])
    merged = Report(state=older).merge(Report(state=newest)).state
    assert merged.metric_prefix == "eval/"
    assert merged.synced_spool_entries == ["a", "b"]
    # the merge copies: changing the merged state leaves both sources alone
    merged.calls["evaluate"].append({"call": "model.evaluate #2"})
    assert len(older.calls["evaluate"]) == 1

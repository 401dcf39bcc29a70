"""Report merging: what one run shows when autolog and the evaluator both wrote to it."""

from mlflow_sanity import Finding, Report, Severity


def _report(*findings):
    return Report(findings=[Finding(i, s, m) for i, s, m in findings])


def test_merge_keeps_the_worst_verdict_and_newer_evidence_on_ties():
    autolog = _report(
        ("overfitting", Severity.WARN, "validation gap"),
        ("accuracy_at_baseline", Severity.FAIL, "on 252 validation rows"),
        ("perfect_score", Severity.PASSED, "none"),
    )
    evaluator = _report(
        ("accuracy_at_baseline", Severity.FAIL, "on 540 test rows"),
        ("perfect_score", Severity.WARN, "accuracy 1.0"),
        ("overfitting", Severity.PASSED, "not measured here"),
    )
    merged = autolog.merge(evaluator)
    by_id = {f.id: f for f in merged.findings}
    assert by_id["accuracy_at_baseline"].message == "on 540 test rows"  # tie: newer wins
    assert by_id["overfitting"].severity is Severity.WARN  # worse verdict survives
    assert by_id["perfect_score"].severity is Severity.WARN
    assert merged.status == "fail"
    assert merged.flagged_ids == ["accuracy_at_baseline", "overfitting", "perfect_score"]


def test_status_counts_info_as_pass():
    assert _report(("class_imbalance", Severity.INFO, "context")).status == "pass"
    assert Report().status == "pass"


def test_severity_level_is_the_status_as_a_number():
    assert [s.level for s in Severity] == [0, 0, 1, 2]  # pass, info, warn, fail
    assert [s.status for s in Severity] == ["pass", "pass", "warn", "fail"]
    assert Severity.worst("pass", None, "info").status == "pass"
    assert Severity.worst("warn", "fail", "pass") is Severity.FAIL
    assert _report().status_level == 0
    assert _report(("a", Severity.INFO, "")).status_level == 0
    warn = _report(("a", Severity.WARN, ""), ("b", Severity.INFO, ""))
    assert (warn.status, warn.status_level) == ("warn", 1)
    assert _report(("a", Severity.FAIL, ""), ("b", Severity.WARN, "")).status_level == 2


def test_the_verdict_is_the_reports_properties_derived_once_and_named_by_call():
    """Tags, description and HTML read ``Report.verdict`` (via ``report.calls.verdict_of``):
    it must say what the properties say, and name the call of each finding and of the
    corrected figure when the run holds several calls."""
    from mlflow_sanity.core.findings import Corrected, NotChecked
    from mlflow_sanity.report.calls import verdict_of

    figure = Corrected("val_accuracy", 0.87, 0.69, "the epoch EarlyStopping restored")
    report = Report(
        findings=[
            Finding("overfitting", Severity.WARN, "gap", source="autolog", corrected=figure),
            Finding("eval_is_train", Severity.FAIL, "same rows", source="model.evaluate #2"),
            Finding("class_imbalance", Severity.INFO, "context", source="autolog"),
        ],
        skipped=[NotChecked("dead_units", "no probe", call="fit")],
    )
    found = report.verdict()
    assert (found.status, found.level, found.flagged_ids) == ("fail", 2, report.flagged_ids)
    assert list(found.flagged) == report.flagged and found.coverage == report.coverage
    assert found.not_checked == report.not_checked and found.gaps == report.skipped_by_gap
    assert found.corrected == report.corrected_text and found.several_calls
    assert [f.id for f in found.ranked] == ["eval_is_train", "overfitting", "class_imbalance"]
    told = verdict_of(report)
    assert told.where["eval_is_train"] == "model.evaluate #2"
    assert told.corrected == f"{report.corrected_text[:-1]}; fit)"
    assert not Report().verdict().several_calls and verdict_of(Report()).corrected is None

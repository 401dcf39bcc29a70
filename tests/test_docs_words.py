"""Words a user can follow: every finding names the call and the data it is about, the
headline says which number it is, console reasons are whole sentences, a report prints
as a summary, and the scaler message says what the user's split let the scaler see."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from mlflow_sanity import check_predictions
from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Corrected, Finding, Provenance, Report, Severity
from mlflow_sanity.core.splits import Split
from mlflow_sanity.pipeline import build_report
from mlflow_sanity.report import render_html
from mlflow_sanity.report.calls import call_of, headline_of, verdict_of
from mlflow_sanity.report.console import MAX_REASONS, first_sentence, summary_lines
from mlflow_sanity.report.markdown import note_section, terminal_summary


def _fit_and_evaluate() -> Report:
    """A run's merged report: a fit (its validation rows, its settings) and model.evaluate #2."""
    figure = Corrected("val_accuracy", 0.87, 0.69, "the epoch EarlyStopping restored")
    return Report(
        findings=[
            Finding(
                "accuracy_at_baseline",
                Severity.FAIL,
                "Accuracy 0.9 is the baseline.",
                source="autolog",
            ),
            Finding(
                "metric_disagreement",
                Severity.WARN,
                "val_accuracy is not the model's.",
                source="autolog",
                corrected=figure,
            ),
            Finding("overfitting", Severity.WARN, "The gap grew.", source="autolog"),
            Finding(
                "eval_is_train",
                Severity.FAIL,
                "The rows are training rows.",
                source="model.evaluate #2",
            ),
        ],
        metrics={"accuracy": 0.851},
        provenance=Provenance(source="model.evaluate", call="model.evaluate #2"),
    )


def test_each_finding_names_its_call_and_data():
    report = _fit_and_evaluate()
    calls = {f.id: call_of(f, report) for f in report.findings}
    assert calls == {
        "accuracy_at_baseline": "fit, validation rows",  # judges rows
        "metric_disagreement": "fit",  # judges the fit's logged numbers
        "overfitting": "fit",
        "eval_is_train": "model.evaluate #2",
    }
    training = Finding(
        "prediction_collapse",
        Severity.FAIL,
        "m",
        {"evaluated_on": "training data"},
        source="autolog",
    )
    assert call_of(training) == "fit, training rows"
    evaluator = Report(
        [Finding("class_imbalance", Severity.WARN, "m", source="evaluator")],
        provenance=Provenance(source="evaluator", call="mlflow.models.evaluate", dataset="eval"),
    )
    assert call_of(evaluator.findings[0], evaluator) == "mlflow.models.evaluate on 'eval'"
    unnamed = Report(
        evaluator.findings, provenance=Provenance(source="evaluator", dataset="dataset")
    )
    assert call_of(unnamed.findings[0], unnamed) == "mlflow.models.evaluate on its dataset"
    assert call_of(Finding("x", Severity.WARN, "m", source="python")) == ""


def test_a_description_with_a_fit_and_an_evaluate_names_each_findings_call():
    note = note_section(_fit_and_evaluate())
    bullets = [line for line in note.splitlines() if line.startswith("- **")]
    assert len(bullets) == 4
    assert "`accuracy_at_baseline` (fit, validation rows):" in note
    assert "`overfitting` (fit):" in note and "`eval_is_train` (model.evaluate #2):" in note
    # the headline says which number it is, and the corrected figure which one it corrects
    assert "Accuracy 0.851 (model.evaluate #2) is not trustworthy" in note
    assert (
        "**Corrected:** val\\_accuracy 0.87 → 0.69 (the epoch EarlyStopping restored; fit)" in note
    )
    terminal = terminal_summary(_fit_and_evaluate())
    assert "[fail] eval_is_train (model.evaluate #2):" in terminal
    assert "[fail] accuracy_at_baseline (fit, validation rows):" in terminal
    html = render_html(_fit_and_evaluate())
    assert "<i>(model.evaluate #2)</i>" in html and "<td>fit, validation rows</td>" in html


def test_the_headline_and_corrected_line_of_a_single_call_stay_plain():
    report = check_predictions([0] * 95 + [1] * 5, [0] * 100)
    assert verdict_of(report).corrected == report.corrected_text  # one call: nothing to tell apart
    assert "Accuracy 0.950 is not trustworthy" in note_section(report)
    assert headline_of(Provenance(source="autolog", call="fit", evaluated_on="training data")) == (
        "fit, training rows"
    )


def test_console_reasons_are_whole_sentences_for_every_listed_id():
    long = "Recall of class 'a' is 0.00 (5 rows): " + "x" * 300 + ". Second sentence. Third."
    assert first_sentence(long) == long.split(" Second")[0]
    assert (
        first_sentence("Accuracy 0.900 is 0.9 of e.g. rows") == "Accuracy 0.900 is 0.9 of e.g. rows"
    )
    report = _fit_and_evaluate()
    report.findings[0] = Finding("accuracy_at_baseline", Severity.FAIL, long, source="autolog")
    lines = summary_lines(report, "r1", "evaluate", "sqlite:///mlflow.db")
    text = "\n".join(lines)
    assert "…" not in text and "Second sentence" not in text and ("x" * 300 + ".") in text
    listed = lines[1].split("(", 1)[1].rstrip(")").split(", ")  # "this evaluate is FAIL (ids)"
    for finding_id in listed:  # every id the summary lists is explained on a line of its own
        assert any(line.strip().startswith("[") and f"] {finding_id}" in line for line in lines)
    assert "mlflow-sanity report r1" in text


def test_a_long_summary_counts_the_rest_and_points_to_the_report():
    findings = [Finding(f"f{i}", Severity.WARN, f"Reason {i}.", source="autolog") for i in range(6)]
    lines = summary_lines(Report(findings), "r1", "fit", "sqlite:///mlflow.db")
    assert sum(line.startswith("  [warn]") for line in lines) == MAX_REASONS
    assert lines[0].endswith("is WARN (f0, f1, f2, f3, 2 more)")  # only explained ids named
    assert any("2 more finding(s)" in line and "mlflow-sanity report r1" in line for line in lines)


def test_a_report_prints_as_a_summary_and_renders_as_html():
    report = check_predictions([0] * 95 + [1] * 5, [0] * 100)
    text = str(report)
    assert text.startswith("mlflow-sanity: FAIL") and "read instead: accuracy 0.95 →" in text
    assert "[fail] prediction_collapse: The model predicts '0'" in text
    assert len(repr(report)) < 200 and repr(report).startswith("Report(status='fail'")
    html = report._repr_html_()
    assert html.startswith("<div") and "mlflow-sanity: FAIL" in html
    clean = check_predictions([0, 1] * 50, [0, 1] * 45 + [1, 0] * 5)  # 90% right
    assert "nothing flagged" in str(clean)


def _standardised_then_split(seed: int = 0):
    """Split first, then a scaler fitted on all the training rows, then validation_split:
    Keras takes the validation rows from the tail of the rows the scaler saw."""
    rng = np.random.default_rng(seed)
    x = StandardScaler().fit_transform(rng.normal(3.0, 2.0, size=(500, 5)))
    y = (x[:, 0] + rng.normal(0, 1, 500) > 0).astype(int)
    return x[:400], y[:400], x[400:], y[400:]


def test_the_scaler_message_says_it_saw_the_validation_rows_at_a_fit():
    x_tr, y_tr, x_val, y_val = _standardised_then_split()
    ctx = Context(train=Split(x_tr, y_tr), test=Split(x_val, y_val, "validation data"))
    found = build_report(ctx, source="autolog").get("preprocessing_leakage")
    assert found.severity is Severity.WARN
    assert "the scaler saw the validation rows" in found.message
    assert "fitted before the split" not in found.message
    at_test = Context(train=Split(x_tr, y_tr), test=Split(x_val, y_val, "test data"))
    message = build_report(at_test, source="python").get("preprocessing_leakage").message
    assert "fitted before the split (it saw the evaluation rows)" in message


def test_the_scaler_fitted_on_training_rows_only_is_not_flagged():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(500, 5))
    scaler = StandardScaler().fit(x[:400])
    y = (x[:, 0] > 3).astype(int)
    ctx = Context(
        train=Split(scaler.transform(x[:400]), y[:400]),
        test=Split(scaler.transform(x[400:]), y[400:], "validation data"),
    )
    found = build_report(ctx, source="autolog").get("preprocessing_leakage")
    assert found.severity is Severity.PASSED


@pytest.mark.keras
def test_a_fit_and_an_evaluate_on_one_run_name_each_findings_call(keras, sanity_on, caplog):
    import mlflow

    from mlflow_sanity.tracking.reports import read_report

    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    x = (rng.normal(size=(300, 4)) + y[:, None]).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
    with caplog.at_level(logging.WARNING, logger="mlflow_sanity"):
        model.evaluate(x[:200], y[:200], verbose=0)  # training rows
    run_id = mlflow.last_active_run().info.run_id
    note = mlflow.get_run(run_id).data.tags["mlflow.note.content"]
    bullets = [line for line in note.splitlines() if line.startswith("- **")]
    assert bullets and "`eval_is_train` (model.evaluate #1)" in note
    for line in bullets:  # every finding says which call it is about
        assert "` (fit" in line or "` (model.evaluate #1)" in line, line
    report = read_report(run_id)
    if {f.source for f in report.flagged} > {"model.evaluate #1"}:
        assert "(model.evaluate #1) is not trustworthy" in note  # which number the headline is
    said = caplog.text
    assert "this evaluate is FAIL" in said and "…" not in said
    assert f"mlflow-sanity report {run_id}" in said

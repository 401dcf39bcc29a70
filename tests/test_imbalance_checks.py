"""Every evaluation-set check: the case it must flag, and the healthy case it must not."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_sanity import Severity, check_predictions
from mlflow_sanity.checks import REGISTRY

rng = np.random.default_rng(7)


def healthy(n=400, k=2, acc=0.9, seed=0):
    """Balanced labels, a model that is right ``acc`` of the time, calibrated-ish probabilities."""
    r = np.random.default_rng(seed)
    y = np.arange(n) % k
    right = r.random(n) < acc
    pred = np.where(right, y, (y + r.integers(1, k, n)) % k)
    proba = np.full((n, k), (1 - acc) / (k - 1))
    proba[np.arange(n), pred] = acc
    return y, pred, proba


def severities(report):
    return {f.id: f.severity for f in report.findings}


def test_seed_situation_collapse_fails_with_the_three_findings():
    y = np.array([0] * 95 + [1] * 5)
    report = check_predictions(y, np.zeros(100, int))
    assert report.status == "fail"
    assert report.flagged_ids == [
        "accuracy_at_baseline",
        "minority_class_missed",
        "prediction_collapse",
    ]


def test_single_class_eval_fails():
    report = check_predictions(np.zeros(50, int), np.zeros(50, int), labels=[0, 1])
    assert report.status == "fail"
    assert severities(report)["single_class_eval"] is Severity.FAIL


@pytest.mark.parametrize("k", [2, 3, 5])
def test_healthy_model_passes_every_check(k):
    y, pred, proba = healthy(k=k)
    report = check_predictions(y, pred, proba)
    assert report.status == "pass", report.flagged
    assert report.flagged_ids == []
    ran = {f.id for f in report.findings}
    assert ran == {
        c for c, chk in REGISTRY.items() if chk.judges_predictions and set(chk.requires) <= {"eval"}
    }
    assert all(f.evidence for f in report.findings)  # measured even when passing


def test_class_imbalance_is_context_unless_extreme():
    y = np.array([0] * 92 + [1] * 8)
    pred = y.copy()
    pred[:2] = 1  # a good model on imbalanced data
    sev = severities(check_predictions(y, pred))
    assert sev["class_imbalance"] is Severity.INFO
    assert sev["minority_class_missed"] is Severity.PASSED
    y = np.array([0] * 995 + [1] * 5)
    assert severities(check_predictions(y, y))["class_imbalance"] is Severity.WARN


def test_near_collapse_warns_but_good_model_on_skewed_data_does_not():
    y = np.array([0] * 900 + [1] * 100)
    pred = np.zeros(1000, int)
    pred[900:903] = 1  # predicts class 1 for 3 of 100: 3% of its rate
    assert severities(check_predictions(y, pred))["prediction_collapse"] is Severity.WARN
    good = y.copy()
    good[:20] = 1
    assert severities(check_predictions(y, good))["prediction_collapse"] is Severity.PASSED


def test_minority_class_missed_levels():
    y = np.array([0] * 80 + [1] * 20)
    pred = np.zeros(100, int)
    pred[80:83] = 1  # recall 0.15
    assert severities(check_predictions(y, pred))["minority_class_missed"] is Severity.WARN
    pred[80:95] = 1  # recall 0.75
    assert severities(check_predictions(y, pred))["minority_class_missed"] is Severity.PASSED
    tiny = np.array([0] * 97 + [1] * 3)  # too few rows to call a miss a failure
    assert (
        severities(check_predictions(tiny, np.zeros(100, int)))["minority_class_missed"]
        is Severity.INFO
    )


def test_accuracy_above_baseline_but_not_significant_warns():
    y = np.array([0] * 14 + [1] * 6)
    pred = y.copy()
    pred[[0, 14, 15, 16]] = 1 - pred[[0, 14, 15, 16]]  # 16/20 = 0.8 vs baseline 0.7
    f = check_predictions(y, pred).get("accuracy_at_baseline")
    assert f.severity is Severity.WARN
    assert f.evidence["p_value"] > 0.05


def test_small_eval_set_and_perfect_score():
    y = np.array([0, 1] * 15)
    sev = severities(check_predictions(y, y))
    assert sev["small_eval_set"] is Severity.WARN
    assert sev["perfect_score"] is Severity.WARN
    y, pred, _ = healthy(n=30, acc=0.8)
    assert severities(check_predictions(y, pred))["small_eval_set"] is Severity.WARN
    y, pred, _ = healthy(n=1000, acc=0.8)
    assert severities(check_predictions(y, pred))["small_eval_set"] is Severity.PASSED


def test_perfect_auc_is_flagged():
    y = np.array([0, 1] * 100)
    score = y * 0.4 + 0.3  # separable but threshold 0.5 errs on nothing... shift it
    score = np.where(y == 1, 0.45, 0.2)  # AUC 1.0 while accuracy < 1
    report = check_predictions(y, proba=score)
    f = report.get("perfect_score")
    assert f.severity is Severity.WARN and "roc_auc" in f.message


def test_uncalibrated_overconfident_model_warns():
    y, pred, _ = healthy(n=500, acc=0.7)
    overconfident = np.where(pred == 1, 0.99, 0.01)
    assert severities(check_predictions(y, proba=overconfident))["uncalibrated"] is Severity.WARN
    _, _, calibrated = healthy(n=500, acc=0.7)
    assert severities(check_predictions(y, pred, calibrated))["uncalibrated"] is Severity.PASSED


def test_thresholds_override_and_disable():
    y = np.array([0] * 80 + [1] * 20)
    pred = np.zeros(100, int)
    pred[80:83] = 1
    report = check_predictions(
        y,
        pred,
        thresholds={"minority_class_missed": {"warn_recall": 0.1}},
        disable=["small_eval_set"],
    )
    assert report.get("minority_class_missed").severity is Severity.PASSED
    assert report.get("small_eval_set") is None


def test_unknown_threshold_or_id_is_rejected():
    with pytest.raises(ValueError, match="unknown finding id"):
        check_predictions([0, 1], [0, 1], disable=["no_such_check"])
    with pytest.raises(ValueError, match="unknown threshold"):
        check_predictions([0, 1], [0, 1], thresholds={"perfect_score": {"nope": 1}})


def _break_uncalibrated(monkeypatch):
    from mlflow_sanity.checks import registry

    chk = registry.REGISTRY["uncalibrated"]

    def boom(ctx, t):
        raise RuntimeError("kaput")

    monkeypatch.setitem(
        registry.REGISTRY, "uncalibrated", chk.__class__(**{**chk.__dict__, "fn": boom})
    )


def test_crashing_check_is_not_checked_not_an_exception(monkeypatch, lenient):
    _break_uncalibrated(monkeypatch)
    y, pred, proba = healthy()
    report = check_predictions(y, pred, proba)
    assert report.get("uncalibrated") is None
    assert report.coverage == "partial: uncalibrated (crashed: RuntimeError: kaput)"


def test_crashing_check_raises_in_strict_mode(monkeypatch):
    """The suite runs strict: a bug in a check is a red test, not a quiet info finding."""
    _break_uncalibrated(monkeypatch)
    y, pred, proba = healthy()
    with pytest.raises(RuntimeError, match="kaput"):
        check_predictions(y, pred, proba)


def test_informative_model_below_baseline_warns_instead_of_failing():
    # Balanced training on 85/15 data: recall 0.8 on both classes, accuracy 0.8 < 0.85.
    y = np.array([0] * 850 + [1] * 150)
    pred = y.copy()
    pred[:170] = 1  # 20% of the majority called minority
    pred[850:880] = 0  # 20% of the minority missed
    f = check_predictions(y, pred).get("accuracy_at_baseline")
    assert f.severity is Severity.WARN
    assert "wrong headline" in f.message
    # Random guessing at the same rates carries no information: that is a failure.
    rng = np.random.default_rng(0)
    guess = (rng.random(1000) < 0.2).astype(int)
    assert check_predictions(y, guess).get("accuracy_at_baseline").severity is Severity.FAIL


def test_perfect_score_names_its_threshold_and_the_values():
    y = np.array([0, 1] * 100)
    pred = y.copy()
    pred[:2] = 1 - pred[:2]  # accuracy 0.99
    f = check_predictions(y, pred, thresholds={"perfect_score": {"score": 0.99}}).get(
        "perfect_score"
    )
    assert f.severity is Severity.WARN
    assert "accuracy = 0.99" in f.message and "1.0" not in f.message
    assert check_predictions(y, pred).get("perfect_score").severity is Severity.PASSED


def test_thresholds_of_checks_that_do_not_apply_are_still_validated():
    # overfitting never runs on bare predictions, yet a typo in its thresholds is an error
    with pytest.raises(ValueError, match=r"unknown threshold.*overfitting.*known: \["):
        check_predictions([0, 1], [0, 1], thresholds={"overfitting": {"no_such_name": 1}})
    with pytest.raises(ValueError, match="thresholds must look like"):
        check_predictions([0, 1], [0, 1], thresholds={"overfitting": 0.1})


# -- issue 13: calibrated thresholds ----------------------------------------------------------


def test_class_imbalance_is_judged_against_the_number_of_classes():
    # 200 balanced classes: each is 0.5% of the rows, which is no imbalance at all.
    y = np.repeat(np.arange(200), 6)
    f = check_predictions(y, y).get("class_imbalance")
    assert f.severity is Severity.PASSED
    assert f.evidence["rarest_share"] == 0.005 and f.evidence["rarest_share_vs_uniform"] == 1.0
    # 10 classes, one at 1.5% of the rows (0.15 of its 10% fair share): info
    y = np.concatenate([np.repeat(np.arange(9), 109), [9] * 15])
    assert check_predictions(y, y).get("class_imbalance").severity is Severity.INFO
    # ... and at 0.1% (0.01 of its fair share): warn
    y = np.concatenate([np.repeat(np.arange(9), 1110), [9] * 10])
    assert check_predictions(y, y).get("class_imbalance").severity is Severity.WARN


@pytest.mark.parametrize(
    ("minority", "expected"),
    [(10, Severity.PASSED), (9, Severity.INFO), (1, Severity.INFO), (0.9, Severity.WARN)],
)
def test_binary_class_imbalance_thresholds_are_unchanged(minority, expected):
    # binary: info below 10% of the rows, warn below 1%, exactly as before issue 13
    n = 1000
    k = int(minority * n / 100)
    y = np.array([0] * (n - k) + [1] * k)
    assert check_predictions(y, y).get("class_imbalance").severity is expected


def test_uncalibrated_says_the_direction_and_under_confidence_is_info():
    # A healthy 3-class model after short training: right 85% of the time, 55% confident.
    r = np.random.default_rng(3)
    n, k = 600, 3
    y = np.arange(n) % k
    right = r.random(n) < 0.85
    pred = np.where(right, y, (y + 1) % k)
    proba = np.full((n, k), 0.225)
    proba[np.arange(n), pred] = 0.55
    f = check_predictions(y, pred, proba).get("uncalibrated")
    assert f.evidence["ece"] > 0.15
    assert f.severity is Severity.INFO
    assert f.evidence["direction"] == "under-confident" and "under-confident" in f.message
    # 70% right at 99% confidence misleads: a warning that names the direction.
    pred = np.where(r.random(n) < 0.7, y, (y + 1) % k)
    proba = np.full((n, k), 0.005)
    proba[np.arange(n), pred] = 0.99
    f = check_predictions(y, pred, proba).get("uncalibrated")
    assert f.severity is Severity.WARN and f.evidence["direction"] == "over-confident"
    assert "over-confident" in f.message
    assert f.evidence["overconfidence"] + f.evidence["underconfidence"] == pytest.approx(
        f.evidence["ece"], abs=1e-3
    )


def test_calibration_gap_splits_the_ece():
    from mlflow_sanity.core.metrics import calibration_gap, expected_calibration_error

    r = np.random.default_rng(0)
    proba = r.dirichlet(np.ones(4), 500)
    y = r.integers(0, 4, 500)
    over, under = calibration_gap(proba, y)
    assert over >= 0 and under >= 0
    assert over + under == pytest.approx(expected_calibration_error(proba, y))


def _separable(n=200, gap=0.8):
    y = np.array([0, 1] * (n // 2))
    return y, np.where(y == 1, 0.5 + gap / 2, 0.5 - gap / 2)


def _easy(r, y, d=16):
    """Two classes 6 standard deviations apart along the sum of ``d`` features, while
    no single feature separates them (each is a weak signal: ROC-AUC about 0.85)."""
    return r.normal(size=(len(y), d)) + np.where(y == 1, 0.75, -0.75)[:, None]


def test_perfect_score_margin():
    from mlflow_sanity.checks.imbalance import separation_margin
    from mlflow_sanity.core.metrics import classify

    y, score = _separable(gap=0.8)
    assert separation_margin(classify(y, proba=score)) == pytest.approx(0.8)
    # multiclass: the worst class's own-rows minimum minus its other-rows maximum
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]])
    assert separation_margin(classify([0, 0, 1, 2], proba=proba)) == pytest.approx(0.4)
    assert separation_margin(classify([0, 1], [0, 1])) is None  # no probabilities


def test_perfect_score_is_info_only_when_leakage_ran_clean_and_the_margin_is_wide():
    import pandas as pd

    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.core.splits import Split
    from mlflow_sanity.pipeline import build_report

    r = np.random.default_rng(1)

    def report(score, y, x_test, x_train, y_train):
        ctx = Context(
            eval=classify(y, proba=score),
            test=Split(pd.DataFrame(x_test), y, "evaluation data"),
            train=None if x_train is None else Split(pd.DataFrame(x_train), y_train, "train"),
        )
        return build_report(ctx)

    y, score = _separable(n=200, gap=0.8)
    # No feature alone separates the classes, their sum does: an honest easy task.
    x_test = _easy(r, y)
    y_train = np.array([0, 1] * 300)
    x_train = _easy(r, y_train)
    rep = report(score, y, x_test, x_train, y_train)
    f = rep.get("perfect_score")
    assert f.severity is Severity.INFO, f.message
    assert f.evidence["leakage_checks"]["train_test_overlap"] == "pass"
    assert f.evidence["separation_margin"] == pytest.approx(0.8)
    assert rep.status == "pass", rep.flagged
    # Without training data the leakage checks cannot clear it: a warning, saying why.
    f = report(score, y, x_test, None, None).get("perfect_score")
    assert f.severity is Severity.WARN and "could not run" in f.message
    # A narrow margin stays a warning.
    y, narrow = _separable(n=200, gap=0.02)
    f = report(narrow, y, x_test, x_train, y_train).get("perfect_score")
    assert f.severity is Severity.WARN and "separated by only" in f.message
    # Test rows copied into the training data: the overlap check flags it, so a warning.
    leaky = report(score, y, x_test, np.vstack([x_train, x_test]), np.concatenate([y_train, y]))
    assert leaky.get("train_test_overlap").severity.flagged
    assert leaky.get("perfect_score").severity is Severity.WARN
    said = leaky.get("perfect_score").message
    assert "leakage check(s) flagged this data (" in said and "train_test_overlap" in said


def test_perfect_score_reads_the_leakage_checks_as_the_report_grades_them():
    """The user's thresholds and disabled checks reach perfect_score's judgement, and the
    leakage checks it consults run once per report."""
    import dataclasses

    import pandas as pd

    from mlflow_sanity.checks import CheckOptions, Context
    from mlflow_sanity.checks.registry import REGISTRY
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.core.splits import Split
    from mlflow_sanity.pipeline import build_report

    r = np.random.default_rng(3)
    y, score = _separable(n=200, gap=0.8)
    x_test = _easy(r, y)
    y_train = np.array([0, 1] * 300)
    x_train = np.vstack([_easy(r, y_train), x_test[:4]])  # 2% of the test rows leaked
    y_train = np.concatenate([y_train, y[:4]])

    def report(options=None):
        ctx = Context(
            eval=classify(y, proba=score),
            test=Split(pd.DataFrame(x_test), y, "evaluation data"),
            train=Split(pd.DataFrame(x_train), y_train, "train"),
        )
        return build_report(ctx, options=options)

    default = report()
    assert default.get("train_test_overlap").severity is Severity.WARN
    assert default.get("perfect_score").severity is Severity.WARN
    # The user accepts up to 5% overlap: the report's overlap finding passes, and so does
    # perfect_score's reading of it.
    tolerant = report(CheckOptions.of({"train_test_overlap": {"warn_share": 0.05}}))
    assert not tolerant.get("train_test_overlap").severity.flagged
    assert tolerant.get("perfect_score").severity is Severity.INFO, tolerant.get(
        "perfect_score"
    ).message
    # Overlap switched off: nothing measured it, so the perfect score is not cleared.
    off = report(CheckOptions.of(disable=["train_test_overlap"])).get("perfect_score")
    assert off.severity is Severity.WARN
    assert "did not clear it (train_test_overlap disabled)" in off.message

    calls = []
    original = REGISTRY["train_test_overlap"]

    def counted(ctx, limits):
        calls.append(1)
        return original.fn(ctx, limits)

    REGISTRY["train_test_overlap"] = dataclasses.replace(original, fn=counted)
    try:
        report()
    finally:
        REGISTRY["train_test_overlap"] = original
    assert len(calls) == 1


def test_perfect_score_on_few_rows_after_clean_leakage_checks_is_context():
    import pandas as pd

    from mlflow_sanity.checks import Context
    from mlflow_sanity.core.metrics import classify
    from mlflow_sanity.core.splits import Split
    from mlflow_sanity.pipeline import build_report

    r = np.random.default_rng(2)
    y, score = _separable(n=30, gap=0.9)
    x = _easy(r, y)
    y_tr = np.array([0, 1] * 60)
    x_tr = _easy(r, y_tr)
    ctx = Context(
        eval=classify(y, proba=score),
        test=Split(pd.DataFrame(x), y, "evaluation data"),
        train=Split(pd.DataFrame(x_tr), y_tr, "train"),
    )
    rep = build_report(ctx)
    assert rep.get("small_eval_set").severity is Severity.INFO
    assert "leakage checks found nothing" in rep.get("small_eval_set").message
    assert rep.status == "pass", rep.flagged

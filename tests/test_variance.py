"""Pure statistics of a seed sweep: aggregates, the two variance checks, the comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.seed_stats import (
    SeedResults,
    aggregate,
    choose_metric,
    compare_samples,
    higher_is_better,
    is_plain_accuracy,
    shared_metrics,
    spread,
)
from mlflow_sanity.pipeline import build_report


def judge(results: SeedResults, thresholds=None):
    return build_report(Context(seeds=results), thresholds=thresholds, source="seeds")


def accuracy_seeds(values, baseline=None):
    return {
        i: {"accuracy": v, **({"majority_baseline_accuracy": baseline} if baseline else {})}
        for i, v in enumerate(values)
    }


# --- aggregates ---------------------------------------------------------------------


def test_spread_matches_numpy_and_scipy():
    x = [0.81, 0.84, 0.79, 0.86, 0.83]
    sp = spread(x)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(x), scale=stats.sem(x))
    assert sp.n == 5
    assert sp.mean == pytest.approx(np.mean(x))
    assert sp.std == pytest.approx(np.std(x, ddof=1))
    assert (sp.min, sp.max) == (0.79, 0.86)
    assert (sp.ci_low, sp.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_spread_degenerate_cases():
    one = spread([0.9])
    assert one.mean == 0.9 and math.isnan(one.std) and math.isnan(one.ci_low)
    assert set(one.as_metrics("acc")) == {"seed/acc_mean", "seed/acc_min", "seed/acc_max"}
    const = spread([0.5, 0.5, 0.5])
    assert (const.std, const.ci_low, const.ci_high) == (0.0, 0.5, 0.5)
    with pytest.raises(ValueError):
        spread([])
    with pytest.raises(ValueError):
        spread([0.1, float("nan")])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=2, max_size=12))
def test_aggregate_equals_numpy(values):
    agg = aggregate([{"m": v} for v in values], n_failed=2)
    assert agg["seed/n_ok"] == len(values) and agg["seed/n_failed"] == 2
    assert agg["seed/m_mean"] == pytest.approx(np.mean(values), abs=1e-9)
    assert agg["seed/m_std"] == pytest.approx(np.std(values, ddof=1), abs=1e-9)
    assert agg["seed/m_min"] == min(values) and agg["seed/m_max"] == max(values)
    assert agg["seed/m_ci_low"] <= agg["seed/m_mean"] <= agg["seed/m_ci_high"]


def test_aggregate_only_metrics_every_seed_reports_finitely():
    per_seed = [{"a": 1.0, "b": 2.0, "c": 1.0}, {"a": 2.0, "c": float("nan")}, {"a": 3.0, "c": 1.0}]
    assert shared_metrics(per_seed) == ["a"]
    assert {k for k in aggregate(per_seed) if k.startswith("seed/a_")} == {
        f"seed/a_{s}" for s in ("mean", "std", "min", "max", "ci_low", "ci_high")
    }
    assert not any(k.startswith(("seed/b_", "seed/c_")) for k in aggregate(per_seed))


def test_metric_naming_rules():
    assert choose_metric(["loss", "val_accuracy", "accuracy"]) == "accuracy"
    assert choose_metric(["loss", "binary_accuracy"]) == "binary_accuracy"
    assert choose_metric(["loss", "macro_f1"]) == "loss"
    assert choose_metric([]) is None
    assert is_plain_accuracy("val_accuracy") and is_plain_accuracy("sanity/accuracy")
    assert not is_plain_accuracy("balanced_accuracy")
    assert not is_plain_accuracy("majority_baseline_accuracy")
    assert not higher_is_better("val_loss") and higher_is_better("macro_f1")


# --- seed_variance --------------------------------------------------------------------


def test_stable_seeds_pass_against_the_majority_baseline():
    report = judge(SeedResults("accuracy", accuracy_seeds([0.91, 0.92, 0.90, 0.93, 0.91], 0.7)))
    f = report.get("seed_variance")
    assert f.severity is Severity.PASSED, f.message
    assert f.evidence["reference_source"] == "majority baseline"
    assert f.evidence["reference"] == 0.7
    assert report.status == "pass"
    assert report.get("nondeterminism") is None  # only judged for deterministic sweeps
    assert report.get("accuracy_at_baseline") is None  # evaluation checks do not apply


def test_identical_seeds_pass():
    f = judge(SeedResults("accuracy", accuracy_seeds([0.9, 0.9, 0.9], 0.6))).get("seed_variance")
    assert f.severity is Severity.PASSED and "inf" not in f.message


def test_baseline_inside_the_seed_interval_warns():
    values = [0.74, 0.71, 0.69, 0.80, 0.72]  # mean 0.732, baseline 0.70
    f = judge(SeedResults("accuracy", accuracy_seeds(values, 0.7))).get("seed_variance")
    assert f.severity is Severity.WARN
    assert "inside the 95% interval" in f.message
    assert f.evidence["seeds_no_better_than_reference"] == [2]


def test_std_large_against_the_gap_warns_even_with_a_tight_interval():
    rng = np.random.default_rng(1)
    values = list(0.8 + 0.05 * rng.standard_normal(40))  # gap ~0.1, std ~0.05
    results = SeedResults("accuracy", accuracy_seeds(values), reference=0.7)
    f = judge(results, {"seed_variance": {"max_share_at_reference": 1.0}}).get("seed_variance")
    assert f.severity is Severity.WARN
    assert "inside" not in f.message and "of the" in f.message
    assert f.evidence["std_over_gap"] > 0.25
    relaxed = {"seed_variance": {"max_std_fraction": 1.0, "max_share_at_reference": 1.0}}
    assert judge(results, relaxed).get("seed_variance").severity is Severity.PASSED


def test_mean_no_better_than_reference_fails():
    f = judge(SeedResults("accuracy", accuracy_seeds([0.68, 0.70, 0.71], 0.7), reference=0.72)).get(
        "seed_variance"
    )
    assert f.severity is Severity.FAIL
    assert f.evidence["reference_source"] == "reference"  # the user's reference wins


def test_lower_is_better_metric_with_reference():
    seeds = {i: {"loss": v} for i, v in enumerate([0.30, 0.31, 0.29, 0.30])}
    ok = judge(SeedResults("loss", seeds, reference=0.5, higher_is_better=False))
    assert ok.get("seed_variance").severity is Severity.PASSED
    bad = judge(SeedResults("loss", seeds, reference=0.25, higher_is_better=False))
    assert bad.get("seed_variance").severity is Severity.FAIL


def test_without_reference_or_enough_seeds_it_is_context_only():
    no_ref = judge(SeedResults("macro_f1", {0: {"macro_f1": 0.7}, 1: {"macro_f1": 0.8}}))
    assert no_ref.get("seed_variance").severity is Severity.INFO
    # the majority baseline is only a reference for plain accuracy
    f1 = {0: {"macro_f1": 0.7, "majority_baseline_accuracy": 0.9}, 1: {"macro_f1": 0.72}}
    assert judge(SeedResults("macro_f1", f1)).get("seed_variance").evidence.get("reference") is None
    single = judge(SeedResults("accuracy", accuracy_seeds([0.9], 0.5), failed={1: "boom"}))
    assert single.get("seed_variance").severity is Severity.INFO
    assert single.get("seed_variance").evidence["n_failed"] == 1
    missing = judge(SeedResults("accuracy", {0: {"loss": 1.0}}))
    assert missing.get("seed_variance").severity is Severity.INFO


def test_diverged_seed_warns():
    seeds = {0: {"loss": 0.3}, 1: {"loss": float("nan")}, 2: {"loss": 0.31}}
    f = judge(SeedResults("loss", seeds, higher_is_better=False)).get("seed_variance")
    assert f.severity is Severity.WARN and "diverged" in f.message


# --- nondeterminism --------------------------------------------------------------------


def deterministic(first, repeat, error=None):
    values = {0: first, 1: {"accuracy": 0.9, "loss": 0.3}}
    return SeedResults(
        "accuracy",
        values,
        deterministic=True,
        repeat_seed=0,
        repeat=repeat,
        repeat_error=error,
    )


def test_identical_repeat_passes():
    m = {"accuracy": 0.9, "loss": 0.3125, "nan_metric": float("nan")}
    f = judge(deterministic(m, dict(m))).get("nondeterminism")
    assert f.severity is Severity.PASSED and f.evidence["differing"] == {}


def test_different_repeat_warns():
    f = judge(
        deterministic({"accuracy": 0.9, "loss": 0.3125}, {"accuracy": 0.9, "loss": 0.3127})
    ).get("nondeterminism")
    assert f.severity is Severity.WARN
    assert set(f.evidence["differing"]) == {"loss"}
    missing = judge(deterministic({"accuracy": 0.9, "loss": 0.3}, {"accuracy": 0.9}))
    assert missing.get("nondeterminism").severity is Severity.WARN


def test_repeat_that_failed_is_reported_not_judged():
    f = judge(deterministic({"accuracy": 0.9}, None, "ValueError: x")).get("nondeterminism")
    assert f.severity is Severity.INFO and "ValueError" in f.message


# --- compare -------------------------------------------------------------------------


def test_clearly_better_run_is_significant_with_exact_p_value():
    a, b = [0.90, 0.91, 0.92, 0.905, 0.915], [0.80, 0.81, 0.82, 0.805, 0.815]
    c = compare_samples(a, b, metric="accuracy")
    assert c.exact and c.p_a_beats_b == 1.0
    assert c.p_value == pytest.approx(1 / math.comb(10, 5))
    assert c.a_better and not c.b_better
    assert c.verdict.startswith("A is better")
    rev = compare_samples(b, a, metric="accuracy")
    assert not rev.a_better and rev.b_better and rev.verdict.startswith("B is better")


def test_overlapping_runs_are_not_significant():
    a, b = [0.85, 0.80, 0.90, 0.83], [0.84, 0.86, 0.79, 0.82]
    c = compare_samples(a, b, metric="accuracy")
    assert not c.a_better and not c.b_better
    assert c.verdict.startswith("No significant difference")
    assert 0.0 < c.p_a_beats_b < 1.0


def test_too_few_seeds_can_never_be_significant_and_says_so():
    c = compare_samples([0.9, 0.91, 0.92], [0.5, 0.51, 0.52], metric="accuracy")
    assert c.min_p_value == pytest.approx(0.05) and not c.a_better
    assert "run more seeds" in c.verdict


def test_lower_is_better_direction():
    c = compare_samples(
        [0.2, 0.21, 0.19, 0.2, 0.22], [0.4, 0.41, 0.39, 0.4, 0.42], metric="val_loss"
    )
    assert not c.higher_is_better and c.a_better and c.p_a_beats_b == 1.0
    with pytest.raises(ValueError):
        compare_samples([0.1], [0.2, 0.3])

"""Leakage checks on plain data: every check has a flagging case and a healthy case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from mlflow_sanity.checks import Context
from mlflow_sanity.checks.leakage import chance_share, roc_auc_columns, univariate_scores
from mlflow_sanity.core.findings import Report, Severity
from mlflow_sanity.core.fingerprint import compute
from mlflow_sanity.core.splits import ModelSelection, NormalizationStats, Split
from mlflow_sanity.pipeline import build_report

LEAKAGE = {
    "train_test_overlap",
    "eval_is_train",
    "preprocessing_leakage",
    "feature_target_leakage",
    "validation_reuse",
}


def _report(
    train=None,
    test=None,
    fingerprint=None,
    thresholds=None,
    normalization=None,
    model_selection=None,
    validation_fingerprint=None,
) -> Report:
    ctx = Context(
        train=train,
        test=test,
        fingerprint=fingerprint,
        validation_fingerprint=validation_fingerprint,
        model_selection=ModelSelection.from_dict(model_selection) if model_selection else None,
        normalization=NormalizationStats.of(**normalization)
        if isinstance(normalization, dict)
        else normalization,
    )
    return build_report(ctx, thresholds=thresholds)


def _sev(report: Report, finding_id: str) -> Severity:
    found = report.get(finding_id)
    assert found is not None, f"{finding_id} did not run: {[f.id for f in report.findings]}"
    return found.severity


def _frame(rng: np.random.Generator, n: int, d: int = 6) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(n, d)), columns=[f"f{i}" for i in range(d)])


# --------------------------------------------------------------- preprocessing_leakage


def _seed_004_data(seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((1000, 20)), rng.integers(0, 2, 1000)


def test_scaler_fitted_before_the_split_is_flagged() -> None:
    x, y = _seed_004_data()
    x_scaled = StandardScaler().fit_transform(x)  # the seed-004 mistake
    x_tr, x_te, y_tr, y_te = train_test_split(x_scaled, y, test_size=0.2, random_state=42)
    report = _report(Split(x_tr, y_tr), Split(x_te, y_te))
    assert _sev(report, "preprocessing_leakage") is Severity.WARN
    msg = report.get("preprocessing_leakage").message
    assert "fitted before the split" in msg
    assert report.flagged_ids == ["preprocessing_leakage"]


def test_scaler_fitted_on_the_training_part_is_not_flagged() -> None:
    x, y = _seed_004_data()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(x_tr)
    report = _report(Split(scaler.transform(x_tr), y_tr), Split(scaler.transform(x_te), y_te))
    assert _sev(report, "preprocessing_leakage") is Severity.PASSED
    assert not set(report.flagged_ids) & LEAKAGE


def test_float32_data_and_sample_std_still_detected() -> None:
    x, _ = _seed_004_data(1)
    x = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)  # pandas-style std
    x_tr, x_te = train_test_split(x.astype(np.float32), test_size=0.25, random_state=0)
    assert _sev(_report(Split(x_tr), Split(x_te)), "preprocessing_leakage") is Severity.WARN


def test_minmax_scaler_before_split_flagged_and_after_not() -> None:
    x, _ = _seed_004_data(2)
    leaked_tr, leaked_te = train_test_split(MinMaxScaler().fit_transform(x), random_state=0)
    assert _sev(_report(Split(leaked_tr), Split(leaked_te)), "preprocessing_leakage").flagged
    x_tr, x_te = train_test_split(x, random_state=0)
    scaler = MinMaxScaler().fit(x_tr)
    ok = _report(Split(scaler.transform(x_tr)), Split(scaler.transform(x_te)))
    assert _sev(ok, "preprocessing_leakage") is Severity.PASSED


def test_scaling_only_some_columns_before_the_split_is_flagged() -> None:
    rng = np.random.default_rng(25)
    df = _frame(rng, 800, 5) * 4 + 2
    df[["f0", "f1", "f2"]] = StandardScaler().fit_transform(df[["f0", "f1", "f2"]])
    x_tr, x_te = train_test_split(df, random_state=0)
    found = _report(Split(x_tr), Split(x_te)).get("preprocessing_leakage")
    assert found.severity is Severity.WARN
    assert "3 of 5 continuous columns" in found.message
    assert found.evidence["data"]["standardised_on_union"] == ["f0", "f1", "f2"]


def test_unscaled_data_is_not_flagged() -> None:
    rng = np.random.default_rng(3)
    report = _report(Split(_frame(rng, 500) * 3 + 7), Split(_frame(rng, 200) * 3 + 7))
    assert _sev(report, "preprocessing_leakage") is Severity.PASSED


def test_normalization_layer_statistics_from_union_flagged_from_train_not() -> None:
    x, _ = _seed_004_data(4)
    x_tr, x_te = train_test_split(x, test_size=0.2, random_state=0)
    union = np.vstack([x_tr, x_te]).astype(np.float32)  # Keras adapts in float32
    leaked = {"mean": union.mean(0), "variance": union.var(0), "layer": "normalization"}
    report = _report(Split(x_tr), Split(x_te), normalization=leaked)
    found = report.get("preprocessing_leakage")
    assert found.severity is Severity.WARN
    assert "Normalization layer 'normalization'" in found.message
    assert found.evidence["model"]["distance_to_train_plus_eval_stats"] < 1e-3
    honest = {"mean": x_tr.astype(np.float32).mean(0), "variance": x_tr.astype(np.float32).var(0)}
    ok = _report(Split(x_tr), Split(x_te), normalization=honest)
    assert _sev(ok, "preprocessing_leakage") is Severity.PASSED
    assert "adapted on the training rows" in ok.get("preprocessing_leakage").message


def test_preprocessing_check_works_from_a_fingerprint() -> None:
    x, _ = _seed_004_data(5)
    x_tr, x_te = train_test_split(StandardScaler().fit_transform(x), random_state=1)
    report = _report(test=Split(x_te), fingerprint=compute(x_tr))
    assert _sev(report, "preprocessing_leakage") is Severity.WARN


# --------------------------------------------------------------- train_test_overlap


def test_oversampling_before_the_split_is_flagged() -> None:
    rng = np.random.default_rng(6)
    x = _frame(rng, 2000)
    y = (rng.random(2000) < 0.1).astype(int)
    minority = x[y == 1]
    x_over = pd.concat([x, *([minority] * 4)], ignore_index=True)  # naive oversampling
    y_over = np.concatenate([y, np.ones(4 * len(minority), dtype=int)])
    x_tr, x_te, y_tr, y_te = train_test_split(x_over, y_over, random_state=0)
    report = _report(Split(x_tr, y_tr), Split(x_te, y_te))
    found = report.get("train_test_overlap")
    assert found.severity is Severity.FAIL
    ev = found.evidence
    assert ev["overlap_share"] > 0.05 and ev["exact_rows"] == ev["overlapping_rows"]
    assert ev["conflicting_label_rows"] == 0
    first = ev["examples"][0]
    assert x_te.loc[first["eval_row"]].equals(x_tr.loc[first["train_row"]])


def test_oversampling_after_the_split_is_not_flagged() -> None:
    rng = np.random.default_rng(7)
    x = _frame(rng, 2000)
    y = (rng.random(2000) < 0.1).astype(int)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, random_state=0)
    extra = x_tr[y_tr == 1]
    x_tr = pd.concat([x_tr, extra, extra])
    y_tr = np.concatenate([y_tr, np.ones(2 * len(extra), dtype=int)])
    report = _report(Split(x_tr, y_tr), Split(x_te, y_te))
    assert _sev(report, "train_test_overlap") is Severity.PASSED
    assert not set(report.flagged_ids) & LEAKAGE


def test_independent_split_with_repeated_categories_is_not_flagged() -> None:
    rng = np.random.default_rng(8)
    n = 3000
    df = pd.DataFrame(
        {
            "region": rng.choice(["n", "s", "e", "w"], n),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
            "seats": rng.integers(1, 4, n),
            "usage": rng.gamma(2.0, 10.0, n),
            "tenure": rng.exponential(5.0, n),
        }
    )
    y = rng.integers(0, 2, n)
    x_tr, x_te, y_tr, y_te = train_test_split(df, y, random_state=0)
    report = _report(Split(x_tr, y_tr), Split(x_te, y_te))
    assert not set(report.flagged_ids) & LEAKAGE, report.flagged_ids


def test_categorical_only_data_repeats_by_chance_and_is_not_flagged() -> None:
    rng = np.random.default_rng(9)
    df = pd.DataFrame({c: rng.choice(["a", "b", "c"], 2000) for c in "pqrs"})
    x_tr, x_te = train_test_split(df, random_state=0)
    report = _report(Split(x_tr), Split(x_te))
    found = report.get("train_test_overlap")
    assert found.severity is Severity.INFO
    assert found.evidence["overlap_share"] > 0.9
    assert "expected by chance" in found.message
    assert _sev(report, "eval_is_train") is Severity.PASSED


def test_near_duplicates_within_tolerance_found_beyond_not() -> None:
    rng = np.random.default_rng(10)
    x_tr, x_te = _frame(rng, 1000), _frame(rng, 300)
    x_te.iloc[:30] = x_tr.iloc[:30].to_numpy().astype(np.float32)  # float noise only
    report = _report(Split(x_tr), Split(x_te))
    ev = report.get("train_test_overlap").evidence
    assert report.get("train_test_overlap").severity is Severity.FAIL  # 10% > 5%
    assert ev["overlapping_rows"] == 30 and ev["exact_rows"] == 0 and ev["near_only_rows"] == 30
    far = x_te.copy()
    far.iloc[:30] = x_tr.iloc[:30].to_numpy() + 1e-3  # a real difference
    assert _sev(_report(Split(x_tr), Split(far)), "train_test_overlap") is Severity.PASSED


def test_overlap_from_a_logged_fingerprint_and_mixed_types() -> None:
    rng = np.random.default_rng(11)
    n = 400
    df = pd.DataFrame(
        {
            "name": rng.choice(["ann", "bob", None], n),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s"),
            "value": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "cat": pd.Categorical(rng.choice(["x", "y"], n)),
        }
    )
    x_tr, x_te = df.iloc[:300], df.iloc[300:].copy()
    x_te.iloc[:8] = x_tr.iloc[:8].to_numpy()  # includes NaN and None cells
    report = _report(test=Split(x_te), fingerprint=compute(x_tr))
    found = report.get("train_test_overlap")
    assert found.severity is Severity.FAIL and found.evidence["overlapping_rows"] == 8
    assert "exact_rows" not in found.evidence  # a fingerprint cannot tell exact from near


def test_overlap_thresholds_are_overridable() -> None:
    rng = np.random.default_rng(12)
    x_tr, x_te = _frame(rng, 500), _frame(rng, 100)
    x_te.iloc[:10] = x_tr.iloc[:10].to_numpy()
    assert _sev(_report(Split(x_tr), Split(x_te)), "train_test_overlap") is Severity.FAIL
    lenient = {"train_test_overlap": {"fail_share": 0.5}}
    assert _sev(_report(Split(x_tr), Split(x_te), thresholds=lenient), "train_test_overlap") is (
        Severity.WARN
    )


def test_chance_share_is_high_for_few_distinct_values_and_tiny_for_continuous() -> None:
    rng = np.random.default_rng(13)
    assert chance_share(compute(rng.integers(0, 2, size=(1000, 3)))) > 0.99
    assert chance_share(compute(rng.normal(size=(1000, 3)))) < 1e-6


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(50, 600),
    d=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    levels=st.integers(2, 5),
)
def test_honest_random_splits_are_never_flagged(n: int, d: int, seed: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, d)) * rng.uniform(0.01, 100), columns=list(range(d)))
    df["group"] = rng.integers(0, levels, n)
    x_tr, x_te = train_test_split(df, test_size=0.3, random_state=seed % 1000)
    report = _report(Split(x_tr), Split(x_te))
    assert not set(report.flagged_ids) & LEAKAGE, [f.message for f in report.flagged]


# --------------------------------------------------------------- eval_is_train


def test_evaluating_on_the_training_data_is_flagged() -> None:
    rng = np.random.default_rng(14)
    x, y = _frame(rng, 300), rng.integers(0, 2, 300)
    shuffled = x.sample(frac=1, random_state=0)
    report = _report(Split(x, y), Split(shuffled))
    found = report.get("eval_is_train")
    assert found.severity is Severity.FAIL and "identical dataset digest" in found.message
    subset = _report(Split(x, y), Split(x.iloc[:100]))
    assert _sev(subset, "eval_is_train") is Severity.FAIL
    assert _sev(_report(Split(x, y), Split(_frame(rng, 100))), "eval_is_train") is Severity.PASSED


def test_eval_is_train_from_fingerprint_with_array_and_frame() -> None:
    rng = np.random.default_rng(15)
    x = rng.normal(size=(200, 4))
    fp = compute(x, rng.integers(0, 2, 200))  # autolog fingerprints NumPy arrays
    frame = pd.DataFrame(x, columns=list("abcd"))  # the evaluator sees named columns
    assert _sev(_report(test=Split(frame), fingerprint=fp), "eval_is_train") is Severity.FAIL


def _repeating_categories(levels: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(40)
    return pd.DataFrame(rng.integers(0, levels, size=(400, 3)), columns=list("abc"))


def test_eval_is_train_uses_the_chance_alpha_it_is_given() -> None:
    # every evaluation row repeats a training row, but 6 levels in 3 columns repeat often
    # by chance: p ~ 0.03 for 20 rows and ~ 3e-5 for 60 rows against the chance baseline
    x = _repeating_categories()
    few, more = Split(x.iloc[:20]), Split(x.iloc[:60])
    assert _sev(_report(Split(x), few), "eval_is_train") is Severity.PASSED
    lax = {"eval_is_train": {"chance_alpha": 0.05}}
    assert _sev(_report(Split(x), few, thresholds=lax), "eval_is_train") is Severity.FAIL
    assert _sev(_report(Split(x), more), "eval_is_train") is Severity.FAIL
    strict = {"eval_is_train": {"chance_alpha": 1e-6}}
    assert _sev(_report(Split(x), more, thresholds=strict), "eval_is_train") is Severity.PASSED
    # each check judges with its own alpha, even though they share one measurement
    report = _report(Split(x), more, thresholds={**strict, "train_test_overlap": {}})
    assert report.get("eval_is_train").evidence["thresholds"]["chance_alpha"] == 1e-6
    assert report.get("train_test_overlap").evidence["thresholds"]["chance_alpha"] == 0.001


# --------------------------------------------------------------- validation_reuse


def test_evaluating_on_the_early_stopping_validation_set_is_flagged() -> None:
    rng = np.random.default_rng(16)
    x_val, x_test = _frame(rng, 200), _frame(rng, 200)
    selection = {"monitors": ["val_loss"], "callbacks": ["EarlyStopping"]}
    vfp = compute(x_val)
    reused = _report(test=Split(x_val), validation_fingerprint=vfp, model_selection=selection).get(
        "validation_reuse"
    )
    assert reused.severity is Severity.FAIL
    assert "EarlyStopping" in reused.message and "val_loss" in reused.message
    fresh = _report(test=Split(x_test), validation_fingerprint=vfp, model_selection=selection)
    assert _sev(fresh, "validation_reuse") is Severity.PASSED
    unmonitored = _report(test=Split(x_val), validation_fingerprint=vfp)
    assert _sev(unmonitored, "validation_reuse") is Severity.INFO
    half = pd.concat([x_val.iloc[:50], x_test.iloc[50:]])
    partial = _report(test=Split(half), validation_fingerprint=vfp, model_selection=selection)
    assert _sev(partial, "validation_reuse") is Severity.WARN


def test_validation_reuse_shares_use_one_convention_strictly_above() -> None:
    # warn > warn_share, fail > fail_share, as for train_test_overlap: exactly 90% warns
    rng = np.random.default_rng(41)
    x_val, x_new = _frame(rng, 200), _frame(rng, 200)
    selection = {"monitors": ["val_loss"], "callbacks": ["EarlyStopping"]}
    vfp = compute(x_val)

    def severity(n_reused: int, thresholds=None) -> Severity:
        test = Split(pd.concat([x_val.iloc[:n_reused], x_new.iloc[n_reused:]]))
        report = _report(
            test=test, validation_fingerprint=vfp, model_selection=selection, thresholds=thresholds
        )
        return _sev(report, "validation_reuse")

    assert severity(180) is Severity.WARN  # share exactly 0.9
    assert severity(181) is Severity.FAIL
    assert severity(20) is Severity.PASSED  # share exactly 0.1
    assert severity(21) is Severity.WARN
    assert severity(180, {"validation_reuse": {"fail_share": 0.85}}) is Severity.FAIL


def test_validation_reuse_needs_a_validation_fingerprint() -> None:
    rng = np.random.default_rng(17)
    assert _report(test=Split(_frame(rng, 50))).get("validation_reuse") is None


# --------------------------------------------------------------- feature_target_leakage


def test_a_feature_that_encodes_the_label_is_named() -> None:
    rng = np.random.default_rng(18)
    n = 400
    y = rng.integers(0, 2, n)
    x = _frame(rng, n).assign(days_to_churn=y * 30 + rng.normal(0, 1, n))
    found = _report(test=Split(x, y)).get("feature_target_leakage")
    assert found.severity is Severity.FAIL
    assert "'days_to_churn'" in found.message and "ROC-AUC" in found.message
    assert found.evidence["top_features"]["days_to_churn"] == 1.0


def test_categorical_proxy_and_multiclass_proxy_are_flagged() -> None:
    rng = np.random.default_rng(19)
    n = 300
    y = rng.integers(0, 3, n)
    names = np.array(["low", "mid", "high"])
    x = _frame(rng, n, 3).assign(grade=names[y])
    found = _report(test=Split(x, y)).get("feature_target_leakage")
    assert found.severity is Severity.FAIL and "'grade'" in found.message
    numeric = _frame(rng, n, 3).assign(score=y * 10.0 + rng.random(n))
    assert "'score'" in _report(test=Split(numeric, y)).get("feature_target_leakage").message


def test_identifiers_and_constants_are_skipped_and_healthy_data_passes() -> None:
    rng = np.random.default_rng(20)
    n = 300
    y = rng.integers(0, 2, n)
    x = _frame(rng, n).assign(
        customer_id=[f"c{i:05d}" for i in range(n)],  # unique strings: would be "perfect"
        country="NL",
        signal=y + rng.normal(0, 1.0, n),  # useful, not perfect
    )
    found = _report(test=Split(x, y)).get("feature_target_leakage")
    assert found.severity is Severity.PASSED
    assert found.evidence["skipped_identifier"] == ["customer_id"]
    assert found.evidence["skipped_constant"] == ["country"]
    scores, method, _ = univariate_scores(x, y)
    assert method["signal"] == "roc_auc" and 0.6 < scores["signal"] < 0.95


def _auc_columns(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Features as rows: continuous, heavy ties, constant, -inf/NaN stand-ins, label-like."""
    y = rng.integers(0, 2, n)
    return y, np.vstack(
        [
            rng.normal(size=n),
            rng.integers(0, 3, n).astype(float),  # three values: ties everywhere
            np.full(n, 4.2),  # constant: AUC 0.5
            np.where(rng.random(n) < 0.3, -np.inf, rng.normal(size=n)),  # missing, ranked low
            y + rng.normal(0, 0.1, n),  # almost the label
            np.where(rng.random(n) < 0.5, -0.0, 0.0) + (rng.random(n) < 0.2),  # -0.0 == 0.0
            y.astype(float),  # the label itself: AUC 1
        ]
    )


@pytest.mark.parametrize("seed", range(5))
def test_fast_roc_auc_equals_sklearn_per_column(seed: int) -> None:
    from scipy import stats
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    y, x = _auc_columns(rng, int(rng.integers(30, 3000)))
    fast = roc_auc_columns(x, y == 1)
    for j, row in enumerate(x):
        finite = np.where(np.isinf(row), row[np.isfinite(row)].min() - 1, row)  # same order
        assert fast[j] == pytest.approx(roc_auc_score(y, finite), abs=1e-12), j
    # and bit for bit the rank-sum formula on average ranks it replaces
    ranks = stats.rankdata(x.T, axis=0)
    n1, n0 = int(y.sum()), int((1 - y).sum())
    assert np.array_equal(fast, (ranks[y == 1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0))
    assert fast[2] == 0.5 and fast[6] == 1.0


def test_univariate_scores_skip_constants_exactly_like_nunique() -> None:
    n = 60
    y = np.arange(n) % 2
    x = pd.DataFrame(
        {
            "all_nan": np.full(n, np.nan),
            "nan_and_value": np.where(y == 1, np.nan, 3.0),  # two values: NaN and 3
            "nan_and_minus_inf": np.where(y == 1, np.nan, -np.inf),  # two values as well
            "signed_zeros": np.where(y == 1, -0.0, 0.0),  # one value
            "big_ints": np.where(y == 1, 2**60, 2**60 + 1),  # equal once cast to float64
            "flag": np.ones(n, dtype=bool),
            "nullable": pd.array([1] * n, dtype="Int64"),
            "signal": np.arange(n, dtype=float),
        }
    )
    _, _, skipped = univariate_scores(x, y)
    expected = [c for c in x.columns if x[c].nunique(dropna=False) <= 1]
    assert skipped["constant"] == expected == ["all_nan", "signed_zeros", "flag", "nullable"]


def test_row_numbers_of_label_sorted_data_are_flagged() -> None:
    rng = np.random.default_rng(21)
    y = np.sort(rng.integers(0, 2, 200))
    x = _frame(rng, 200).assign(row=np.arange(200))
    assert "'row'" in _report(test=Split(x, y)).get("feature_target_leakage").message


def test_feature_target_check_skips_tiny_or_unlabelled_sets() -> None:
    rng = np.random.default_rng(22)
    assert (
        _report(test=Split(_frame(rng, 10), np.arange(10) % 2)).get("feature_target_leakage")
        is None
    )
    assert _report(test=Split(_frame(rng, 100))).get("feature_target_leakage") is None


def test_column_mismatch_is_a_clear_not_checked_record() -> None:
    """Data the check cannot use is not a pass: coverage says what kept it from running."""
    rng = np.random.default_rng(23)
    report = _report(Split(_frame(rng, 50)), Split(_frame(rng, 50).drop(columns="f1")))
    assert report.get("train_test_overlap") is None
    gaps = report.skipped_by_gap
    gap = next(g for g, ids in gaps.items() if "train_test_overlap" in ids)
    assert "lacks fingerprinted columns ['f1']" in gap and report.coverage.startswith("partial")


@pytest.mark.parametrize("labels", [None, "eval"])
def test_test_labels_come_from_the_classification_when_missing(labels) -> None:
    from mlflow_sanity.core.metrics import classify

    rng = np.random.default_rng(24)
    y = rng.integers(0, 2, 100)
    x = _frame(rng, 100).assign(leak=y)
    c = classify(y, y) if labels else None
    report = build_report(Context(eval=c, test=Split(x)))
    found = report.get("feature_target_leakage")
    assert (found is not None and found.severity is Severity.FAIL) == bool(labels)


# --------------------------------------------------------------- through mlflow.models.evaluate


def _tags(run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    return MlflowClient().get_run(run_id).data.tags


def _labelled(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = _frame(rng, n, 4)
    return x.assign(label=(x["f0"] + x["f1"] + rng.normal(0, 0.5, n) > 0).astype(int))


def test_evaluator_uses_train_data_from_the_config(mlflow_experiment) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(30)
    train, test = _labelled(rng, 400), _labelled(rng, 150)
    leaked_test = pd.concat([test.iloc[:120], train.iloc[:30]], ignore_index=True)
    clf = LogisticRegression().fit(train.drop(columns="label"), train["label"])
    info = mlflow.sklearn.log_model(clf, name="model", pip_requirements=["scikit-learn"])

    def evaluate(data: pd.DataFrame) -> str:
        with mlflow.start_run() as run:
            mlflow.models.evaluate(
                info.model_uri,
                data=data,
                targets="label",
                model_type="classifier",
                evaluators="sanity",
                evaluator_config={"train_data": train},  # with its label column
            )
        return run.info.run_id

    from mlflow_sanity.tracking.reports import read_report

    leaked = evaluate(leaked_test)
    assert _tags(leaked)["sanity.finding.train_test_overlap"] == "fail"
    found = read_report(leaked).get("train_test_overlap")
    assert found.evidence["overlapping_rows"] == 30
    assert found.evidence["overlap_with_label_share"] == pytest.approx(30 / 150)
    assert found.evidence["examples"][0] == {"eval_row": 120, "train_row": 0}
    clean = _tags(evaluate(test))
    assert not any(t.startswith("sanity.finding.") and t[15:] in LEAKAGE for t in clean)


def test_evaluator_finds_fingerprints_on_the_model_source_run(mlflow_experiment) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from mlflow_sanity.core.findings import Report as SanityReport
    from mlflow_sanity.tracking.reports import log_report

    rng = np.random.default_rng(31)
    train, val, test = _labelled(rng, 300), _labelled(rng, 100), _labelled(rng, 100)
    clf = LogisticRegression().fit(train.drop(columns="label"), train["label"])
    with mlflow.start_run() as training:
        info = mlflow.sklearn.log_model(clf, name="model", pip_requirements=["scikit-learn"])
        # what mlflow_sanity.autolog() logs at the end of fit
        files = {
            **compute(train.drop(columns="label"), train["label"]).to_files("train"),
            **compute(val.drop(columns="label"), val["label"]).to_files("validation"),
        }
        selection = {"monitors": ["val_loss"], "callbacks": ["EarlyStopping"]}
        log_report(training.info.run_id, SanityReport(inputs={"model_selection": selection}), files)

    def evaluate(data: pd.DataFrame) -> dict[str, str]:
        with mlflow.start_run() as run:
            mlflow.models.evaluate(
                info.model_uri,
                data=data,
                targets="label",
                model_type="classifier",
                evaluators="sanity",
            )
        return _tags(run.info.run_id)

    on_train = evaluate(train)
    assert on_train["sanity.finding.eval_is_train"] == "fail"
    on_val = evaluate(val)
    assert on_val["sanity.finding.validation_reuse"] == "fail"
    assert "sanity.finding.eval_is_train" not in on_val
    clean = evaluate(test)
    assert not any(t.startswith("sanity.finding.") and t[15:] in LEAKAGE for t in clean)


def test_evaluator_training_run_id_with_static_predictions(mlflow_experiment) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlflow_sanity.core.findings import Report as SanityReport
    from mlflow_sanity.tracking.reports import log_report

    rng = np.random.default_rng(32)
    train = _labelled(rng, 300)
    with mlflow.start_run() as training:
        log_report(
            training.info.run_id, SanityReport(), compute(train.drop(columns="label")).to_files()
        )
    with mlflow.start_run() as empty:
        pass
    data = train.iloc[:100].assign(pred=train["label"].iloc[:100])
    with mlflow.start_run() as run:
        mlflow.models.evaluate(
            data=data,
            targets="label",
            predictions="pred",
            model_type="classifier",
            evaluators="sanity",
            evaluator_config={"training_run_id": training.info.run_id},
        )
    assert _tags(run.info.run_id)["sanity.finding.eval_is_train"] == "fail"
    with (
        mlflow.start_run(),
        pytest.raises((MlflowException, ValueError), match="no sanity/fingerprint"),
    ):
        mlflow.models.evaluate(
            data=data,
            targets="label",
            predictions="pred",
            model_type="classifier",
            evaluators="sanity",
            evaluator_config={"training_run_id": empty.info.run_id},
        )


def _normalized_model(keras, adapt_on: np.ndarray):
    norm = keras.layers.Normalization(name="scale_inputs")
    norm.adapt(adapt_on)
    model = keras.Sequential(
        [keras.Input((adapt_on.shape[1],)), norm, keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_keras_normalization_adapted_on_train_plus_test_is_flagged(
    keras, mlflow_experiment
) -> None:
    import mlflow

    from mlflow_sanity.adapters.keras.describe import keras_normalization_stats

    rng = np.random.default_rng(33)
    data = _labelled(rng, 500)
    train, test = data.iloc[:400], data.iloc[400:]
    x_tr = train.drop(columns="label").to_numpy(np.float32)
    x_all = data.drop(columns="label").to_numpy(np.float32)
    honest = keras_normalization_stats(_normalized_model(keras, x_tr))
    assert honest.layer == "scale_inputs"
    ok = _report(
        Split(train.drop(columns="label")), Split(test.drop(columns="label")), normalization=honest
    )
    assert _sev(ok, "preprocessing_leakage") is Severity.PASSED

    leaky = _normalized_model(keras, x_all)
    leaky.fit(x_tr, train["label"].to_numpy(), epochs=1, verbose=0)
    with mlflow.start_run() as run:
        info = mlflow.keras.log_model(leaky, name="model", pip_requirements=["tensorflow"])
        mlflow.models.evaluate(
            info.model_uri,
            data=test,
            targets="label",
            model_type="classifier",
            evaluators="sanity",
            evaluator_config={"train_data": train},
        )
    assert _tags(run.info.run_id)["sanity.finding.preprocessing_leakage"] == "warn"


@pytest.mark.parametrize(
    "labels",
    [
        np.array([0, 1, 1, 3, 3, 3]),
        np.array([5, 5, 2], dtype=np.uint8),
        np.array([True, False, True]),
        np.array([-1, 2, 2]),
        np.array([2.0, 1.0, 2.0]),
        np.array(["b", "a", "b"]),
        np.array([1.0, np.nan, 1.0]),
    ],
)
def test_duplicate_counts_per_class_read_labels_as_np_unique_does(labels):
    from mlflow_sanity.checks.leakage.duplicates import _classes

    ours, theirs = _classes(labels), np.unique(labels, return_inverse=True, return_counts=True)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours[0].dtype == theirs[0].dtype

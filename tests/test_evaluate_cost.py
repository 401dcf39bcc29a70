"""The cheaper paths of a checked evaluate reach the verdicts of the full computations.

Each shortcut taken to keep ``model.evaluate``'s added time small (screening the
one-feature scan on a sample, counting repeats on the training fingerprint's grid,
metrics from the confusion matrix) is compared
here with the computation it replaces, on data it must flag and on data it must pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_sanity.checks import Context
from mlflow_sanity.checks.leakage.checks import MISS_CHANCE, SAMPLE_MIN_ROWS, _sample_size
from mlflow_sanity.checks.leakage.scaling import same_rows
from mlflow_sanity.checks.leakage.univariate import balanced_sample, univariate_scores
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.splits import ModelSelection, Split
from mlflow_sanity.pipeline import build_report


def _frame(rng: np.random.Generator, n: int, d: int = 6) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(n, d)), columns=[f"f{i}" for i in range(d)])


def _finding(ctx: Context, finding_id: str):
    found = build_report(ctx).get(finding_id)
    assert found is not None, finding_id
    return found


# --------------------------------------------------------------- feature_target_leakage


def test_a_leaky_feature_in_large_data_is_graded_on_all_rows() -> None:
    rng = np.random.default_rng(0)
    n = 12_000
    y = rng.integers(0, 2, n)
    x = _frame(rng, n).assign(leak=y + rng.normal(0, 0.05, n))
    found = _finding(Context(test=Split(x, y)), "feature_target_leakage")
    assert found.severity is Severity.FAIL and "'leak'" in found.message
    ev = found.evidence
    assert ev["screened_on_rows"] == 5000 and ev["rescored_on_all_rows"] == ["leak"]
    full, _, _ = univariate_scores(x, y)  # no screening: every column on all rows
    assert ev["top_features"]["leak"] == round(full["leak"], 4)
    assert ev["rows_scored"] == n


def test_healthy_large_data_passes_and_says_it_was_screened() -> None:
    rng = np.random.default_rng(1)
    n = 12_000
    y = rng.integers(0, 2, n)
    x = _frame(rng, n).assign(signal=y + rng.normal(0, 1.0, n))  # useful, far from perfect
    found = _finding(Context(test=Split(x, y)), "feature_target_leakage")
    assert found.severity is Severity.PASSED
    assert "balanced sample of 5000 rows" in found.message
    assert found.evidence["rescored_on_all_rows"] == []
    screened = found.evidence["top_features"]["signal"]
    full, _, _ = univariate_scores(x, y)
    assert abs(screened - full["signal"]) < 0.03  # the screen's estimate is close


def test_a_flag_that_gives_away_a_rare_class_is_found_by_the_screen() -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, 12, replace=False)] = 1  # 12 positives: a uniform sample would miss most
    x = _frame(rng, n).assign(fraud_flag=y.astype(float))
    found = _finding(Context(test=Split(x, y)), "feature_target_leakage")
    assert found.severity is Severity.FAIL and "'fraud_flag'" in found.message
    assert found.evidence["top_features"]["fraud_flag"] == 1.0


def test_ten_separated_classes_fail_on_all_rows_not_on_the_sparser_sample() -> None:
    """Neighbour accuracy of a perfectly separating feature loses (k-1)/(rows-1) to the
    class boundaries: below the fail level on 5,000 rows with 10 classes, not on 60,000."""
    rng = np.random.default_rng(3)
    n = 60_000
    y = rng.integers(0, 10, n)
    x = _frame(rng, n, 3).assign(code=y * 10.0 + rng.random(n))
    found = _finding(Context(test=Split(x, y)), "feature_target_leakage")
    assert found.severity is Severity.FAIL
    assert found.evidence["rescored_on_all_rows"] == ["code"]
    assert found.evidence["top_features"]["code"] >= 0.9998


def test_balanced_sample_keeps_rare_classes_whole_and_is_fixed() -> None:
    rng = np.random.default_rng(4)
    y = np.concatenate([np.zeros(30_000, int), np.ones(40, int), np.full(9_000, 2)])
    rng.shuffle(y)
    state = np.random.get_state()
    rows = balanced_sample(y, 5000)
    assert np.array_equal(rows, balanced_sample(y, 5000))  # seeded: the same rows each time
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # global RNG untouched
    assert rows.size == 5000 and np.all(np.diff(rows) > 0)
    counts = np.bincount(y[rows])
    assert counts[1] == 40 and abs(int(counts[0]) - int(counts[2])) <= 1
    assert balanced_sample(y[:4000], 5000) is None  # small enough: all rows


# --------------------------------------------------------------- duplicate_eval_rows


def _fitted(rng: np.random.Generator, n: int = 3000) -> tuple[fpm.Fingerprint, pd.DataFrame]:
    train = _frame(rng, n)
    return fpm.compute(train, rng.integers(0, 2, n)), train


@pytest.mark.parametrize("oversampled", [True, False])
def test_repeats_on_the_training_grid_equal_their_own_fingerprint(oversampled: bool) -> None:
    rng = np.random.default_rng(5)
    fp, _ = _fitted(rng)
    test = _frame(rng, 2000)
    y = rng.integers(0, 2, 2000)
    if oversampled:  # the minority class copied four more times, as a resampled test set
        minority = test[y == 1]
        test = pd.concat([test, *([minority] * 4)], ignore_index=True)
        y = np.concatenate([y, *([y[y == 1]] * 4)])
    shared = _finding(Context(test=Split(test, y), fingerprint=fp), "duplicate_eval_rows")
    own = _finding(Context(test=Split(test, y)), "duplicate_eval_rows")
    assert shared.severity is own.severity
    assert shared.severity is (Severity.FAIL if oversampled else Severity.PASSED)
    for key in ("repeated_rows", "distinct_rows_per_class", "p_value_vs_chance"):
        assert shared.evidence[key] == own.evidence[key], key
    if oversampled:
        assert shared.evidence["expected_by_chance_share"] < 1e-6
    else:  # nothing repeats, so there is nothing for chance to explain
        assert shared.evidence["repeated_rows"] == 0
        assert shared.evidence["expected_by_chance_share"] is None


def test_a_column_the_training_data_lacks_still_tells_rows_apart() -> None:
    """Rows equal in the fingerprinted columns but not in an extra one are no repeats: the
    count falls back to the evaluation data's own fingerprint."""
    rng = np.random.default_rng(6)
    fp, _ = _fitted(rng)
    base = _frame(rng, 500)
    test = pd.concat([base, base], ignore_index=True).assign(extra=np.arange(1000.0))
    y = rng.integers(0, 2, 1000)
    found = _finding(Context(test=Split(test, y), fingerprint=fp), "duplicate_eval_rows")
    assert found.evidence["repeated_rows"] == 0 and found.severity is Severity.PASSED
    same = Context(test=Split(test.drop(columns="extra"), y), fingerprint=fp)
    copies = _finding(same, "duplicate_eval_rows")
    assert copies.evidence["repeated_rows"] == 500 and copies.severity is Severity.FAIL


# --------------------------------------------------------------- statistics and metrics


@pytest.mark.filterwarnings("ignore")
def test_metrics_from_the_confusion_matrix_equal_scikit_learn_bit_for_bit() -> None:
    import sklearn.metrics as skm

    from mlflow_sanity.core.metrics import _prf, cohen_kappa, matthews_corrcoef

    rng = np.random.default_rng(8)
    for _ in range(300):
        k, n = int(rng.integers(1, 6)), int(rng.integers(1, 200))
        t = rng.integers(0, k, n)
        p = np.where(rng.random(n) < rng.random(), t, rng.integers(0, k, n))
        if rng.random() < 0.2:
            p[:] = rng.integers(0, k)  # one predicted class: zero divisions
        cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
        prf = skm.precision_recall_fscore_support(t, p, labels=np.arange(k), zero_division=0)
        for ours, theirs in zip(_prf(cm), prf[:3], strict=False):
            assert np.array_equal(ours, theirs)
        assert matthews_corrcoef(cm) == skm.matthews_corrcoef(t, p)
        kappa = skm.cohen_kappa_score(t, p)
        assert cohen_kappa(cm) == kappa or (np.isnan(kappa) and np.isnan(cohen_kappa(cm)))


def test_rows_hashed_on_their_own_grid_are_the_fingerprints_rows() -> None:
    rng = np.random.default_rng(9)
    x = _frame(rng, 30_000).assign(coarse=np.round(rng.normal(size=30_000), 2))
    fp, grid = fpm.compute(x, rng.integers(0, 2, 30_000)), fpm.grid_rows(x)
    assert np.array_equal(grid.feature_hashes, fp.feature_hashes)
    assert np.array_equal(grid.collision, fp.collision)


# --------------------------------------------------------------- logging


def test_a_later_report_does_not_upload_the_runs_plots_again(mlflow_experiment, monkeypatch):
    """The plots an earlier report left on the run are read for the merged HTML page and
    stay on the run as they were; only new files travel (once per evaluate, to a server)."""
    import base64
    from pathlib import Path

    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.core.findings import Report
    from mlflow_sanity.tracking.reports import log_report

    png = b"\x89PNG\r\n\x1a\n-first-plot"
    uploads: list[set[str]] = []
    real = MlflowClient.log_artifacts

    def spy(self, run_id, local_dir, artifact_path=None):
        uploads.append({str(p.relative_to(local_dir)) for p in Path(local_dir).rglob("*.*")})
        return real(self, run_id, local_dir, artifact_path)

    monkeypatch.setattr(MlflowClient, "log_artifacts", spy)
    with mlflow.start_run() as run:
        run_id = run.info.run_id
    log_report(run_id, Report(), {"learning_curves.png": png})
    log_report(run_id, Report(inputs={"source": "model.evaluate"}), scope="evaluate")
    assert "learning_curves.png" in uploads[0]
    assert "learning_curves.png" not in uploads[1] and "evaluate/1/report.json" in uploads[1]
    client = MlflowClient()
    path = client.download_artifacts(run_id, "sanity/learning_curves.png")
    assert Path(path).read_bytes() == png  # still on the run, unchanged
    html = Path(client.download_artifacts(run_id, "sanity/report.html")).read_text()
    assert base64.b64encode(png).decode() in html  # and still on the merged page
    log_report(run_id, Report(), {"learning_curves.png": png + b"-new"})  # a new version
    assert "learning_curves.png" in uploads[2]


def test_the_evaluated_rows_fingerprint_skips_collision_rates_and_says_so() -> None:
    from mlflow_sanity.checks.leakage.overlap import repeat_chance

    rng = np.random.default_rng(10)
    x = _frame(rng, 3000).assign(ints=rng.integers(0, 5, 3000))
    full, light = fpm.compute(x), fpm.compute(x, rates=False)
    assert np.array_equal(full.hashes, light.hashes) and light.digest == full.digest
    for name in ("kinds", "steps", "mean", "std", "min", "max", "n_missing"):
        assert np.array_equal(getattr(full, name), getattr(light, name)), name
    assert np.isnan(light.collision).all() and np.isnan(light.exact_collision).all()
    with pytest.raises(ValueError, match="not estimated"):
        repeat_chance(light.collision, light.n_rows)
    assert 0 <= repeat_chance(full.collision, full.n_rows) <= 1


# --------------------------------------------------------------- one lookup, sampled lookups

_SELECTION = ModelSelection(monitors=("val_loss",), callbacks=("EarlyStopping",))


def _validation_reuse(test: pd.DataFrame, vfp: fpm.Fingerprint, **thresholds: float):
    ctx = Context(test=Split(test), validation_fingerprint=vfp, model_selection=_SELECTION)
    found = build_report(ctx, thresholds={"validation_reuse": thresholds} if thresholds else None)
    return found.get("validation_reuse")


def test_a_clean_sample_passes_validation_reuse_and_its_evidence_says_sampled() -> None:
    rng = np.random.default_rng(11)
    vfp = fpm.compute(_frame(rng, 3000))
    test = _frame(rng, 12_000)
    found = _validation_reuse(test, vfp)
    assert found.severity is Severity.PASSED
    ev = found.evidence
    assert ev["rows_looked_up"] == SAMPLE_MIN_ROWS and ev["eval_rows"] == 12_000
    assert "sample of 2000 of the 12000" in found.message and ev["overlapping_rows"] == 0
    # the full lookup agrees: none of the rows is a validation row
    assert not vfp.match(test).in_train.any()


@pytest.mark.parametrize("copies", [1300, 12_000])
def test_a_validation_overlap_the_sample_finds_is_counted_on_every_row(copies: int) -> None:
    """10.8% (warn) and 100% (fail) of the rows are validation rows: the sample finds
    some, so every row is looked up and the evidence is the exact count, as without it."""
    rng = np.random.default_rng(12)
    x_val = _frame(rng, 12_000)
    vfp = fpm.compute(x_val)
    test = pd.concat([x_val.iloc[:copies], _frame(rng, 12_000 - copies)], ignore_index=True)
    found = _validation_reuse(test, vfp)
    assert found.severity is (Severity.WARN if copies < 12_000 else Severity.FAIL)
    assert found.evidence["overlapping_rows"] == copies
    assert "rows_looked_up" not in found.evidence and found.evidence["eval_rows"] == 12_000


def test_the_validation_sample_grows_with_a_lower_warning_share_and_stops_at_half() -> None:
    assert _sample_size(50_000, 0.1) == SAMPLE_MIN_ROWS
    big = _sample_size(10**6, 0.0001)
    assert big is not None and (1 - 0.0001) ** big <= MISS_CHANCE < (1 - 0.0001) ** (big - 1)
    assert _sample_size(3000, 0.1) is None  # a sample would be most of the rows
    assert _sample_size(10**6, 0.0) is None  # any overlap is reported: every row
    rng = np.random.default_rng(13)
    vfp = fpm.compute(_frame(rng, 2000))
    test = _frame(rng, 12_000)
    full = _validation_reuse(test, vfp, warn_share=0.0, fail_share=0.9)
    assert full.severity is Severity.PASSED and "rows_looked_up" not in full.evidence


def test_a_lookup_of_some_rows_equals_the_lookup_of_those_rows() -> None:
    rng = np.random.default_rng(14)
    train = _frame(rng, 3000)
    fp = fpm.compute(train, rng.integers(0, 2, 3000))
    test = pd.concat([train.iloc[:500], _frame(rng, 2500)], ignore_index=True)
    y = rng.integers(0, 2, 3000)
    rows = np.sort(rng.choice(3000, 700, replace=False))
    some, taken = fp.match(test, y, rows=rows), fp.match(test.iloc[rows], y[rows])
    for name in ("in_train", "in_train_with_label", "train_index"):
        assert np.array_equal(getattr(some, name), getattr(taken, name)), name
    assert some.digest == taken.digest and some.in_train.sum() == (rows < 500).sum()


def test_the_evaluated_rows_on_the_training_grid_keep_their_own_statistics() -> None:
    """The scaling comparison reads the evaluated rows' statistics and digest from the
    lookup in the training fingerprint: the statistics are those of the rows themselves,
    and the rows of the training data have its digest."""
    rng = np.random.default_rng(15)
    train = _frame(rng, 4000).assign(ints=rng.integers(0, 5, 4000))
    test = _frame(rng, 3000).assign(ints=rng.integers(0, 5, 3000))
    fp = fpm.compute(train)
    rows = fpm.rows_fingerprint(fp, test, fp.match(test))
    own = fpm.compute(test, rates=False)
    for name in ("mean", "std", "min", "max", "n_missing"):
        assert np.array_equal(getattr(rows, name), getattr(own, name)), name
    assert np.array_equal(rows.steps, fp.steps) and rows.kinds == fp.kinds
    assert rows.digest == fpm._digest(rows.hashes)  # the lookup's digest is theirs
    assert fpm.rows_fingerprint(fp, train, fp.match(train)).digest == fp.digest


def test_splits_count_once_across_grids() -> None:
    """The evaluated rows (on the training grid) and the fit's validation rows (on their
    own) are the same split when they hold the same rows, and only then."""
    rng = np.random.default_rng(16)
    train, val, other = _frame(rng, 4000), _frame(rng, 1000), _frame(rng, 1000)
    fp, vfp = fpm.compute(train), fpm.compute(val)
    on_train_grid = fpm.rows_fingerprint(fp, val, fp.match(val))
    assert not np.array_equal(on_train_grid.steps, vfp.steps)  # two grids
    assert same_rows(on_train_grid, vfp)
    assert not same_rows(fpm.rows_fingerprint(fp, other, fp.match(other)), vfp)
    assert same_rows(fpm.rows_fingerprint(fp, train, fp.match(train)), fp)


def test_a_later_report_reads_this_processes_last_write_unless_the_run_changed(
    mlflow_experiment, monkeypatch
):
    """The second report to a run merges the first without downloading it; once another
    writer replaced the run's report, the next one downloads what the run holds."""
    import json

    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.core.findings import Finding, Report
    from mlflow_sanity.tracking import reports

    reads: list[str] = []
    real = reports._SanityArtifacts.read

    def spy(self, name, tmp):
        reads.append(name)
        return real(self, name, tmp)

    monkeypatch.setattr(reports._SanityArtifacts, "read", spy)
    with mlflow.start_run() as run:
        run_id = run.info.run_id
    first = Finding("small_eval_set", Severity.WARN, "few rows")
    reports.log_report(run_id, Report(findings=[first]), {"a.png": b"\x89PNG-a"})
    merged = reports.log_report(run_id, Report(findings=[]))
    assert reads == [] and merged.flagged_ids == ["small_eval_set"]
    saved = dict(reports._WRITTEN)
    reports._WRITTEN.clear()  # read what the run holds: it equals what the cache gave
    fresh = reports.read_report(run_id)
    assert fresh.to_dict()["findings"] == merged.to_dict()["findings"]
    assert set(reads) == {"a.png", "report.json"}
    reports._WRITTEN.update(saved)
    # another writer replaces the report: the cached copy no longer describes the run
    other = Report(findings=[Finding("eval_is_train", Severity.FAIL, "same rows")])
    MlflowClient().log_text(run_id, json.dumps(other.to_dict()), "sanity/report.json")
    reads.clear()
    merged = reports.log_report(run_id, Report(findings=[]))
    assert "report.json" in reads and merged.flagged_ids == ["eval_is_train"]

"""Statistics where statistics suffice: below the sampling size a report is exactly what
it is with sampling switched off; above it the sample is named in the evidence, and the
headline metrics stay exact."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_sanity.checks import Context
from mlflow_sanity.core import fingerprint as fpm
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.splits import Split
from mlflow_sanity.pipeline import build_report

NO_SAMPLING = {"feature_target_leakage": {"max_rows": 10**12, "screen_rows": 10**12}}


def _data(rng: np.random.Generator, n: int, leak: bool) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + rng.normal(scale=1.5, size=n) > 1.2).astype(int)  # a rare positive class
    if leak:
        x[:, 3] = y + rng.normal(scale=0.01, size=n)  # a column that gives the label away
    return x, y


def _report(x_train, y_train, x_test, y_test, proba, thresholds=None):
    ctx = Context(
        test=Split(x_test, y_test, "test"),
        fingerprint=fpm.compute(x_train, y_train),
        eval=classify(y_test, proba=np.column_stack([1 - proba, proba]), labels=[0, 1]),
    )
    return build_report(ctx, thresholds=thresholds)


def _findings(report):
    out = {}
    for f in report.findings:
        evidence = {k: v for k, v in f.evidence.items() if k != "thresholds"}
        out[f.id] = (f.severity, f.message, repr(evidence))
    return out


def test_below_the_sampling_size_sampling_changes_nothing() -> None:
    rng = np.random.default_rng(0)
    for leak in (False, True):
        x_train, y_train = _data(rng, 2000, leak)
        x_test, y_test = _data(rng, 4000, leak)
        proba = np.clip(0.5 * y_test + 0.5 * rng.random(4000), 0, 1)
        sampled = _report(x_train, y_train, x_test, y_test, proba)
        whole = _report(x_train, y_train, x_test, y_test, proba, NO_SAMPLING)
        assert _findings(sampled) == _findings(whole)
        assert sampled.metrics == whole.metrics  # the exact metrics, value for value
        assert sampled.status == whole.status
        assert (sampled.get("feature_target_leakage").severity.flagged) is leak
        assert "sample" not in sampled.get("feature_target_leakage").evidence


def test_above_the_sampling_size_the_sample_is_named_and_the_metrics_stay_exact() -> None:
    rng = np.random.default_rng(1)
    x_train, y_train = _data(rng, 2000, True)
    x_test, y_test = _data(rng, 6000, True)
    proba = np.clip(0.5 * y_test + 0.5 * rng.random(6000), 0, 1)
    small = {"feature_target_leakage": {"max_rows": 3000, "screen_rows": 1000}}
    sampled = _report(x_train, y_train, x_test, y_test, proba, small)
    whole = _report(x_train, y_train, x_test, y_test, proba, NO_SAMPLING)
    leak = sampled.get("feature_target_leakage")
    assert leak.evidence["sample"] == {"rows": 3000, "of_rows": 6000, "seed": 0}
    assert leak.evidence["rows_scored"] == 3000 and leak.evidence["screened_on_rows"] == 1000
    assert leak.severity == whole.get("feature_target_leakage").severity  # still flagged
    assert sampled.metrics == whole.metrics  # headline metrics: every row, no sample


def test_the_sample_is_drawn_before_any_frame_of_all_rows(monkeypatch) -> None:
    """The scored sample of an array is the same rows as the rows of its frame, and no
    frame of all the rows is built on the way."""
    rng = np.random.default_rng(2)
    x, y = _data(rng, 5000, True)
    built: list[int] = []
    original = fpm.as_frame

    def counting(features):
        built.append(len(features))
        return original(features)

    from mlflow_sanity.checks.leakage import checks

    ctx = Context(test=Split(x, y, "test"))
    t = {"max_rows": 1000, "min_rows": 30, "min_class_rows": 5}
    monkeypatch.setattr(checks.fpm, "as_frame", counting)
    frame, codes, total = checks.scoring_sample(ctx, t)
    assert built == [1000] and total == 5000
    keep = np.sort(np.random.default_rng(checks.SAMPLE_SEED).choice(5000, 1000, False))
    expected = pd.DataFrame(x).iloc[keep]
    np.testing.assert_array_equal(frame.to_numpy(), expected.to_numpy())
    np.testing.assert_array_equal(codes, y[keep])

"""``mlflow-sanity check-split``: findings from two files, clear errors, optional logging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_sanity.cli import main


def _split(tmp_path: Path, *, leak: int = 0, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(600, 4)), columns=["a", "b", "c", "d"])
    df["city"] = rng.choice(["x", "y", "z"], 600)
    df["label"] = (df["a"] + rng.normal(0, 1, 600) > 0).astype(int)
    train, test = df.iloc[:400], df.iloc[400:]
    if leak:
        test = pd.concat([test, train.iloc[:leak]])
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    return tmp_path / "train.csv", tmp_path / "test.csv"


def _run(*args: str):
    return CliRunner().invoke(main, ["check-split", *args])


def test_duplicated_rows_fail_with_exit_code_1(tmp_path: Path) -> None:
    train, test = _split(tmp_path, leak=40)
    result = _run("--train", str(train), "--test", str(test), "--target", "label")
    assert result.exit_code == 1, result.output
    assert "mlflow-sanity status: FAIL" in result.output
    assert "train_test_overlap" in result.output and "40 of 240 evaluation rows" in result.output
    assert "fix:" in result.output  # the remedy is printed
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_clean_split_passes_and_lists_what_was_checked(tmp_path: Path) -> None:
    train, test = _split(tmp_path)
    result = _run("--train", str(train), "--test", str(test), "--target", "label")
    assert result.exit_code == 0, result.output
    assert "status: PASS" in result.output
    for check_id in ("train_test_overlap", "eval_is_train", "preprocessing_leakage"):
        assert f"[pass] {check_id}" in result.output


def test_thresholds_and_fail_on(tmp_path: Path) -> None:
    train, test = _split(tmp_path, leak=5)
    base = ["--train", str(train), "--test", str(test), "--target", "label"]
    assert _run(*base).exit_code == 0  # 5 of 205 rows: warn, not fail
    assert _run(*base, "--fail-on", "warn").exit_code == 1
    strict = _run(*base, "--threshold", "train_test_overlap.fail_share=0.01")
    assert strict.exit_code == 1 and "[fail] train_test_overlap" in strict.output
    assert _run(*base, "--disable", "train_test_overlap", "--fail-on", "warn").exit_code == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing_file", "no such file"),
        ("missing_target", "--target 'label' is not a column of --test file"),
        ("mismatch", "different feature columns: missing in --test: ['d']"),
        ("garbage", "cannot read"),
        ("empty", "is empty"),
        ("bad_threshold", "expected FINDING_ID.NAME=VALUE"),
        ("unknown_threshold", "unknown threshold(s) ['nope']"),
    ],
)
def test_clear_errors_without_tracebacks(tmp_path: Path, change: str, message: str) -> None:
    train, test = _split(tmp_path)
    extra: list[str] = []
    if change == "missing_file":
        test = tmp_path / "nope.csv"
    elif change == "missing_target":
        pd.read_csv(test).drop(columns="label").to_csv(test, index=False)
    elif change == "mismatch":
        pd.read_csv(test).drop(columns="d").to_csv(test, index=False)
    elif change == "garbage":
        test.write_bytes(b'\xff\xfe\x00\x81 not, a\n\x00csv\x00"unclosed')
    elif change == "empty":
        test.write_text("")
    elif change == "bad_threshold":
        extra = ["--threshold", "fail_share=0.1"]
    elif change == "unknown_threshold":
        extra = ["--threshold", "train_test_overlap.nope=1"]
    result = _run("--train", str(train), "--test", str(test), "--target", "label", *extra)
    assert result.exit_code == 2 or result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_log_records_findings_and_the_training_fingerprint(
    tmp_path: Path, mlflow_experiment, monkeypatch
) -> None:
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.tracking import publish
    from mlflow_sanity.tracking.reports import read_training_evidence

    published = []  # a new run too goes through publish, the one way reports are logged
    real = publish.publish
    monkeypatch.setattr(publish, "publish", lambda *a, **k: published.append(k) or real(*a, **k))

    train, test = _split(tmp_path, leak=40)
    exp_name = MlflowClient().get_experiment(mlflow_experiment).name
    result = _run(
        "--train", str(train), "--test", str(test), "--target", "label",
        "--log", "--experiment", exp_name,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    run_id = result.output.strip().splitlines()[-1].split()[-1]
    run = MlflowClient().get_run(run_id)
    assert run.data.tags["sanity.status"] == "fail"
    assert run.data.tags["sanity.finding.train_test_overlap"] == "fail"
    assert run.info.status == "FINISHED"
    assert [k["what"] for k in published] == ["check-split"]
    evidence = read_training_evidence(run_id)
    assert evidence.train is not None and evidence.train.n_rows == 400

"""Errors are data: a crashed check is "not checked", and one boundary decides what is absorbed."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mlflow_sanity.checks import REGISTRY, CheckOptions, Context, check_all
from mlflow_sanity.core.boundary import Caught, Origin, UserModelError, absorbs, attempt
from mlflow_sanity.core.findings import CRASHED, MISSING, NotChecked, Report
from mlflow_sanity.core.metrics import InputError, classify
from mlflow_sanity.pipeline import build_report


def _eval_ctx() -> Context:
    y = np.array([0, 1] * 50)
    pred = y.copy()
    pred[:10] = 1 - pred[:10]
    return Context(eval=classify(y, pred))


@pytest.fixture
def crashing(monkeypatch):
    """``class_imbalance`` raising a bug of ours."""

    def boom(ctx, t):
        raise ZeroDivisionError("a bug in the check")

    chk = REGISTRY["class_imbalance"]
    monkeypatch.setitem(REGISTRY, "class_imbalance", dataclasses.replace(chk, fn=boom))


def test_a_crashing_check_is_a_crashed_record_and_coverage_partial(crashing, lenient):
    report = build_report(_eval_ctx(), source="python")
    assert report.get("class_imbalance") is None
    assert report.get("accuracy_at_baseline") is not None  # the others still ran
    (record,) = [r for r in report.skipped if r.crashed]
    assert record.check == "class_imbalance" and record.kind == CRASHED
    assert record.reason == "ZeroDivisionError: a bug in the check"
    assert report.coverage == (
        "partial: class_imbalance (crashed: ZeroDivisionError: a bug in the check)"
    )
    assert report.skipped_by_gap == {report.not_checked[0]: ["class_imbalance"]}
    again = Report.from_dict(report.to_dict())  # the kind survives report.json
    assert again.skipped == report.skipped and again.coverage == report.coverage


def test_strict_mode_reraises_a_crashing_check(crashing):
    with pytest.raises(ZeroDivisionError):
        build_report(_eval_ctx())


def test_bad_user_data_is_missing_evidence_even_in_strict_mode(monkeypatch):
    def bad(ctx, t):
        raise InputError("labels are strings the check cannot order")

    chk = REGISTRY["class_imbalance"]
    monkeypatch.setitem(REGISTRY, "class_imbalance", dataclasses.replace(chk, fn=bad))
    checked = check_all(_eval_ctx(), CheckOptions(), "python", "fit")
    (record,) = checked.crashed
    assert record.kind == MISSING and record.call == "fit"
    assert record.text == "fit: class_imbalance: labels are strings the check cannot order"


def test_old_records_load_as_missing_evidence():
    old = NotChecked.from_dict({"check": "eval_is_train", "reason": "no data", "call": "fit"})
    assert old.kind == MISSING and old.text == "fit: no data"
    assert NotChecked.from_dict("fit: no data").kind == MISSING


def test_gate_fails_a_run_whose_check_crashed(crashing, lenient, mlflow_experiment):
    import mlflow
    from click.testing import CliRunner

    from mlflow_sanity.cli import main
    from mlflow_sanity.tracking.reports import log_report

    report = build_report(_eval_ctx(), source="python")
    assert report.status == "pass"
    with mlflow.start_run() as run:
        log_report(run.info.run_id, report)
    runner = CliRunner()
    ok = runner.invoke(main, ["gate", run.info.run_id])
    assert ok.exit_code == 0, ok.output
    full = runner.invoke(main, ["gate", run.info.run_id, "--require-full-coverage"])
    assert full.exit_code == 1, full.output
    assert "class_imbalance (crashed: ZeroDivisionError" in full.output


def test_perfect_score_reads_a_crashed_leakage_check_as_not_cleared(monkeypatch, lenient):
    import pandas as pd

    from mlflow_sanity.core.splits import Split

    def boom(ctx, t):
        raise RuntimeError("overlap broke")

    chk = REGISTRY["train_test_overlap"]
    monkeypatch.setitem(REGISTRY, "train_test_overlap", dataclasses.replace(chk, fn=boom))
    r = np.random.default_rng(0)
    y = np.array([0, 1] * 100)
    proba = np.where(y[:, None] == [0, 1], 0.95, 0.05)
    ctx = Context(
        eval=classify(y, proba=proba),
        test=Split(pd.DataFrame({"a": r.normal(size=200)}), y),
        train=Split(pd.DataFrame({"a": r.normal(size=300)}), np.array([0, 1] * 150)),
    )
    report = build_report(ctx)
    f = report.get("perfect_score")
    assert f.severity.value == "warn"
    assert "train_test_overlap crashed (RuntimeError: overlap broke)" in f.message
    assert f.evidence["leakage_checks"]["train_test_overlap"].startswith("crashed")
    assert "train_test_overlap (crashed: RuntimeError: overlap broke)" in report.coverage


# -- the boundary's one rule ---------------------------------------------------------------


def test_the_rule_by_origin(lenient):
    bug, interrupt = ValueError("x"), KeyboardInterrupt()
    assert not absorbs(bug, Origin.USER)
    assert absorbs(bug, Origin.MODEL) and absorbs(bug, Origin.OUTSIDE) and absorbs(bug, Origin.OURS)
    assert not any(absorbs(interrupt, o) for o in Origin)


def test_strict_mode_raises_our_bugs_only():
    assert not absorbs(ValueError("a bug"), Origin.OURS)
    assert absorbs(InputError("bad data"), Origin.OURS)
    assert absorbs(ValueError("a server"), Origin.OUTSIDE)
    with Caught(Origin.MODEL) as caught:
        raise ValueError("the user's layer")
    assert isinstance(caught.error, UserModelError)
    assert str(caught.error) == "ValueError: the user's layer"
    with pytest.raises(ValueError):
        attempt(lambda: int("x"), 0)
    with pytest.raises(ValueError), Caught(Origin.USER):
        raise ValueError("the user's own")
    narrow = Caught(Origin.OUTSIDE, only=lambda e: isinstance(e, ConnectionError))
    with pytest.raises(KeyError), narrow:
        raise KeyError("not a connection error")


# -- the package's shape: broad handlers and private Keras names in one place each ---------

PACKAGE = Path(__file__).resolve().parent.parent / "mlflow_sanity"
BOUNDARY = {"core/boundary.py"}
SHIMS = {"adapters/keras/shim.py", "adapters/rng.py", "tracking/shim.py"}  # tracking: MLflow's
# Private names that are not Keras'/TensorFlow's: the standard library's process pool, and
# scikit-learn's estimator type (what its own ``is_classifier`` reads).
NOT_KERAS = {
    ("adapters/seeds/executors.py", "_processes"),
    ("adapters/seeds/worker.py", "_estimator_type"),
}


def _modules() -> dict[str, ast.Module]:
    return {
        p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def _broad(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return handler.type is None or any(
        isinstance(k, ast.Name) and k.id in ("Exception", "BaseException") for k in kinds
    )


def _suppresses_all(node: ast.AST) -> bool:
    """``contextlib.suppress(Exception)``: a broad handler by another name."""
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == "suppress"
        and any(
            isinstance(a, ast.Name) and a.id in ("Exception", "BaseException") for a in node.args
        )
    )


def test_no_broad_except_outside_the_boundary():
    """Every broad handler goes through ``core/boundary.py``: one rule says what is absorbed."""
    found = [
        f"{path}:{node.lineno}"
        for path, tree in _modules().items()
        if path not in BOUNDARY
        for node in ast.walk(tree)
        if (isinstance(node, ast.ExceptHandler) and _broad(node)) or _suppresses_all(node)
    ]
    assert not found, f"broad except outside core/boundary.py (use Caught/attempt): {found}"


def _own_names(trees: dict[str, ast.Module]) -> set[str]:
    """Every private name the package itself defines (functions, classes, attributes)."""
    names = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name)
    return {n for n in names if n.startswith("_")}


def _private(name: object) -> bool:
    return isinstance(name, str) and name.startswith("_") and not name.startswith("__")


def test_private_keras_and_tensorflow_names_only_in_the_shims():
    """``model._compile_loss`` and ``getattr(ds, "_tensors")`` live in the shims, so a Keras
    release that renames one breaks one function there, not a check."""
    trees = _modules()
    own = _own_names(trees)
    found = []
    for path, tree in trees.items():
        if path in SHIMS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1:
                    obj, arg = node.args[0], node.args[1]
                    if isinstance(obj, ast.Name) and obj.id in ("self", "cls"):
                        continue
                    if (path, getattr(arg, "value", None)) in NOT_KERAS:
                        continue
                    if isinstance(arg, ast.Constant) and _private(arg.value):
                        found.append(f"{path}:{node.lineno} {node.func.id}(..., {arg.value!r})")
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                root = node.value
                if isinstance(root, ast.Name) and root.id in ("self", "cls"):
                    continue
                if node.attr not in own:
                    found.append(f"{path}:{node.lineno} .{node.attr}")
    assert not found, f"private Keras/TensorFlow names outside the shims: {found}"


# -- typed carried state -------------------------------------------------------------------


def test_no_code_decides_on_report_inputs():
    """``Report.inputs`` is for people; what code reads is a typed section (``provenance``,
    ``skipped``, ``state``, ``model_selection``...). Only the loaders of old report.json
    files (``core/findings.py``, ``core/state.py``) read old keys out of it."""
    found = []
    for path, tree in _modules().items():
        if path in ("core/findings.py", "core/state.py"):
            continue
        for node in ast.walk(tree):
            read = (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and getattr(node.value, "attr", None) == "inputs"
            ) or (
                isinstance(node, ast.Attribute)
                and node.attr == "get"
                and getattr(node.value, "attr", None) == "inputs"
            )
            if read:
                found.append(f"{path}:{node.lineno}")
    assert not found, f"code reading Report.inputs: {found}"


def test_model_selection_is_a_typed_section_and_old_reports_still_load():
    from mlflow_sanity.core.splits import ModelSelection

    selection = ModelSelection(("val_loss",), ("EarlyStopping",))
    report = Report(model_selection=selection)
    assert Report.from_dict(report.to_dict()).model_selection == selection
    old = {"findings": [], "inputs": {"model_selection": selection.to_dict()}}
    assert Report.from_dict(old).model_selection == selection
    older = {"findings": [], "inputs": {"monitored": ["val_loss"]}}
    assert Report.from_dict(older).model_selection.monitors == ("val_loss",)
    assert Report.from_dict({"findings": []}).model_selection is None
    merged = Report(model_selection=selection).merge(Report())
    assert merged.model_selection == selection


def test_the_evaluated_split_is_the_reports_whether_or_not_the_check_ran():
    import pandas as pd

    from mlflow_sanity.core.fingerprint import compute
    from mlflow_sanity.core.splits import Split

    r = np.random.default_rng(1)
    train = pd.DataFrame({"a": r.normal(size=300), "b": r.normal(size=300)})
    test = pd.DataFrame({"a": r.normal(size=80), "b": r.normal(size=80)})
    ctx = {"test": Split(test), "fingerprint": compute(train)}
    ran = build_report(Context(**ctx))
    off = build_report(Context(**ctx), disable=["preprocessing_leakage"])
    assert ran.get("preprocessing_leakage") is not None
    assert off.get("preprocessing_leakage") is None
    assert ran.evaluated_split is not None and off.evaluated_split is not None
    assert ran.evaluated_split.digest == off.evaluated_split.digest
    assert build_report(Context(test=Split(test))).evaluated_split is None

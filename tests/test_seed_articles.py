"""The project's origin stories, run as their readers would: article code, autolog prepended.

Each of the 15 code examples in ``../shared/seeds/*.txt`` (next to the checkout) runs
unchanged with ``mlflow_sanity.autolog()`` on; the findings of the runs it leaves must
name the article's point. The examples draw unseeded random data, so every expectation
here holds for any draw. Where the folder is missing (a checkout without ``shared/``)
the test skips and says so. The articles' code is read, never copied into the project.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
COLLAPSE = {"prediction_collapse", "accuracy_at_baseline", "minority_class_missed"}
AT_CHANCE = {"accuracy_at_baseline", "prediction_collapse", "overfitting"}

# (article id prefix, example number) -> groups of finding ids; each group must have at
# least one flagged member among the example's runs.
EXPECTED: dict[tuple[str, int], list[set[str]]] = {
    ("000", 1): [COLLAPSE],  # 99/1 validation set, evaluate without a fit
    ("000", 2): [{"duplicate_eval_rows", "accuracy_at_baseline"}],  # "resampled" val set
    ("000", 3): [COLLAPSE],  # fit on the 99/1 set itself
    ("001", 1): [COLLAPSE],  # 90/10 data, "100% validation accuracy"
    ("001", 2): [AT_CHANCE],  # random labels: the test score is chance
    ("001", 3): [AT_CHANCE],
    ("002", 1): [COLLAPSE, {"eval_is_train"}],  # 990/10, evaluated on the fitted rows
    ("002", 2): [{"loss_output_mismatch"}, {"hidden_softmax"}, {"eval_is_train"}],
    ("002", 3): [{"validation_reuse"}],  # evaluate on the EarlyStopping set
    ("003", 1): [{"eval_is_train"}],
    ("003", 2): [COLLAPSE, {"eval_is_train"}],  # 90/10
    ("003", 3): [{"eval_is_train"}],
    ("004", 1): [{"preprocessing_leakage"}],  # scaler fitted before the split
    ("004", 2): [AT_CHANCE],  # five runs of one configuration on random labels
    ("004", 3): [COLLAPSE],  # 90/10 test set
}


def _examples() -> list[tuple[str, int, str]]:
    found = []
    for article in sorted(SEEDS.glob("*.txt")):
        blocks = re.findall(r"```python\n(.*?)```", article.read_text(), re.S)
        for number, code in enumerate(blocks, start=1):
            found.append((article.name[:3], number, code))
    return found


def _completed(code: str, first_example: str) -> str:
    """The two completions a reader makes: a missing import, 'same set as Example 1'."""
    if "train_test_split(" in code and "import train_test_split" not in code:
        code = "from sklearn.model_selection import train_test_split\n" + code
    same = re.search(r"^.*same .* as Example 1.*$", code, re.M)
    if same:  # the placeholder line becomes Example 1's data
        setup = [line for line in first_example.splitlines() if re.match(r"(X|y)_val = ", line)]
        code = code.replace(same.group(0), "\n".join(setup))
    return code


def _params():
    if not SEEDS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{SEEDS} not found"))]
    examples = _examples()
    firsts = {article: code for article, number, code in examples if number == 1}
    return [
        pytest.param((a, n, _completed(code, firsts[a])), id=f"{a}-example{n}")
        for a, n, code in examples
    ]


@pytest.fixture(scope="module")
def autolog_on(keras, tracking_uri):
    import mlflow_sanity
    from mlflow_sanity.report import plots

    saved = {name: getattr(plots, name) for name in ("learning_curves_png",)}
    plots.learning_curves_png = lambda *a, **k: b"\x89PNG\r\n\x1a\n"  # not under test here
    mlflow_sanity.autolog(silent=True)
    yield
    mlflow_sanity.autolog(disable=True)
    for name, fn in saved.items():
        setattr(plots, name, fn)


def _run_example(code: str) -> list:
    """Execute the example in a fresh experiment; its runs' reports, oldest first."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from mlflow_sanity.tracking.reports import read_report

    exp = mlflow.set_experiment(f"seed-article-{uuid.uuid4().hex[:8]}").experiment_id
    exec(compile(code, "<seed example>", "exec"), {"__name__": "__seed_example__"})
    while mlflow.active_run() is not None:
        mlflow.end_run()
    runs = MlflowClient().search_runs([exp], order_by=["attributes.start_time ASC"])
    return [read_report(r.info.run_id) for r in runs]


@pytest.mark.parametrize("example", _params())
def test_article_example_is_flagged_for_its_point(autolog_on, example):
    article, number, code = example
    reports = [r for r in _run_example(code) if r is not None]
    assert reports, "the example left no checked run"
    flagged = {f.id for r in reports for f in r.flagged}
    for group in EXPECTED[(article, number)]:
        assert flagged & group, f"none of {sorted(group)} flagged; got {sorted(flagged)}"
    if (article, number) == ("004", 1):  # the corrected twin is not accused
        assert reports[-1].get("preprocessing_leakage") is not None
        assert not reports[-1].get("preprocessing_leakage").severity.flagged

"""docs/tasks.md's table of which checks run for which task is generated from the registry
(``checks/catalog.py``) and must not go stale; its example runs. No Keras, no MLflow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlflow_sanity.checks import REGISTRY, catalog
from mlflow_sanity.core.task import Task

TASKS_DOC = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"


def _row(table: str, check_id: str) -> list[str]:
    line = next(r for r in table.splitlines() if r.startswith(f"| `{check_id}` |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_tasks_table_is_what_the_registry_generates():
    text = TASKS_DOC.read_text(encoding="utf-8")
    assert catalog.TASKS_BEGIN in text and catalog.TASKS_END in text
    assert not catalog.stale_tables(TASKS_DOC), (
        "docs/tasks.md is stale: run python -m mlflow_sanity.checks.catalog --write docs/tasks.md"
    )
    listed = {cid for cid in REGISTRY if f"| `{cid}` |" in text}
    assert listed == set(REGISTRY)


def test_a_row_marks_exactly_the_tasks_a_check_judges():
    table = catalog.tasks_table()
    tasks = list(Task)
    for cid in ("regression_at_baseline", "accuracy_at_baseline", "prediction_collapse"):
        cells = _row(table, cid)[2:]
        assert [t for t, c in zip(tasks, cells, strict=True) if c == "✓"] == [
            t for t in tasks if t in REGISTRY[cid].tasks
        ]
    assert _row(table, "regression_at_baseline")[2:] == ["", "", "", "", "✓", ""]


def test_render_tasks_rewrites_only_between_its_markers():
    text = f"intro\n{catalog.TASKS_BEGIN}\nstale row\n{catalog.TASKS_END}\nend\n"
    out = catalog.render(text)
    assert out.startswith(f"intro\n{catalog.TASKS_BEGIN}\n| check | theme |")
    assert "stale row" not in out and out.endswith(f"{catalog.TASKS_END}\nend\n")
    assert catalog.render(out) == out
    assert catalog.render_tasks("no markers") == "no markers"
    with pytest.raises(ValueError, match="has no"):
        catalog.render_tasks(f"{catalog.TASKS_BEGIN}\nno end")


def test_the_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", TASKS_DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(TASKS_DOC), "exec"), {})

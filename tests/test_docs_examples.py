"""Every fenced ``python`` block of the README and of ``docs/*.md`` runs as written.

The README's quickstarts are each copy-paste runnable on their own, so each runs in a
fresh namespace; a site page's blocks run one after the other in one namespace (a page
sets its data up once, as a reader following it would). Every run gets a fresh MLflow
experiment in the suite's store and leaves autologging off. A block marked
``python notest`` is illustration only (``tests/test_docs.py`` keeps them under five).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line, code)`` of each runnable Python block of ``path``, in order."""
    text = path.read_text(encoding="utf-8")
    return [
        (text[: m.start()].count("\n") + 1, m.group("code"))
        for m in BLOCK.finditer(text)
        if "notest" not in m.group("info")
    ]


def _cases() -> list:
    readme = ROOT / "README.md"
    cases = [(readme, [block]) for block in python_blocks(readme)]
    # the README's "continuing the example above" block runs after the one it continues
    for i, (_, [(line, code)]) in reversed(list(enumerate(cases))):
        if code.lstrip().startswith("p = model.predict"):
            cases[i - 1 : i + 1] = [(readme, [cases[i - 1][1][0], (line, code)])]
    cases += [(page, python_blocks(page)) for page in sorted((ROOT / "docs").glob("*.md"))]
    return [
        pytest.param(
            path,
            blocks,
            id=f"{path.name}:{blocks[0][0]}" if path.name == "README.md" else path.name,
            marks=[pytest.mark.keras] if any("keras" in c for _, c in blocks) else [],
        )
        for path, blocks in cases
        if blocks
    ]


def _default_requirements(*args, fallback=None, **kwargs):
    return list(fallback or [])


@pytest.fixture
def no_requirements_inference(monkeypatch):
    """``log_model`` loads the model again in a subprocess to list its pip requirements
    (5-20 s a model here); the examples are about the checks, so the flavour's defaults do."""
    import mlflow.keras.save
    import mlflow.models

    monkeypatch.setattr(mlflow.keras.save, "infer_pip_requirements", _default_requirements)
    monkeypatch.setattr(mlflow.models, "infer_pip_requirements", _default_requirements)


@pytest.fixture
def quiet_autolog():
    """Whatever a block switched on is switched off again, for the tests after it."""
    yield
    import mlflow

    import mlflow_sanity

    mlflow_sanity.autolog(disable=True)
    mlflow.keras.autolog(disable=True)
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.mark.parametrize(("path", "blocks"), _cases())
def test_the_example_runs_as_written(
    path, blocks, request, mlflow_experiment, quiet_autolog, no_requirements_inference
):
    if any("keras" in code for _, code in blocks):
        request.getfixturevalue("keras")  # imported once per session, threads capped
        request.getfixturevalue("fast_plots")
    namespace: dict = {"__name__": "__docs__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name}, the block at line {line} fails: {exc!r}") from exc


def test_the_blocks_are_found_and_markers_skip_a_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n```python notest\nnot python\n```\n"
        "```bash\nls\n```\n```python\ny = x + 1\n```\n"
    )
    assert python_blocks(page) == [(2, "x = 1\n"), (11, "y = x + 1\n")]
    assert len(_cases()) >= 8  # the README's quickstarts and the site's pages

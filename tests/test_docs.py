"""The front door and the site: a README that fits on a screen or two, a site that builds
with ``--strict`` (a broken link, a missing anchor or a page left out of the navigation
fails), and fenced Python blocks that are run rather than marked. No Keras, no MLflow."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 250
MAX_MARKED_BLOCKS = 5
FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n", re.MULTILINE)


def documents() -> list[Path]:
    """The Markdown whose Python blocks are examples: the README and every site page."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert 150 <= len(lines) < MAX_README_LINES, f"README.md has {len(lines)} lines"
    text = "\n".join(lines)
    # the two commands, verbatim, and install right after the pitch
    assert "make demo   # creates .venv" in text and "make test   # creates .venv" in text
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[0] == "## Install into your own environment", headings
    assert "projects/flagged_run.png" in text
    for way in ("mlflow_sanity.autolog()", 'evaluators="sanity"', "mlflow run .", "gate"):
        assert way in text, way
    assert "## Why each dependency" in text


def test_each_readme_quickstart_block_is_short():
    text = README.read_text(encoding="utf-8")
    for block in re.findall(r"```(?:python|bash)\n(.*?)```", text, re.DOTALL):
        assert block.count("\n") < 20, block


def test_few_python_blocks_are_marked_not_runnable():
    marked = {
        f"{path.name}:{text[: m.start()].count(chr(10)) + 1}"
        for path in documents()
        for text in [path.read_text(encoding="utf-8")]
        for m in FENCE.finditer(text)
        if "notest" in m.group("info")
    }
    assert len(marked) < MAX_MARKED_BLOCKS, f"blocks marked notest: {sorted(marked)}"


def test_every_page_links_only_to_pages_that_exist():
    """The cheap half of the strict build, readable when it fails: relative .md links."""
    for path in documents():
        for target in re.findall(r"\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)", path.read_text("utf-8")):
            assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"


@pytest.mark.skipif(
    shutil.which("mkdocs") is None and not Path(sys.executable).with_name("mkdocs").exists(),
    reason="mkdocs is not installed (pip install -e '.[test]')",
)
def test_the_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cli = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "mlflow-sanity gate" in cli and "--require-full-coverage" in cli  # from click
    assert (tmp_path / "site" / "img" / "flagged_run.png").stat().st_size > 10_000

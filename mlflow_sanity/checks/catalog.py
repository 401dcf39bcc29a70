"""The catalog of checks: docs/checks.md's tables and entries, generated from the registry.

The registry is the one list of checks: each ``@check`` carries its id, what it flags
(``flags``), the ``Context`` fields it needs, the tasks it applies to and its default
thresholds. The documentation is written from it, between marker comments, so a new or
renamed check or a changed default shows up without a hand edit::

    <!-- checks:begin themes=leakage -->
    ...generated table...
    <!-- checks:end -->

    <!-- checks:details themes=leakage -->
    ...one generated entry per check: trigger, thresholds, remedy, an example message...
    <!-- checks:end -->

``themes=`` (comma-separated, in table order) picks the checks of those themes; without
it every check is listed. ``make docs`` (``python -m mlflow_sanity.checks.catalog
--write``) regenerates them; ``--check`` exits 1 when they are stale (``make test`` and
``tests/test_catalog.py`` run it). The default file is ``docs/checks.md``; naming the
README (which kept the tables until they moved to the site) checks that page instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from mlflow_sanity.checks import REGISTRY, Check, Context, run_checks
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.metrics import classify
from mlflow_sanity.core.splits import Split
from mlflow_sanity.core.task import Task

BEGIN = re.compile(r"<!-- checks:(?P<kind>begin|details)(?: themes=(?P<themes>[a-z_,]+))? -->")
END = "<!-- checks:end -->"
PAGE = Path("docs") / "checks.md"
PAGES = (PAGE, Path("docs") / "tasks.md")  # every generated page: --write/--check by default
REGENERATE = "make docs  (python -m mlflow_sanity.checks.catalog --write)"
# Appended to every ``needs_symptom`` cause: the registry's one rule (``judge_causes``).
NEEDS_SYMPTOM = (
    "**warn only with a symptom** it explains in the same report (else info, with the "
    "advice and why)"
)


def flags_of(chk: Check) -> str:
    """What ``chk`` flags, with the cause rule for ``needs_symptom`` checks."""
    text = chk.flags or chk.summary.rstrip(".")
    return f"{text}; {NEEDS_SYMPTOM}" if chk.needs_symptom else text


def thresholds_of(chk: Check) -> str:
    """``name=default`` for each threshold, in declaration order; "—" for none."""
    return ", ".join(f"`{k}={v:g}`" for k, v in chk.defaults.items()) or "—"


def needs_of(chk: Check) -> str:
    """The ``Context`` fields without which the check is not run (reported as not checked)."""
    parts = [", ".join(f"`{name}`" for name in chk.requires)]
    if chk.one_of:
        parts.append("one of " + " / ".join(f"`{name}`" for name in chk.one_of))
    return " + ".join(p for p in parts if p) or "—"


def tasks_of(chk: Check) -> str | None:
    """The tasks the check applies to ("every task" for all of them); None before the
    registry knew tasks."""
    tasks = getattr(chk, "tasks", None)
    if not tasks:
        return None
    kinds = list(type(next(iter(tasks))))  # the Task enum, in its own order
    if set(kinds) <= set(tasks):
        return "every task"
    return ", ".join(str(getattr(t, "value", t)) for t in kinds if t in tasks)


def checks_of(themes: Sequence[str] | None = None) -> list[Check]:
    """The registered checks of ``themes`` (in that order), else every check."""
    if not themes:
        return list(REGISTRY.values())
    unknown = set(themes) - {chk.theme for chk in REGISTRY.values()}
    if unknown:
        raise ValueError(f"unknown check theme(s) {sorted(unknown)}")
    return [chk for theme in themes for chk in REGISTRY.values() if chk.theme == theme]


def markdown_table(themes: Sequence[str] | None = None) -> str:
    """The Markdown table of the checks of ``themes``; a theme column when it spans several."""
    checks = checks_of(themes)
    several = len({chk.theme for chk in checks}) > 1
    tasks = any(tasks_of(chk) for chk in checks)
    head = ["id", *(["theme"] if several else []), *(["tasks"] if tasks else [])]
    head += ["flags", "needs", "default thresholds"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for chk in checks:
        cells = [
            f"[`{chk.id}`](#{chk.id})",
            *([chk.theme] if several else []),
            *([tasks_of(chk) or "—"] if tasks else []),
            flags_of(chk),
            needs_of(chk),
            thresholds_of(chk),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _scenarios() -> Iterable[Context]:
    """Small fixed evaluation sets that trip the evaluation-set checks: where an example
    message comes from. Deterministic (a fixed seed), so the page is stable."""
    rng = np.random.default_rng(0)
    y = np.array([0] * 180 + [1] * 20)
    yield Context(eval=classify(y, np.zeros(200, dtype=int)))  # one class predicted
    yield Context(eval=classify(np.ones(40, dtype=int), np.r_[np.ones(30), np.zeros(10)]))
    few = np.array([0, 1] * 15)
    yield Context(eval=classify(few, few, np.where(few == 1, 0.9, 0.1)))  # 30 rows, perfect
    y = rng.integers(0, 2, 400)
    right = rng.random(400) < 0.7
    pred = np.where(right, y, 1 - y)
    yield Context(eval=classify(y, pred, np.where(pred == 1, 0.99, 0.01)))  # over-confident
    y = np.array([0] * 990 + [1] * 4 + [2] * 6)
    yield Context(eval=classify(y, y))  # a rare class
    yield from _leaky_scenarios(rng)


def _leaky_scenarios(rng: np.random.Generator) -> Iterable[Context]:
    """Test rows copied from training and within the test set, a column that is the label;
    a scaler fitted before the split; a test set that is the training set."""
    y = rng.integers(0, 2, 400)
    x = np.c_[y + rng.normal(0, 0.01, 400), rng.normal(5, 2, (400, 3))]
    x = (x - x.mean(axis=0)) / x.std(axis=0)  # standardised before the split
    test = np.r_[x[300:], x[:40], x[300:340]]  # 40 training rows, 40 repeated test rows
    y_test = np.r_[y[300:], y[:40], y[300:340]]
    yield Context(
        eval=classify(y_test, y_test), train=Split(x[:300], y[:300]), test=Split(test, y_test)
    )
    yield Context(train=Split(x[:300], y[:300]), test=Split(x[300:], y[300:]))  # the scaler
    yield Context(
        eval=classify(y[:300], y[:300]), train=Split(x[:300], y[:300]), test=Split(x[:300], y[:300])
    )


@cache
def examples() -> Mapping[str, str]:
    """One example message per check the scenarios flag: ``check id -> "[warn] message"``."""
    seen: dict[str, str] = {}
    for ctx in _scenarios():
        for f in run_checks(ctx):
            if f.severity is not Severity.PASSED and f.id not in seen:
                seen[f.id] = f"[{f.severity.value}] {f.message}"
    return seen


def _entry(chk: Check) -> str:
    """One check's entry: what triggers it, its thresholds and how to change them, the
    remedy and, where a scenario trips it, an example message."""
    facts = [f"theme `{chk.theme}`", f"needs {needs_of(chk)}"]
    if tasks_of(chk):
        facts.insert(1, f"tasks: {tasks_of(chk)}")
    lines = [f"### `{chk.id}`", "", " · ".join(facts), "", f"**Triggers:** {flags_of(chk)}.", ""]
    if chk.defaults:
        name, value = next(iter(chk.defaults.items()))
        lines += [
            f"**Default thresholds:** {thresholds_of(chk)}. Change one with "
            f'`thresholds={{"{chk.id}": {{"{name}": {value:g}}}}}` (`autolog`, '
            f"`evaluator_config`, `check_predictions`) or `--threshold {chk.id}.{name}={value:g}` "
            "(`mlflow-sanity check-split`).",
            "",
        ]
    lines += [f"**Remedy:** {chk.remedy}", ""]
    if chk.id in examples():
        lines += ["**Example:**", "", "```text", examples()[chk.id], "```", ""]
    return "\n".join(lines).rstrip("\n")


def details(themes: Sequence[str] | None = None) -> str:
    """The generated entries of the checks of ``themes``."""
    return "\n\n".join(_entry(chk) for chk in checks_of(themes))


def render(text: str) -> str:
    """``text`` with every marked block regenerated (the markers stay)."""
    out: list[str] = []
    pos = 0
    for begin in BEGIN.finditer(text):
        if begin.start() < pos:
            continue  # a begin marker inside a block already replaced
        end = text.find(END, begin.end())
        if end < 0:
            raise ValueError(f"{begin.group(0)} has no {END}")
        themes = begin.group("themes")
        chosen = themes.split(",") if themes else None
        block = markdown_table(chosen) if begin.group("kind") == "begin" else details(chosen)
        out += [text[pos : begin.end()], "\n", block, "\n"]
        pos = end
    out.append(text[pos:])
    return render_tasks("".join(out))


TASKS_BEGIN = "<!-- tasks:begin -->"
TASKS_END = "<!-- tasks:end -->"


def tasks_table() -> str:
    """Which checks run for which task (``docs/tasks.md``): a row per check, a ✓ in the
    column of each task its ``tasks`` hold."""
    order = list(Task)
    head = ["check", "theme", *(f"`{t.value}`" for t in order)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for chk in REGISTRY.values():
        marks = ["✓" if t in chk.tasks else "" for t in order]
        lines.append("| " + " | ".join([f"`{chk.id}`", chk.theme, *marks]) + " |")
    return "\n".join(lines)


def render_tasks(text: str) -> str:
    """``text`` with the table between ``TASKS_BEGIN``/``TASKS_END`` regenerated."""
    begin = text.find(TASKS_BEGIN)
    if begin < 0:
        return text
    end = text.find(TASKS_END, begin)
    if end < 0:
        raise ValueError(f"{TASKS_BEGIN} has no {TASKS_END}")
    head = text[: begin + len(TASKS_BEGIN)]
    return f"{head}\n{tasks_table()}\n{text[end:]}"


def target(path: Path) -> Path:
    """The file whose blocks ``path`` stands for: the README without markers (its tables
    moved) stands for ``docs/checks.md`` beside it."""
    if path.name == "README.md" and not BEGIN.search(path.read_text(encoding="utf-8")):
        return path.parent / PAGE
    return path


def stale_tables(path: Path) -> bool:
    """Whether ``path``'s marked blocks differ from what the registry generates."""
    text = target(path).read_text(encoding="utf-8")
    return render(text) != text


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlflow_sanity.checks.catalog",
        description="The generated pages (docs/checks.md, docs/tasks.md), from the check registry.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--markdown", action="store_true", help="print a table")
    action.add_argument(
        "--write", type=Path, nargs="?", const=PAGES, metavar="FILE", help="regenerate FILE"
    )
    action.add_argument(
        "--check", type=Path, nargs="?", const=PAGES, metavar="FILE", help="exit 1 if stale"
    )
    parser.add_argument("--themes", default="", help="comma-separated themes (--markdown)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.markdown:
        print(markdown_table([t for t in args.themes.split(",") if t] or None))
        return 0
    given = args.write or args.check
    paths = [target(p) for p in (given if isinstance(given, tuple) else (given,))]
    if args.write:
        for path in paths:
            path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    stale = [path for path in paths if stale_tables(path)]
    for path in stale:
        print(f"{path}: the checks are stale; run {REGENERATE}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

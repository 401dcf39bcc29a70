"""The catalog of checks: the README's tables generated from the registry.

The registry is the one list of checks: each ``@check`` carries its id, what it flags
(``flags``), the ``Context`` fields it needs and its default thresholds. The README's
tables are written from it, between marker comments, so a new or renamed check or a
changed default shows up in the documentation without a hand edit::

    <!-- checks:begin themes=leakage -->
    ...generated table...
    <!-- checks:end -->

``themes=`` (comma-separated, in table order) picks the checks of those themes; without
it the table lists every check. ``make docs`` (``python -m mlflow_sanity.checks.catalog
--write README.md``) regenerates the tables; ``--check`` exits 1 when they are stale
(``tests/test_catalog.py`` runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlflow_sanity.checks import REGISTRY, Check
from mlflow_sanity.core.task import Task

BEGIN = re.compile(r"<!-- checks:begin(?: themes=(?P<themes>[a-z_,]+))? -->")
END = "<!-- checks:end -->"
REGENERATE = "make docs  (python -m mlflow_sanity.checks.catalog --write README.md)"
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
    head = ["id", *(["theme"] if several else []), "flags", "needs", "default thresholds"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for chk in checks:
        cells = [
            f"`{chk.id}`",
            *([chk.theme] if several else []),
            flags_of(chk),
            needs_of(chk),
            thresholds_of(chk),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def render(text: str) -> str:
    """``text`` with every marked table regenerated (the markers stay)."""
    out: list[str] = []
    pos = 0
    for begin in BEGIN.finditer(text):
        if begin.start() < pos:
            continue  # a begin marker inside a block already replaced
        end = text.find(END, begin.end())
        if end < 0:
            raise ValueError(f"{begin.group(0)} has no {END}")
        themes = begin.group("themes")
        table = markdown_table(themes.split(",") if themes else None)
        out += [text[pos : begin.end()], "\n", table, "\n"]
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


def stale_tables(path: Path) -> bool:
    """Whether ``path``'s marked tables differ from what the registry generates."""
    text = path.read_text(encoding="utf-8")
    return render(text) != text


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlflow_sanity.checks.catalog",
        description="The README's tables of checks, generated from the check registry.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--markdown", action="store_true", help="print a table")
    action.add_argument("--write", type=Path, metavar="FILE", help="regenerate FILE's tables")
    action.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE is stale")
    parser.add_argument("--themes", default="", help="comma-separated themes (--markdown)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.markdown:
        print(markdown_table([t for t in args.themes.split(",") if t] or None))
        return 0
    if args.write:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(render(text), encoding="utf-8")
        return 0
    if stale_tables(args.check):
        print(f"{args.check}: the checks tables are stale; run {REGENERATE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

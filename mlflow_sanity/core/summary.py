"""A report as a few readable lines, and those lines as a small HTML block.

``print(report)`` in a script and a report on the last line of a notebook cell show the
same summary the console shows after a flagged call: the status, the figure to read
instead of the headline, each flagged finding with its reason, and what was not checked.
The HTML block is the one the console shows under a Jupyter cell (``report/console.py``).
Plain text in, text out: no renderer, no MLflow.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Protocol


class _FindingLike(Protocol):
    id: str
    message: str
    source: str

    @property
    def severity(self) -> object: ...


def text_lines(
    status: str,
    corrected: str | None,
    flagged: Iterable[_FindingLike],
    not_checked: Sequence[str],
    n_checks: int,
) -> list[str]:
    """The summary: status, corrected figure, one line per flagged finding, the gaps."""
    flagged = list(flagged)
    lines = [f"mlflow-sanity: {status.upper()} ({len(flagged)} of {n_checks} checks flagged)"]
    if corrected:
        lines.append(f"  read instead: {corrected}")
    for f in flagged:
        where = f" ({f.source})" if "#" in f.source else ""
        severity = getattr(f.severity, "value", f.severity)
        lines.append(f"  [{severity}] {f.id}{where}: {f.message}")
    if not flagged:
        lines.append("  nothing flagged" + (" in what could be checked" if not_checked else ""))
    lines += [f"  not checked: {gap}" for gap in not_checked]
    return lines


def html_block(lines: Sequence[str], status: str) -> str:
    """``lines`` as one escaped block with a border in the status' colour."""
    colour = {"fail": "#b00020", "warn": "#8a6d00"}.get(status, "#2e7d32")
    body = "<br>".join(html.escape(line) for line in lines)
    return (
        f'<div style="border-left:4px solid {colour};padding:4px 8px;'
        f'font-family:monospace;font-size:90%">{body}</div>'
    )

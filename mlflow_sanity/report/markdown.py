"""Markdown renderings: the run description section and the terminal summary."""

from __future__ import annotations

import re

from mlflow_sanity.core.findings import Finding, Report
from mlflow_sanity.core.verdict import Verdict
from mlflow_sanity.report.calls import verdict_of

NOTE_START = "<!-- mlflow-sanity:start -->"
NOTE_END = "<!-- mlflow-sanity:end -->"
_NOTE_RE = re.compile(re.escape(NOTE_START) + r".*?" + re.escape(NOTE_END), re.DOTALL)
_ICON = {"fail": "FAIL", "warn": "WARN", "pass": "PASS"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def md_escape(text: str) -> str:
    """User strings (labels, column names) must not become markup in the MLflow UI."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _headline(report: Report, found: Verdict) -> str:
    """The headline sentence: the accuracy, which call's data it is, and how many problems."""
    n = len(found.flagged)
    acc = report.metrics.get("accuracy")
    if acc is None:
        return f"{n} problem(s) found."
    of = f" ({md_escape(found.headline)})" if found.headline else ""
    named = ", each named with the call it is about" if found.several_calls else ""
    return f"Accuracy {acc:.3f}{of} is not trustworthy: {n} problem(s) found{named}."


def _bullet(f: Finding, found: Verdict) -> str:
    where = found.where.get(f.id, "")
    where = f" ({md_escape(where)})" if where else ""
    return f"- **{f.severity.value}** `{f.id}`{where}: {md_escape(f.message)}"


def note_section(report: Report, max_findings: int = 8, *, verdict: Verdict | None = None) -> str:
    """Two lines a person reads in the run description, plus one bullet per flagged finding,
    each naming the call and the data it is about. ``verdict``: the report's, when the
    caller has it (``calls.verdict_of``)."""
    found = verdict or verdict_of(report)
    lines = [NOTE_START, f"### mlflow-sanity: {_ICON[found.status]}"]
    flagged = found.flagged
    if found.corrected:
        lines.append(f"**Corrected:** {md_escape(found.corrected)}")
        lines.append("")
    if flagged:
        lines.append(_headline(report, found))
        lines += [_bullet(f, found) for f in flagged[:max_findings]]
        if len(flagged) > max_findings:
            lines.append(f"- … and {len(flagged) - max_findings} more (see sanity/report.html)")
        lines.append("")  # what follows is not part of the last bullet
    gaps = found.not_checked
    if gaps:
        shown = "; ".join(md_escape(g) for g in gaps[:max_findings])
        more = f"; … and {len(gaps) - max_findings} more" if len(gaps) > max_findings else ""
        lines.append(f"Not checked: {shown}{more}.")
        if not flagged:
            lines.append("Nothing was flagged in what could be checked; see sanity/report.html.")
    elif not flagged:
        lines.append("No problems found; see sanity/report.html for what was measured.")
    lines.append(NOTE_END)
    return "\n".join(lines)


def with_note(existing: str | None, report: Report, *, verdict: Verdict | None = None) -> str:
    """A run's or model's description with our section (``note_section``) in it: our
    previous section replaced, what the user wrote kept."""
    section = note_section(report, verdict=verdict)
    existing = existing or ""
    if NOTE_START in existing:
        return _NOTE_RE.sub(lambda _: section, existing, count=1)
    return f"{existing.rstrip()}\n\n{section}" if existing.strip() else section


def terminal_summary(report: Report) -> str:
    """Plain-text summary for terminals and CI logs."""
    found = verdict_of(report)
    lines = [f"mlflow-sanity status: {found.status.upper()}"]
    if found.corrected:
        lines.append(f"  corrected: {found.corrected}")
    for f in found.flagged:
        where = found.where.get(f.id, "")
        lines.append(
            f"  [{f.severity.value:4}] {f.id}{f' ({where})' if where else ''}: {f.message}"
        )
        if f.remedy:
            lines.append(f"         fix: {f.remedy}")
    gaps = found.not_checked
    if not found.flagged:
        lines.append("  no warn/fail findings" + (" in what could be checked" if gaps else ""))
    lines.append(f"  coverage: {'partial' if gaps else 'full'}")
    for gap in gaps:
        lines.append(f"  not checked: {gap}")
    return "\n".join(lines)

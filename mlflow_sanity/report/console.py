"""The verdict said where the number was printed: a console line after a flagged call.

Keras prints ``accuracy: 0.99`` to the console; a verdict that only lives in MLflow is
missed. After a flagged ``fit`` or ``evaluate`` one short summary is said once: in a
terminal or script through the ``mlflow_sanity`` logger at WARNING (silence it the usual
way, or ``autolog(silent=True)``); in Jupyter as a compact HTML block under the cell, and
the logger then records it at DEBUG only (at WARNING it would print the same summary a
second time, as plain text on stderr). Nothing is said for a clean pass.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.summary import html_block
from mlflow_sanity.report.calls import verdict_of
from mlflow_sanity.report.links import run_link

_log = logging.getLogger("mlflow_sanity")
PENDING_PREFIX = "pending-"  # a spooled report whose run is created by ``mlflow-sanity sync``
MAX_REASONS = 4  # findings explained in the console; the rest are counted and pointed to
# A sentence ends at ". " before a capital or a quote (not inside "0.90", "e.g. 'x'", "vs.").
_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!\bvs)[.!?](?=\s+[A-Z\"'(`])")


def first_sentence(message: str) -> str:
    """The message's first sentence, whole: a reason is shortened by choosing what to say,
    never by cutting a sentence (the rest is one ``mlflow-sanity report RUN_ID`` away)."""
    found = _SENTENCE_END.search(message)
    return message[: found.start() + 1] if found else message


def summary_lines(report: Report, run_id: str, what: str, tracking_uri: str) -> list[str]:
    """Status, every flagged finding (its call and the first sentence of its reason, up to
    ``MAX_REASONS`` of them), and where the run and the full report are."""
    if run_id.startswith(PENDING_PREFIX):
        where = [
            "  not logged yet (the tracking server could not be reached): upload it with "
            "mlflow-sanity sync"
        ]
        full = "mlflow-sanity sync, then mlflow-sanity report RUN_ID"
    else:
        where = [f"  UI: {run_link(run_id, tracking_uri)}"]
        full = f"mlflow-sanity report {run_id}"
    found = verdict_of(report)
    shown = found.flagged[:MAX_REASONS]
    more = len(found.flagged) - len(shown)
    ids = ", ".join(dict.fromkeys(f.id for f in shown)) + (f", {more} more" if more > 0 else "")
    status = f"this {what} is {found.status.upper()} ({ids})"  # each id explained below
    corrected = found.corrected
    # the corrected figure leads: it is the number to read instead of the one just printed
    first = (
        [f"mlflow-sanity: {corrected}", f"  {status}"]
        if corrected
        else [f"mlflow-sanity: {status}"]
    )
    reasons = []
    for f in shown:
        call = found.where.get(f.id, "")
        reasons.append(
            f"  [{f.severity.value}] {f.id}{f' ({call})' if call else ''}: "
            f"{first_sentence(f.message)}"
        )
    rest = f"{more} more finding(s), evidence and fixes" if more > 0 else "evidence and fixes"
    tested = [f"  {experiments_line(report, run_id)}"] if tested_causes(report) else []
    return [*first, *reasons, f"  {rest}: {full}", *tested, *where]


def experiments_line(report: Report, run_id: str) -> str:
    """The one line cause experiments get: ``2 cause experiments (3 child runs of run abc,
    tag sanity.proof): unscaled_inputs confirmed, learning_rate inconclusive``, read from
    the findings' ``evidence["proof"]``."""
    proofs = tested_causes(report)
    runs = {r for _, p in proofs for r in p.get("runs") or ()}
    verdicts = ", ".join(f"{fid} {p.get('verdict')}" for fid, p in proofs)
    where = f"{len(runs)} child runs of run {run_id}, tag sanity.proof" if runs else "not logged"
    return f"{len(proofs)} cause experiments ({where}): {verdicts}"


def tested_causes(report: Report) -> list[tuple[str, Mapping[str, Any]]]:
    """``(finding id, its proof)`` for every finding an experiment tested."""
    return [
        (f.id, f.evidence["proof"])
        for f in report.findings
        if isinstance(f.evidence.get("proof"), Mapping)
    ]


def announce(report: Report, run_id: str, what: str, tracking_uri: str) -> None:
    """Say the summary of a flagged report once: as HTML inside Jupyter, else as a log
    warning."""
    if not report.flagged:
        return
    lines = summary_lines(report, run_id, what, tracking_uri)
    if _in_jupyter():
        from IPython.display import HTML, display

        display(HTML(_html(report, lines)))
        _log.debug("\n".join(lines))  # for log files set up at DEBUG; not a second copy
        return
    _log.warning("\n".join(lines))


def _html(report: Report, lines: list[str]) -> str:
    return html_block(lines, report.status)


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"

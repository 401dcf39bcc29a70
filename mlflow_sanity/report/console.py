"""The verdict said where the number was printed: a console line after a flagged call.

Keras prints ``accuracy: 0.99`` to the console; a verdict that only lives in MLflow is
missed. After a flagged ``fit`` or ``evaluate`` one short summary is said once: in a
terminal or script through the ``mlflow_sanity`` logger at WARNING (silence it the usual
way, or ``autolog(silent=True)``); in Jupyter as a compact HTML block under the cell, and
the logger then records it at DEBUG only (at WARNING it would print the same summary a
second time, as plain text on stderr). Nothing is said for a clean pass.
"""

from __future__ import annotations

import html
import logging
import sys

from mlflow_sanity.core.findings import Report
from mlflow_sanity.report.links import run_link

_log = logging.getLogger("mlflow_sanity")
PENDING_PREFIX = "pending-"  # a spooled report whose run is created by ``mlflow-sanity sync``


def summary_lines(report: Report, run_id: str, what: str, tracking_uri: str) -> list[str]:
    """Status and flagged ids, the worst finding's reason, and where the run is."""
    worst = report.flagged[0]
    reason = worst.message if len(worst.message) <= 200 else worst.message[:199] + "…"
    if run_id.startswith(PENDING_PREFIX):
        where = [
            "  not logged yet (the tracking server could not be reached): upload it with "
            "mlflow-sanity sync"
        ]
    else:
        where = [
            f"  run {run_id}: mlflow-sanity report {run_id}",
            f"  UI: {run_link(run_id, tracking_uri)}",
        ]
    status = f"this {what} is {report.status.upper()} ({', '.join(report.flagged_ids)})"
    corrected = report.corrected_text
    # the corrected figure leads: it is the number to read instead of the one just printed
    first = (
        [f"mlflow-sanity: {corrected}", f"  {status}"]
        if corrected
        else [f"mlflow-sanity: {status}"]
    )
    tested = [f"  {experiments_line(report, run_id)}"] if report.inputs.get("experiments") else []
    return [*first, f"  {worst.id}: {reason}", *tested, *where]


def experiments_line(report: Report, run_id: str) -> str:
    """The one line cause experiments get: ``2 cause experiments (3 child runs of run abc,
    tag sanity.proof): unscaled_inputs confirmed, learning_rate inconclusive``."""
    info = report.inputs.get("experiments") or {}
    verdicts = ", ".join(f"{k} {v}" for k, v in (report.inputs.get("proofs") or {}).items())
    runs = info.get("child_runs", 0)
    where = f"{runs} child runs of run {run_id}, tag sanity.proof" if runs else "not logged"
    return f"{info.get('count', 0)} cause experiments ({where}): {verdicts}"


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
    colour = "#b00020" if report.status == "fail" else "#8a6d00"
    body = "<br>".join(html.escape(line) for line in lines)
    return (
        f'<div style="border-left:4px solid {colour};padding:4px 8px;'
        f'font-family:monospace;font-size:90%">{body}</div>'
    )


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"

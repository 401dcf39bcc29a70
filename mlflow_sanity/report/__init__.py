"""Renderers: turn a ``Report`` into JSON, HTML, Markdown, CSV and plots (no MLflow here)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

from mlflow_sanity._version import __version__
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.metrics import Classification
from mlflow_sanity.core.verdict import Verdict
from mlflow_sanity.report.calls import verdict_of


@cache
def _env() -> jinja2.Environment:
    # Autoescape everything: class labels and column names are user strings.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mlflow_sanity.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False)


def render_html(
    report: Report, images: Mapping[str, bytes] | None = None, *, verdict: Verdict | None = None
) -> str:
    """A self-contained page: plots are inlined as data URIs, no external URL is referenced.
    ``verdict``: the report's, when the caller has it (``calls.verdict_of``)."""
    return _html(report, report.to_dict()["inputs"], images, verdict or verdict_of(report))


def render_files(report: Report, images: Mapping[str, bytes], verdict: Verdict) -> tuple[str, str]:
    """``report.json`` and ``report.html`` (``render_json``, ``render_html``) from one
    serialization of the report: what a run's ``sanity/`` folder holds."""
    data = report.to_dict()
    page = _html(report, data["inputs"], images, verdict)
    return json.dumps(data, indent=2, allow_nan=False), page


def _html(report: Report, inputs: Any, images: Mapping[str, bytes] | None, found: Verdict) -> str:
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            status=found.status,
            version=__version__,
            flagged=found.flagged,
            corrected=found.corrected,
            where=found.where,
            not_checked=found.gaps,
            findings=found.ranked,
            metrics=dict(sorted(report.metrics.items())),
            tables=report.tables,
            inputs=inputs,
            images={
                name: base64.b64encode(data).decode("ascii")
                for name, data in (images or {}).items()
            },
        )
    )


def per_class_csv(c: Classification) -> str:
    return per_label_csv(c.per_class)


def per_label_csv(rows: list[dict]) -> str:
    """A per-class (or, multi-label, per-label) table as CSV; an empty cell for None."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def classification_files(c: Classification, prefix: str = "") -> dict[str, bytes]:
    """The standard artifacts of one evaluated set (``prefix`` keeps validation apart from test)."""
    from mlflow_sanity.report import plots

    return {
        f"{prefix}confusion_matrix.png": plots.confusion_matrix_png(c),
        f"{prefix}class_balance.png": plots.class_balance_png(c),
        f"{prefix}per_class.csv": per_class_csv(c).encode(),
    }

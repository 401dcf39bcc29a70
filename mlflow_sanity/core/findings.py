"""Findings and reports: the data every check produces and every adapter consumes.

Pure Python (no MLflow, no Keras) so that the whole verdict logic is testable on
plain arrays and a report can be rebuilt from its JSON form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How bad a finding is. ``passed`` keeps the evidence of checks that found nothing."""

    PASSED = "pass"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def flagged(self) -> bool:
        """Warn and fail are what tags, status and the CI gate react to."""
        return self in (Severity.WARN, Severity.FAIL)


_RANK = {Severity.PASSED: 0, Severity.INFO: 1, Severity.WARN: 2, Severity.FAIL: 3}


@dataclass(frozen=True)
class Finding:
    """One check's verdict with the numbers behind it, so a user can audit the judgement."""

    id: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remedy: str = ""
    source: str = ""
    # A cause finding: the symptom findings of the same report it explains (listed first).
    explains: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "severity": self.severity.value,
            "message": self.message,
            "evidence": _jsonable(self.evidence),
            "remedy": self.remedy,
            "source": self.source,
        }
        if self.explains:
            data["explains"] = list(self.explains)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            id=data["id"],
            severity=Severity(data["severity"]),
            message=data.get("message", ""),
            evidence=dict(data.get("evidence") or {}),
            remedy=data.get("remedy", ""),
            source=data.get("source", ""),
            explains=tuple(data.get("explains") or ()),
        )


@dataclass
class Report:
    """All findings and metrics for one run (or one evaluation)."""

    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def flagged(self) -> list[Finding]:
        """Warn/fail findings: causes that explain a symptom first, then worst first, then
        by id for stable output."""
        hits = [f for f in self.findings if f.severity.flagged]
        return sorted(hits, key=lambda f: (not f.explains, -f.severity.rank, f.id))

    @property
    def status(self) -> str:
        worst = max((f.severity.rank for f in self.findings), default=0)
        return {3: "fail", 2: "warn"}.get(worst, "pass")

    @property
    def flagged_ids(self) -> list[str]:
        return sorted({f.id for f in self.flagged})

    def get(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def merge(self, other: Report) -> Report:
        """Union of two reports on one run: a finding id keeps its worst verdict.

        On a tie the newer report (``other``) wins: its evidence is the latest word, e.g.
        the evaluator's test set after autolog's validation set.
        """
        by_id: dict[str, Finding] = {}
        for f in [*self.findings, *other.findings]:
            kept = by_id.get(f.id)
            if kept is None or f.severity.rank >= kept.severity.rank:
                by_id[f.id] = f
        return Report(
            findings=list(by_id.values()),
            metrics={**self.metrics, **other.metrics},
            inputs={**self.inputs, **other.inputs},
            tables={**self.tables, **other.tables},
        )

    def to_dict(self) -> dict[str, Any]:
        from mlflow_sanity._version import __version__

        return {
            "version": __version__,
            "status": self.status,
            "flagged": self.flagged_ids,
            "findings": [f.to_dict() for f in self.findings],
            "metrics": _jsonable(self.metrics),
            "inputs": _jsonable(self.inputs),
            "tables": _jsonable(self.tables),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            metrics={k: float(v) for k, v in (data.get("metrics") or {}).items()},
            inputs=dict(data.get("inputs") or {}),
            tables=dict(data.get("tables") or {}),
        )


def _jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays and non-finite floats into strict-JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)

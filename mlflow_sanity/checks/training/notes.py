"""Helpers the training checks share: several problems in one outcome, class shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow_sanity.checks.registry import Outcome
from mlflow_sanity.core.findings import Severity


@dataclass(frozen=True)
class Note:
    """One problem a check found; a check that finds several reports the worst."""

    severity: Severity
    text: str


def worst(notes: Sequence[Note], evidence: Mapping[str, Any], *, by_severity: bool) -> Outcome:
    """One outcome at the worst severity, the notes joined (worst first if ``by_severity``)."""
    ordered = sorted(notes, key=lambda n: -n.severity.rank) if by_severity else notes
    severity = max((n.severity for n in notes), key=lambda s: s.rank)
    return Outcome(severity, "; ".join(n.text for n in ordered) + ".", evidence)


def class_shares(
    counts: Mapping[str, int] | None, classes: Iterable[str] | None = None
) -> dict[str, float]:
    """Each class's share of the rows (``classes``: also those with no row, in that order)."""
    if not counts:
        return {}
    total = sum(counts.values())
    keys = list(counts) if classes is None else list(classes)
    return {k: counts.get(k, 0) / total for k in keys} if total else {}

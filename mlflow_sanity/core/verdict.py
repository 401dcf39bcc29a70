"""What a report says, computed once: the verdict the tags, the description and the HTML read.

A report's status, flagged findings, coverage and corrected figure are derived from its
findings and ``NotChecked`` records (``core/findings.Report``'s properties say how). The
tracking and report layers read all of them for one report, so ``Report.verdict`` derives
them once into this frozen record, and ``report/calls.py: verdict_of`` adds the user's words
(which call and data each finding is about); the readers then read fields, not rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the records it holds; core/findings.py builds it
    from mlflow_sanity.core.findings import Finding


@dataclass(frozen=True)
class Verdict:
    """One report's verdict. ``where`` and ``headline`` are empty from ``Report.verdict``
    and ``corrected`` is the core's ``corrected_text``; ``report/calls.py: verdict_of``
    fills them in the words of the report layer."""

    status: str  # the worst finding's (``sanity.status``)
    level: int  # ``status`` as a number (``sanity/status_level``)
    flagged: tuple[Finding, ...]  # warn/fail, in ``Report.flagged``'s order
    flagged_ids: list[str]  # sorted, each once (``sanity.findings``)
    ranked: tuple[Finding, ...]  # every finding, worst first, then by id
    not_checked: list[str]  # one line per gap (``Report.not_checked``)
    gaps: dict[str, list[str]]  # each gap with the checks it kept from running
    coverage: str  # ``full`` or ``partial: ...`` (``sanity.coverage``)
    corrected_finding: Finding | None  # whose figure goes beside the headline
    corrected: str | None  # the ``sanity.corrected`` line
    several_calls: bool  # whether the findings come from more than one call
    where: Mapping[str, str] = field(default_factory=dict)  # finding id -> its call and data
    headline: str = ""  # which call's numbers the headline metrics are, with several calls

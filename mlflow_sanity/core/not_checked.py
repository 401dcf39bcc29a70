"""What could not be checked, and why: the records ``sanity.coverage`` is made of.

Two kinds: evidence an adapter could not supply (``missing``), and a check that raised
(``crashed``). Never a pass, never silent (``core/findings.Report.coverage``, the gate's
``--require-full-coverage``). ``core/findings.py`` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MISSING = "missing"  # evidence an adapter could not supply (or data a check could not use)
CRASHED = "crashed"  # the check itself raised: a bug, or a case it does not handle


@dataclass(frozen=True)
class NotChecked:
    """One check that could not run, and why: what coverage is made of.

    The registry emits one for each enabled check whose required evidence an adapter could
    not supply and said why (``Context.missing``), and a ``crashed`` one for each check that
    raised (``reason``: the exception's type and message); an adapter emits its own for data
    it could not read at all. ``call`` names the call whose data it was ("fit",
    "model.evaluate #2"); the adapter and the tracking layer fill it, the core names none.
    ``check`` is empty for a record read from a report written before there were records;
    ``kind`` is ``missing`` for one written before crashes were records.
    """

    check: str
    reason: str
    call: str = ""
    kind: str = MISSING

    @property
    def crashed(self) -> bool:
        return self.kind == CRASHED

    @property
    def text(self) -> str:
        """``fit: validation data (not readable)``, ``fit: dead_units (crashed: ValueError:
        ...)``: the gap as the coverage tag says it."""
        gap = f"{self.check} (crashed: {self.reason})" if self.crashed else self.reason
        return f"{self.call}: {gap}" if self.call else gap

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "reason": self.reason, "call": self.call, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any) -> NotChecked:
        if isinstance(data, str):  # report.json before records: the gap's text
            return cls("", data)
        kind = CRASHED if data.get("kind") == CRASHED else MISSING
        return cls(
            str(data.get("check") or ""), str(data["reason"]), str(data.get("call") or ""), kind
        )

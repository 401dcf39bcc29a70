"""What one report on a run carries for the next one: typed, versioned, its own section.

A run collects several reports (a fit, its ``model.evaluate`` calls, ``mlflow.models.evaluate``
on other data, a spool sync). Each new report is merged into the run's earlier one
(``tracking/reports.log_report``), and a few facts must survive that step so the next
report is numbered and named consistently:

- ``metric_prefix`` / ``metric_names``: which ``sanity/<prefix><metric>`` names hold which data
  (``tracking/metric_names.py``);
- ``calls``: the numbered calls of a scope (``{"evaluate": [{"call", "status", "flagged"}]}``),
  so ``model.evaluate`` #3 is #3 on the run, not in the process;
- ``synced_spool_entries``: the spool entries the run already received (``tracking/spool.py``),
  so an interrupted ``mlflow-sanity sync`` uploads nothing twice.

These used to be free keys of ``Report.inputs`` (which describes what was checked, not
bookkeeping). ``report.json`` now writes them as ``"state"``; ``from_inputs`` moves the
old keys out of a report written before, so old files still load. Pure Python: no MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

STATE_VERSION = 1
PREFIX_KEY = "metric_prefix"
CLAIMS_KEY = "metric_names"
SYNCED_KEY = "synced_spool_entries"
_CALLS_SUFFIX = "_calls"  # the old ``inputs["<scope>_calls"]``


@dataclass
class CarriedState:
    """Bookkeeping carried from one report on a run to the next (see the module docstring).

    ``metric_names`` is None when it was never recorded (a report written before names
    were): its metrics took the plain names, which ``metric_names._claims`` reads as such.
    """

    KEYS: ClassVar[tuple[str, ...]] = (PREFIX_KEY, CLAIMS_KEY, SYNCED_KEY)

    metric_prefix: str | None = None
    metric_names: dict[str, dict[str, Any]] | None = None
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    synced_spool_entries: list[str] = field(default_factory=list)
    version: int = STATE_VERSION

    @property
    def empty(self) -> bool:
        return (
            self.metric_prefix is None
            and self.metric_names is None
            and not self.calls
            and not self.synced_spool_entries
        )

    def merge(self, newer: CarriedState) -> CarriedState:
        """The state after ``newer``'s report is merged over this one: each fact the newer
        report carries is the latest word (as ``{**old_inputs, **new_inputs}`` was)."""
        return CarriedState(
            metric_prefix=(
                newer.metric_prefix if newer.metric_prefix is not None else self.metric_prefix
            ),
            metric_names=(
                _copy_claims(newer.metric_names)
                if newer.metric_names is not None
                else _copy_claims(self.metric_names)
            ),
            calls={**_copy_calls(self.calls), **_copy_calls(newer.calls)},
            synced_spool_entries=list(newer.synced_spool_entries or self.synced_spool_entries),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version}
        if self.metric_prefix is not None:
            data[PREFIX_KEY] = self.metric_prefix
        if self.metric_names is not None:
            data[CLAIMS_KEY] = _copy_claims(self.metric_names)
        if self.calls:
            data["calls"] = _copy_calls(self.calls)
        if self.synced_spool_entries:
            data[SYNCED_KEY] = list(self.synced_spool_entries)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CarriedState:
        """The ``"state"`` section of ``report.json``; a damaged entry loads as absent."""
        data = data if isinstance(data, Mapping) else {}
        prefix = data.get(PREFIX_KEY)
        claims = data.get(CLAIMS_KEY)
        calls = data.get("calls")
        synced = data.get(SYNCED_KEY)
        version = data.get("version")
        return cls(
            metric_prefix=str(prefix) if prefix is not None else None,
            metric_names=_copy_claims(claims) if isinstance(claims, Mapping) else None,
            calls=_copy_calls(calls) if isinstance(calls, Mapping) else {},
            synced_spool_entries=[str(e) for e in synced] if isinstance(synced, list) else [],
            version=int(version) if isinstance(version, int) else STATE_VERSION,
        )

    @classmethod
    def from_inputs(cls, inputs: dict[str, Any]) -> CarriedState:
        """Move the state keys of a report written before this section out of its
        ``inputs`` (mutated: they leave it) into a typed state."""
        calls = {
            key[: -len(_CALLS_SUFFIX)]: inputs.pop(key)
            for key in [k for k, v in inputs.items() if k.endswith(_CALLS_SUFFIX) and _is_calls(v)]
        }
        old = {key: inputs.pop(key) for key in CarriedState.KEYS if key in inputs}
        old["calls"] = {k: v for k, v in calls.items() if isinstance(v, list)}
        return cls.from_dict(old)


def _is_calls(value: Any) -> bool:
    """An old ``<scope>_calls`` entry: a list of ``{"call": ...}`` records."""
    return isinstance(value, list) and all(isinstance(c, Mapping) and "call" in c for c in value)


def _copy_claims(claims: Mapping[str, Any] | None) -> dict[str, dict[str, Any]] | None:
    if claims is None:
        return None
    return {str(k): dict(v) for k, v in claims.items() if isinstance(v, Mapping)}


def _copy_calls(calls: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        str(scope): [dict(c) for c in entries if isinstance(c, Mapping)]
        for scope, entries in calls.items()
        if isinstance(entries, list)
    }

"""Findings and reports: the data every check produces and every adapter consumes.

Pure Python (no MLflow, no Keras) so that the whole verdict logic is testable on
plain arrays and a report can be rebuilt from its JSON form.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from mlflow_sanity.core import summary
from mlflow_sanity.core.not_checked import CRASHED, MISSING, NotChecked  # noqa: F401  (re-exported)
from mlflow_sanity.core.splits import ModelSelection
from mlflow_sanity.core.state import CarriedState
from mlflow_sanity.core.verdict import Verdict

if TYPE_CHECKING:  # the evaluated split's type only; fingerprints are computed elsewhere
    from mlflow_sanity.core.fingerprint import Fingerprint


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

    @property
    def level(self) -> int:
        """The verdict as a number (``sanity/status_level``): 0 pass or info, 1 warn, 2 fail.

        MLflow's Models list and run charts sort and plot numbers, not tags; ``info`` is
        context, not a verdict, so it shares 0 with a pass (as the ``sanity.status`` tag does).
        """
        return max(self.rank - _RANK[Severity.INFO], 0)

    @property
    def status(self) -> str:
        """The ``sanity.status`` a run gets when this is its worst finding."""
        return _STATUS_OF_LEVEL[self.level]

    @classmethod
    def worst(cls, *values: Severity | str | None) -> Severity:
        """The most severe of ``values`` (severities or status strings; None counts as
        pass): how reports, tags and verdicts on one run or model combine."""
        found = [cls(v) if v is not None else cls.PASSED for v in values]
        return max(found, key=lambda s: s.rank, default=cls.PASSED)


_RANK = {Severity.PASSED: 0, Severity.INFO: 1, Severity.WARN: 2, Severity.FAIL: 3}
_STATUS_OF_LEVEL = {0: Severity.PASSED.value, 1: Severity.WARN.value, 2: Severity.FAIL.value}


@dataclass(frozen=True)
class Corrected:
    """The figure to read beside a misleading headline: ``accuracy 0.99 → 0.71``.

    A check that shows the headline number is misleading (rows seen in training, repeated
    rows, a collapsed model on imbalanced data, seed luck) and can recompute it from the
    arrays it already has puts one of these in its outcome. ``value`` is computed the way
    ``measure`` says (the headline ``metric`` recomputed without the rows that mislead,
    unless ``measure`` names another figure such as balanced accuracy); ``reason`` says
    what was removed or why, ``rows`` how many rows the figure rests on. The registry
    stamps ``finding`` with the check's id.
    """

    metric: str
    headline: float
    value: float
    reason: str
    rows: int | None = None
    measure: str = ""  # what ``value`` is when it is not ``metric`` ("balanced accuracy")
    finding: str = ""

    @property
    def gap(self) -> float:
        """How far the headline is from the corrected figure: how misleading it is."""
        return abs(self.headline - self.value)

    @property
    def text(self) -> str:
        """``accuracy 0.99 → 0.71 (812 evaluation rows not in the training data)``."""
        head, value = _two_figures(self.headline, self.value)
        measure = f"{self.measure} " if self.measure else ""
        return f"{self.metric} {head} → {measure}{value} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "finding": self.finding,
            "metric": self.metric,
            "headline": self.headline,
            "value": self.value,
            "reason": self.reason,
            "rows": self.rows,
            "measure": self.measure,
        }
        return _jsonable(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Corrected:
        rows = data.get("rows")
        return cls(
            metric=str(data.get("metric") or "accuracy"),
            headline=float(data["headline"]),
            value=float(data["value"]),
            reason=str(data.get("reason") or ""),
            rows=int(rows) if rows is not None else None,
            measure=str(data.get("measure") or ""),
            finding=str(data.get("finding") or ""),
        )


def _two_figures(a: float, b: float) -> tuple[str, str]:
    """Two decimals, or as many more (up to 4) as it takes for the figures to differ."""
    for digits in (2, 3, 4):
        sa, sb = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if sa != sb:
            break
    return sa, sb


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
    # The headline figure this finding corrects, when it can be recomputed (see ``Corrected``).
    corrected: Corrected | None = None

    @property
    def proven_gain(self) -> float:
        """What a confirmed experiment gained over its control (``evidence["proof"]``;
        0 without one): where several causes explain one symptom, the larger gain leads."""
        proof = self.evidence.get("proof")
        if not isinstance(proof, dict) or proof.get("verdict") != "confirmed":
            return 0.0
        gain = proof.get("gain")
        return float(gain) if isinstance(gain, (int, float)) else 0.0

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
        if self.corrected is not None:
            data["corrected"] = self.corrected.to_dict()
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
            corrected=_corrected_or_none(data.get("corrected")),
        )


def _corrected_or_none(data: Any) -> Corrected | None:
    """A finding's stored correction; None for reports written before there were any (or
    a damaged entry: the finding still loads)."""
    if not isinstance(data, dict):
        return None
    try:
        return Corrected.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Provenance:
    """What a report is about: which call made it, and on which rows.

    ``source`` is the entry point's id (stamped on each finding as well), ``call`` the name
    users know that call by ("fit", "model.evaluate", "mlflow.models.evaluate"; the
    tracking layer numbers repeated ones), ``evaluated_on`` the rows the evaluation-set
    checks judged ("validation data", "training data", a dataset's name; None when no
    predictions were judged), ``dataset``/``dataset_digest`` an MLflow dataset's identity.
    """

    source: str = ""
    call: str = ""
    evaluated_on: str | None = None
    rows: int | None = None
    dataset: str | None = None
    dataset_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)

    @classmethod
    def from_dict(cls, data: Any, inputs: Any = None) -> Provenance:
        """From ``report.json``'s ``provenance`` section, or, for a report written before
        there was one, from the keys its ``inputs`` held."""
        data = data if isinstance(data, dict) else {}
        old = inputs if isinstance(inputs, dict) and not data else {}
        rows = data.get("rows", old.get("n_rows"))

        def text(key: str, old_key: str) -> str | None:
            value = data.get(key, old.get(old_key))
            return str(value) if value is not None else None

        return cls(
            source=str(data.get("source", old.get("source")) or ""),
            call=str(data.get("call") or ""),
            evaluated_on=text("evaluated_on", "evaluated_on"),
            rows=int(rows) if isinstance(rows, (int, float)) else None,
            dataset=text("dataset", "dataset"),
            dataset_digest=text("dataset_digest", "dataset_digest"),
        )


@dataclass
class Report:
    """All findings and metrics for one run (or one evaluation)."""

    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    # What the checks were told about the model, the fit and the data: for people reading
    # report.json; no code decides anything from it. What code reads has its own typed
    # section: ``provenance``, ``skipped``, ``state``, ``task``, ``model_selection`` and
    # ``evaluated_split`` (a test keeps ``inputs`` write-only).
    inputs: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    skipped: list[NotChecked] = field(default_factory=list)  # what could not be checked
    # bookkeeping for the next report on the run (core/state.py), not provenance
    state: CarriedState = field(default_factory=CarriedState)
    # What was judged (``core.task.Task`` values, the ``sanity.task`` tag); reports of
    # several heads or calls that judged different tasks list each, comma-separated.
    task: str = ""
    # What the fit's EarlyStopping/best-only checkpoint monitored: carried to the later
    # evaluations of its model (``validation_reuse``); ``report.json`` "model_selection".
    model_selection: ModelSelection | None = None
    # The evaluated rows, fingerprinted in the training data's columns (``build_report``):
    # the split a later ``model.evaluate`` of the same model compares with, whether or not
    # a check computed it. In memory only: it holds arrays.
    evaluated_split: Fingerprint | None = field(default=None, repr=False, compare=False)

    @property
    def flagged(self) -> list[Finding]:
        """Warn/fail findings: causes that explain a symptom first (a larger proven gain
        first), then worst first, then by id for stable output."""
        hits = [f for f in self.findings if f.severity.flagged]
        return sorted(hits, key=lambda f: (not f.explains, -f.proven_gain, -f.severity.rank, f.id))

    @property
    def status(self) -> str:
        return Severity.worst(*(f.severity for f in self.findings)).status

    @property
    def status_level(self) -> int:
        """``status`` as a number (``Severity.level``): the ``sanity/status_level`` metric."""
        return Severity(self.status).level

    @property
    def flagged_ids(self) -> list[str]:
        return sorted({f.id for f in self.flagged})

    @property
    def not_checked(self) -> list[str]:
        """What could not be checked, one line per gap (``"fit: validation data (not
        readable)"``): the ``skipped`` records by call and reason, in order."""
        return list(dict.fromkeys(r.text for r in self.skipped))

    @property
    def skipped_by_gap(self) -> dict[str, list[str]]:
        """Each gap's text with the ids of the checks it kept from running (none listed for
        a report written before there were records): for the HTML report and the CLI."""
        out: dict[str, list[str]] = {}
        for r in self.skipped:
            ids = out.setdefault(r.text, [])
            if r.check and r.check not in ids:
                ids.append(r.check)
        return out

    @property
    def coverage(self) -> str:
        """``full``, or ``partial: <what was not checked>`` (the ``sanity.coverage`` tag)."""
        gaps = self.not_checked
        return "partial: " + "; ".join(gaps) if gaps else "full"

    @property
    def corrected_finding(self) -> Finding | None:
        """The finding whose corrected figure goes beside the headline, when any has one.

        Only a flagged finding moves the headline: an ``info`` one keeps its figure in its
        evidence, so a healthy run carries no ``sanity.corrected``. One rule when several
        apply: the most misleading headline (the largest gap between headline and corrected
        figure), then the worse severity, then the id.
        """
        with_figure = [f for f in self.findings if f.corrected is not None and f.severity.flagged]
        if not with_figure:
            return None
        return max(with_figure, key=lambda f: (f.corrected.gap, f.severity.rank, f.id))

    @property
    def corrected(self) -> Corrected | None:
        """The corrected figure (``corrected_finding``'s), or None."""
        f = self.corrected_finding
        return f.corrected if f is not None else None

    @property
    def corrected_text(self) -> str | None:
        """The ``sanity.corrected`` line: the figure, and which call it is about when a run
        holds several (``model.evaluate #2``)."""
        f = self.corrected_finding
        if f is None or f.corrected is None:
            return None
        text = f.corrected.text
        if "#" in f.source:
            text = f"{text[:-1]}; {f.source})"
        return text

    def verdict(self) -> Verdict:
        """Everything the properties above derive, derived once (``core/verdict.py``)."""
        flagged, status = self.flagged, self.status
        return Verdict(
            status=status,
            level=Severity(status).level,
            flagged=tuple(flagged),
            flagged_ids=sorted({f.id for f in flagged}),
            ranked=tuple(sorted(self.findings, key=lambda f: (-f.severity.rank, f.id))),
            not_checked=self.not_checked,
            gaps=self.skipped_by_gap,
            coverage=self.coverage,
            corrected_finding=self.corrected_finding,
            corrected=self.corrected_text,
            several_calls=len({f.source for f in self.findings}) > 1,
        )

    def __str__(self) -> str:  # print(report): the console's summary (core/summary.py)
        return summary.text(self)

    def __repr__(self) -> str:
        return summary.short(self)

    def _repr_html_(self) -> str:  # a notebook cell's result: the console's HTML block
        return summary.html(self)

    def get(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def without(self, finding_ids: Iterable[str]) -> Report:
        """This report less the findings ``finding_ids``: what a re-judgement replaces."""
        drop = set(finding_ids)
        return replace(self, findings=[f for f in self.findings if f.id not in drop])

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
            provenance=other.provenance if other.provenance.source else self.provenance,
            skipped=list(dict.fromkeys([*self.skipped, *other.skipped])),
            state=self.state.merge(other.state),
            task=merge_tasks(self.task, other.task),
            model_selection=other.model_selection or self.model_selection,
            evaluated_split=(
                other.evaluated_split if other.evaluated_split is not None else self.evaluated_split
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        from mlflow_sanity._version import __version__

        corrected = self.corrected
        return {
            "version": __version__,
            "status": self.status,
            "flagged": self.flagged_ids,
            "corrected": (
                {**corrected.to_dict(), "text": self.corrected_text} if corrected else None
            ),
            "coverage": self.coverage,
            "task": self.task,
            "not_checked": self.not_checked,
            "skipped_checks": [r.to_dict() for r in self.skipped],
            "provenance": self.provenance.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "metrics": _jsonable(self.metrics),
            "inputs": _jsonable(self.inputs),
            "tables": _jsonable(self.tables),
            "state": _jsonable(self.state.to_dict()),
            "model_selection": (
                self.model_selection.to_dict() if self.model_selection is not None else None
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report from its JSON form, also one written by an earlier version (no
        ``provenance``/``skipped_checks`` sections: they are rebuilt from what it holds)."""
        inputs = dict(data.get("inputs") or {})
        if "state" in data:
            state = CarriedState.from_dict(data["state"])
        else:  # written before "state": in inputs
            state = CarriedState.from_inputs(inputs)
        records = data.get("skipped_checks")
        if not isinstance(records, list):  # before records: the gaps' texts
            records = data.get("not_checked") or inputs.get("not_checked") or []
        return cls(
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            metrics={k: float(v) for k, v in (data.get("metrics") or {}).items()},
            inputs=inputs,
            tables=dict(data.get("tables") or {}),
            provenance=Provenance.from_dict(data.get("provenance"), inputs),
            skipped=[NotChecked.from_dict(r) for r in records if isinstance(r, (str, dict))],
            state=state,
            task=str(data.get("task") or ""),
            model_selection=_selection(data.get("model_selection"), inputs),
        )


def _selection(data: Any, inputs: dict[str, Any]) -> ModelSelection | None:
    """The ``model_selection`` section, or for a report written before it, what its
    ``inputs`` held (``model_selection``, or the older ``monitored`` list)."""
    if not isinstance(data, dict):
        data = inputs.get("model_selection")
    if not isinstance(data, dict) and inputs.get("monitored"):
        data = {"monitors": list(inputs["monitored"])}
    return ModelSelection.from_dict(data) if isinstance(data, dict) and data else None


def merge_tasks(*tasks: str) -> str:
    """The tasks of several reports about one run or model, each once, in order."""
    seen = [t for task in tasks for t in task.split(",") if t]
    return ",".join(dict.fromkeys(seen))


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

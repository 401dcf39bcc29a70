"""The check registry: one decorator turns a function into a check with an id and defaults.

A check is ``fn(ctx, thresholds) -> Finding | None``. It declares which ``Context``
fields it needs; it is skipped (not failed) when one is missing, so the same
registry serves the evaluator, autolog, the seed runner and the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_sanity.findings import Finding, Severity

_log = logging.getLogger(__name__)

CheckFn = Callable[["Context", Mapping[str, float]], "Finding | None"]


@dataclass
class Context:
    """Everything a check may look at. Adapters fill what they know; the rest stays None.

    - ``eval``: a ``metrics.Classification`` of the evaluated (or validation) data
    - ``model``: a ``keras_spec.ModelSpec`` describing the compiled Keras model
    - ``history``: per-epoch Keras history (``{"loss": [...], "val_loss": [...]}``)
    - ``fit``: a ``keras_spec.FitSpec`` (how fit was called: weights, callbacks, labels)
    - ``train``/``test``: ``checks.leakage.Split`` (features + optional labels) of the
      training and evaluation data for leakage checks (bare features are accepted too)
    - ``fingerprint``: a ``fingerprint.Fingerprint`` of the training data logged by an
      earlier run (stands in for ``train``)
    - ``seeds``: per-seed metrics of a multi-seed sweep
    """

    eval: Any = None
    model: Any = None
    history: Mapping[str, list[float]] | None = None
    fit: Any = None
    train: Any = None
    test: Any = None
    fingerprint: Any = None
    seeds: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    id: str
    requires: tuple[str, ...]
    defaults: Mapping[str, float]
    remedy: str
    fn: CheckFn
    summary: str = ""

    def applies(self, ctx: Context) -> bool:
        return all(getattr(ctx, name) is not None for name in self.requires)


REGISTRY: dict[str, Check] = {}


def check(
    check_id: str, *, requires: Iterable[str], remedy: str, **defaults: float
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the check that produces finding ``check_id``."""

    def register(fn: CheckFn) -> CheckFn:
        if check_id in REGISTRY:
            raise ValueError(f"check {check_id!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        REGISTRY[check_id] = Check(
            check_id, tuple(requires), dict(defaults), remedy, fn, doc[0] if doc else ""
        )
        return fn

    return register


def finding(
    check_id: str,
    severity: Severity,
    message: str,
    evidence: Mapping[str, Any] | None = None,
) -> Finding:
    """Build a finding carrying the registered remedy, so checks only say what they saw."""
    remedy = REGISTRY[check_id].remedy if check_id in REGISTRY else ""
    return Finding(check_id, severity, message, dict(evidence or {}), remedy)


def run_checks(
    ctx: Context,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    disable: Iterable[str] = (),
    source: str = "",
) -> list[Finding]:
    """Run every applicable, enabled check. A crashing check becomes an ``info`` finding."""
    thresholds = thresholds or {}
    disabled = set(disable)
    unknown = (set(thresholds) | disabled) - set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown finding id(s) {sorted(unknown)}; known: {sorted(REGISTRY)}")
    results: list[Finding] = []
    for check_id, chk in REGISTRY.items():
        if check_id in disabled or not chk.applies(ctx):
            continue
        limits = {**chk.defaults, **thresholds.get(check_id, {})}
        bad = set(thresholds.get(check_id, {})) - set(chk.defaults)
        if bad:
            raise ValueError(
                f"unknown threshold(s) {sorted(bad)} for {check_id}; known: {sorted(chk.defaults)}"
            )
        try:
            result = chk.fn(ctx, limits)
        except Exception as exc:  # a broken check must not hide the others
            _log.warning("mlflow-sanity check %s failed: %s", check_id, exc, exc_info=True)
            result = finding(check_id, Severity.INFO, f"check could not run: {exc}")
        if result is not None:
            results.append(
                Finding(
                    result.id,
                    result.severity,
                    result.message,
                    {**result.evidence, "thresholds": limits} if limits else result.evidence,
                    result.remedy,
                    source,
                )
            )
    return results

"""The verdict as numbers: ``sanity/status_level`` and ``sanity/flagged_count``.

MLflow 3.17's Models list offers attributes, metrics and params as columns, never tags, and
run charts plot metrics: so every run and LoggedModel that gets a verdict also gets it as
two metrics, derived from the same union the ``sanity.status``/``sanity.findings`` tags
describe (status = worst over every report about the run or model), never from the last
report alone.

- ``sanity/status_level``: 0 pass (or info only), 1 warn, 2 fail (``Severity.level``);
- ``sanity/flagged_count``: how many findings are warn or fail (the ids in ``sanity.findings``).

A run's values are logged at step 0 by every ``log_report``, so its latest value (the one
MLflow shows and sorts by: newest at the highest step) is the current union. A LoggedModel's
values are logged when its merged verdict changes: its newest values are the union (what
``search_logged_models(order_by=...)`` and sorting the Models list use), but the list's cell
in MLflow 3.17 shows the first row stored under a name (rows cannot be replaced or deleted),
so a model whose verdict grew after its first check shows the earlier level there until
sorted or opened. MLflow files a model's metric through a
run (``log_batch`` with ``Metric(model_id=...)`` writes the run's row too); when that run's
own union differs (one run evaluating several models, a model judged again in a later run)
the run's values are logged again just after, so its latest value stays its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from mlflow.entities import Metric

from mlflow_sanity.core import tag_names
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.core.findings import Severity
from mlflow_sanity.core.verdict import Verdict
from mlflow_sanity.tracking import shim

_log = logging.getLogger(__name__)

STATUS_LEVEL = "sanity/status_level"
FLAGGED_COUNT = "sanity/flagged_count"
KEYS = (STATUS_LEVEL, FLAGGED_COUNT)
_STATUS_TAG = tag_names.STATUS
_FINDINGS_TAG = tag_names.FINDINGS


def values(level: int, flagged_ids: Iterable[str]) -> dict[str, float]:
    """The two metrics for a verdict: its status level and its warn/fail finding ids."""
    return {STATUS_LEVEL: float(level), FLAGGED_COUNT: float(len({i for i in flagged_ids if i}))}


def run_rows(found: Verdict, timestamp: int) -> list[Metric]:
    """The verdict metrics of a (merged) report's verdict, as rows at step 0."""
    return rows(values(found.level, found.flagged_ids), timestamp)


def of_tags(tags: Mapping[str, str]) -> dict[str, float] | None:
    """The verdict metrics the ``sanity.*`` tags of a run or model describe; None when it
    was never checked."""
    status = tags.get(_STATUS_TAG)
    if status not in (s.value for s in Severity):
        return None
    return values(Severity(status).level, (tags.get(_FINDINGS_TAG) or "").split(","))


def rows(
    found: Mapping[str, float], timestamp: int | None = None, model_id: str | None = None
) -> list[Metric]:
    """``found`` as metric rows at step 0 (see the module docstring), linked to ``model_id``."""
    ts = now_ms() if timestamp is None else timestamp
    return [Metric(key, value, ts, 0, model_id=model_id) for key, value in found.items()]


def latest_model_values(metrics: Iterable[Metric] | None) -> dict[str, float]:
    """The newest value of each verdict metric among a LoggedModel's metric rows (the ones
    without a dataset: the model's own verdict)."""
    newest: dict[str, Metric] = {}
    for m in metrics or ():
        if m.key not in KEYS or getattr(m, "dataset_name", None):
            continue
        kept = newest.get(m.key)
        if kept is None or (m.timestamp, m.step) >= (kept.timestamp, kept.step):
            newest[m.key] = m
    return {key: float(m.value) for key, m in newest.items()}


def log_model_values(
    client, model, tags: Mapping[str, str], run_id: str | None = None
) -> dict[str, float] | None:
    """Log the verdict ``tags`` (a LoggedModel's merged ``sanity.*`` tags) as the model's
    metrics through ``run_id`` (the run whose report it is; else the model's source run).

    Nothing is written when the model's latest values already say the same, so a model
    holds one row per state its verdict went through. Returns the values, or None when none could be
    logged (no verdict, no run to file them through).
    """
    found = of_tags(tags)
    carrier = run_id or getattr(model, "source_run_id", None)
    if found is None or not carrier:
        return None
    if latest_model_values(getattr(model, "metrics", None)) == found:
        return found
    ts = now_ms()
    client.log_batch(carrier, metrics=rows(found, ts, model.model_id))
    own = of_tags(client.get_run(carrier).data.tags)
    if own is not None and own != found:
        # the carrier run's latest value must stay the run's own verdict
        shim.log_run_metrics(client, carrier, rows(own, ts + 1))
    return found

"""Which data a run's ``sanity/*`` metric names hold, so that names tell the data apart.

The scheme (README, "What lands on the run"):

- ``sanity/<metric>``: the run's first data, for a fit its validation data (or the
  training sample it was judged on). A run checked only by ``mlflow.models.evaluate``
  keeps the plain names for its first evaluated dataset, and for that same dataset
  (same digest) again.
- ``sanity/evaluate/<n>/<metric>``: ``model.evaluate`` call *n* on the run.
- ``sanity/<dataset>/<metric>``: ``mlflow.models.evaluate`` on other data, named after
  MLflow's dataset name (``eval`` for an unnamed one: MLflow calls it ``dataset``); a
  second dataset of that name with another digest gets ``<dataset>-<digest[:8]>``.

Which prefix holds which data is kept in the report (``report.json`` inputs
``metric_names``), so a later report on the run can read it back. Every value is logged
once per evaluation, with its dataset (name and digest) where MLflow has one and with the
LoggedModel it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.entities import Metric

from mlflow_sanity.core.findings import Report

CLAIMS_KEY = "metric_names"  # report inputs: {prefix: {"data": ..., "name": ..., "digest": ...}}
PREFIX_KEY = "metric_prefix"  # report inputs: the prefix of the latest report's metrics
UNNAMED = "eval"
_MLFLOW_DEFAULT_NAME = "dataset"  # what MLflow names a DataFrame given without a name


def _claims(previous: Report | None) -> dict[str, dict[str, Any]]:
    if previous is None:
        return {}
    claims = previous.inputs.get(CLAIMS_KEY)
    if isinstance(claims, Mapping):
        return {str(k): dict(v) for k, v in claims.items() if isinstance(v, Mapping)}
    # a report written before names were recorded: its metrics took the plain names
    return {"": {"data": "an earlier report"}}


def _same_data(held: Mapping[str, Any], dataset: Mapping[str, Any]) -> bool:
    digest = dataset.get("digest")
    return bool(digest) and held.get("digest") == digest and held.get("name") == dataset.get("name")


def slug(name: str | None) -> str:
    """A dataset name as one metric-name segment (MLflow allows ``[\\w./ -]``)."""
    if not name or name == _MLFLOW_DEFAULT_NAME:
        return UNNAMED
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or UNNAMED
    return cleaned[:60]


def claim(previous: Report | None, report: Report, dataset: Mapping[str, Any] | None) -> str:
    """The prefix (``""`` or ``"<name>/"``) for a report that is not a numbered call."""
    if dataset is None:
        return ""  # a fit: its validation data owns the plain names
    claims = _claims(previous)
    held = claims.get("")
    if held is None and previous is None:
        return ""
    if held is not None and _same_data(held, dataset):
        return ""
    base = slug(dataset.get("name"))
    prefix = f"{base}/"
    taken = claims.get(prefix)
    if taken is not None and not _same_data(taken, dataset):
        digest = str(dataset.get("digest") or "")[:8]
        prefix = f"{base}-{digest}/" if digest else f"{base}-{len(claims)}/"
    return prefix


def record(merged: Report, previous: Report | None, report: Report, prefix: str) -> None:
    """Note in the merged report which data ``prefix`` now holds."""
    claims = _claims(previous)
    origin = report.provenance
    own_data = origin.evaluated_on or origin.dataset
    if prefix in claims and not own_data:  # e.g. a group verdict: no data of its own
        merged.inputs[CLAIMS_KEY] = claims
        merged.inputs[PREFIX_KEY] = prefix
        return
    data = origin.evaluated_on or origin.source or "report"
    entry: dict[str, Any] = {"data": str(data)}
    name, digest = origin.dataset, origin.dataset_digest
    if name is not None or digest is not None:
        entry.update(name=name, digest=digest)
    claims[prefix] = entry
    merged.inputs[CLAIMS_KEY] = claims
    merged.inputs[PREFIX_KEY] = prefix


def attach(
    metrics: Sequence[Metric], model_id: str | None, dataset: Mapping[str, Any] | None
) -> list[Metric]:
    """The same values, linked to ``model_id`` and carrying the dataset's name and digest."""
    name = digest = None
    if dataset is not None and dataset.get("name") and dataset.get("digest"):
        name, digest = str(dataset["name"]), str(dataset["digest"])
    if model_id is None and name is None:
        return list(metrics)
    return [
        Metric(
            m.key,
            m.value,
            m.timestamp,
            m.step,
            model_id=model_id,
            dataset_name=name,
            dataset_digest=digest,
        )
        for m in metrics
    ]

"""Runs of one configuration on one data set: the digests autolog tags, and grouping them.

``mlflow_sanity.autolog()`` tags each checked fit's run with ``sanity.config_digest``
(architecture + compile + fit settings except the seed) and ``sanity.data_digest`` (the
training/validation rows' fingerprints). Finished runs with equal digests are the same
experiment repeated: their spread is seed noise, judged by ``mlflow-sanity variance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mlflow

from mlflow_sanity.core import tag_names
from mlflow_sanity.tracking.runs import (
    MlflowClient,
    client_or_default,
    existing_experiment_ids,
    set_tags,
)

CONFIG_TAG = tag_names.CONFIG_DIGEST
DATA_TAG = tag_names.DATA_DIGEST


def digest_tags(digests: Mapping[str, str]) -> dict[str, str]:
    """The run tags of a fit's ``{"config", "data"}`` digests (the ones it has)."""
    tags = {}
    if digests.get("config"):
        tags[CONFIG_TAG] = digests["config"]
    if digests.get("data"):
        tags[DATA_TAG] = digests["data"]
    return tags


def tag_digests(
    run_id: str, digests: Mapping[str, str], client: MlflowClient | None = None
) -> None:
    tags = digest_tags(digests)
    if tags:
        set_tags(client_or_default(client), run_id, tags)


@dataclass
class GroupRun:
    run_id: str
    name: str
    metrics: dict[str, float]


@dataclass
class RunGroup:
    config: str
    data: str
    runs: list[GroupRun] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.config[:8]}/{self.data[:8]}"

    def values(self, metric: str) -> dict[str, float]:
        """Each run's finite value of ``metric`` (a full metric name), by run id."""
        out = {}
        for run in self.runs:
            value = run.metrics.get(metric)
            if value is not None and math.isfinite(value):
                out[run.run_id] = float(value)
        return out


def find_groups(experiments: Sequence[str], max_results: int = 10_000) -> list[RunGroup]:
    """Finished runs with a config digest in the named experiments, grouped by
    (config digest, data digest); biggest groups first."""
    query = f"tags.`{CONFIG_TAG}` != '' and attributes.status = 'FINISHED'"
    ids = existing_experiment_ids(experiments)
    found = mlflow.search_runs(
        experiment_ids=ids, filter_string=query, max_results=max_results, output_format="list"
    )
    groups: dict[tuple[str, str], RunGroup] = {}
    for run in found:
        tags = run.data.tags
        config, data = tags.get(CONFIG_TAG, ""), tags.get(DATA_TAG, "") or "-"
        group = groups.setdefault((config, data), RunGroup(config, data))
        group.runs.append(
            GroupRun(run.info.run_id, tags.get("mlflow.runName", ""), dict(run.data.metrics))
        )
    return sorted(groups.values(), key=lambda g: (-len(g.runs), g.key))

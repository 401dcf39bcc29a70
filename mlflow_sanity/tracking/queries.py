"""What the CLI and the ``multiseed`` entry point read back: checked runs, tags, seed values.

Everything goes through MLflow's search/REST client, so it works against any tracking
server that ``MLFLOW_TRACKING_URI`` points at.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mlflow
from mlflow.exceptions import MlflowException

from mlflow_sanity.core import tag_names
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.tracking.runs import PARENT_TAG, MlflowClient, client_or_default
from mlflow_sanity.tracking.seed_runs import SEED_TAG

if TYPE_CHECKING:
    import pandas as pd

STATUS_TAG = tag_names.STATUS
METRIC_PARAM = "sanity.metric"  # the headline metric a sweep judged


class RunReadError(Exception):
    """A run could not be read: no such run, no access, or the server said no."""


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    except MlflowException as exc:
        raise RunReadError(exc.message) from None


def search_checked_runs(
    experiments: Sequence[str], status: str | None, max_results: int
) -> pd.DataFrame:
    """Runs with a ``sanity.status`` tag (only ``status`` when given), in the named
    experiments or all of them, as ``mlflow.search_runs`` returns them."""
    query = f"tags.`{STATUS_TAG}` = '{status}'" if status else f"tags.`{STATUS_TAG}` != ''"
    if experiments:
        return mlflow.search_runs(
            experiment_names=list(experiments), filter_string=query, max_results=max_results
        )
    return mlflow.search_runs(
        search_all_experiments=True, filter_string=query, max_results=max_results
    )


def run_tags(run_id: str, client: MlflowClient | None = None) -> dict[str, str]:
    with _reading():
        return dict(client_or_default(client).get_run(run_id).data.tags)


def sweep_metric(run_id: str, client: MlflowClient | None = None) -> str | None:
    """The headline metric a seed sweep logged on its parent run (param ``sanity.metric``)."""
    with _reading():
        return client_or_default(client).get_run(run_id).data.params.get(METRIC_PARAM)


def load_seed_values(
    run_id: str, metric: str, client: MlflowClient | None = None
) -> tuple[dict[int, float], list[str]]:
    """Per-seed values of ``metric`` from a parent run's finished seed children.

    Returns ``{seed: value}`` and the run ids of seed children that were skipped
    (failed, or without the metric).
    """
    client = client_or_default(client)
    with _reading():
        parent = client.get_run(run_id)
        children = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`{PARENT_TAG}` = '{run_id}'",
            max_results=10_000,
        )
    values: dict[int, float] = {}
    skipped: list[str] = []
    for run in children:
        seed = run.data.tags.get(SEED_TAG)
        if seed is None:
            continue  # another nested run (e.g. an evaluation), not a seed
        value = run.data.metrics.get(metric)
        if run.info.status != "FINISHED" or value is None or not math.isfinite(value):
            skipped.append(run.info.run_id)
            continue
        values[int(seed)] = float(value)
    return dict(sorted(values.items())), skipped


@dataclass
class RunState:
    """A run's status, metrics and times (``end_ms`` is now while it has not ended)."""

    run_id: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    start_ms: int = 0
    end_ms: int = 0


def run_state(run_id: str, client: MlflowClient | None = None) -> RunState:
    run = client_or_default(client).get_run(run_id)
    return RunState(
        run_id=run_id,
        status=run.info.status,
        metrics=dict(run.data.metrics),
        start_ms=run.info.start_time or 0,
        end_ms=run.info.end_time or now_ms(),
    )

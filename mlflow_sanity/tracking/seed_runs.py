"""Seed child runs: one nested run per seed under a sweep's parent, tagged ``sanity.seed``.

``seed_sweep`` creates them from the outcomes its workers return (``log``); the
``multiseed`` entry point adopts the runs ``mlflow.projects`` created (``find``,
``adopt``). Both tag a seed the same way, which is what ``mlflow-sanity compare`` and
``queries.load_seed_values`` read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from mlflow_sanity.core import tag_names
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.tracking import runs, shim
from mlflow_sanity.tracking.reports import MAX_TAG_CHARS, NOTE_TAG
from mlflow_sanity.tracking.runs import PARENT_TAG, MlflowClient

SEED_TAG = tag_names.SEED
ERROR_TAG = tag_names.ERROR
_MAX_ERROR_CHARS = 1000


class SeedResult(Protocol):
    """What a seed produced (the seed runner's ``SeedOutcome``); ``error`` None means ok."""

    seed: int
    metrics: Mapping[str, float]
    error: str | None
    traceback: str | None
    start_ms: int
    end_ms: int


class SeedChildRuns:
    """The seed child runs of one parent run; ``run_ids`` maps each logged seed to its run."""

    def __init__(
        self, client: MlflowClient, experiment: str, parent_run_id: str, prefix: str | None = None
    ) -> None:
        self.client, self.experiment, self.parent = client, experiment, parent_run_id
        self.prefix = f"{prefix}-" if prefix else ""
        self.run_ids: dict[int, str] = {}

    def log(self, result: SeedResult) -> str:
        """Create the seed's child run, finished (with its metrics and ``seed`` param) or failed."""
        tags = shim.context_tags(self.seed_tags(result.seed, result.error))
        if result.error is not None:
            body = result.traceback or result.error or ""
            tags[NOTE_TAG] = clip_tail(
                f"Seed {result.seed} failed: {result.error}\n\n```\n{body}\n```", MAX_TAG_CHARS
            )
        run_id = runs.create_run(
            self.client,
            self.experiment,
            tags=tags,
            run_name=f"{self.prefix}seed-{result.seed}",
            start_ms=result.start_ms or None,
        )
        runs.log_batched(
            self.client,
            run_id,
            params={"seed": str(result.seed)},
            metrics=result.metrics,
            timestamp_ms=result.end_ms or now_ms(),
        )
        status = "FINISHED" if result.error is None else "FAILED"
        runs.terminate(self.client, run_id, status, end_ms=result.end_ms or None)
        self.run_ids[result.seed] = run_id
        return run_id

    def adopt(self, run_id: str, seed: int, error: str | None) -> None:
        """Tag a run created elsewhere (an MLflow project run) as this parent's seed child.

        The parent tag is set again for backends that did not nest the run.
        """
        runs.set_tags(self.client, run_id, self.seed_tags(seed, error))
        self.run_ids[seed] = run_id

    def find(self, seed: int, started_ms: int = 0) -> str | None:
        """The newest run nested under the parent with param ``seed`` started since ``started_ms``
        (how a failed project run is found: MLflow raises without handing back its id)."""
        found = self.client.search_runs(
            [self.experiment],
            filter_string=(
                f"tags.`{PARENT_TAG}` = '{self.parent}' and params.seed = '{seed}'"
                f" and attributes.start_time >= {int(started_ms)}"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return found[0].info.run_id if found else None

    def seed_tags(self, seed: int, error: str | None) -> dict[str, str]:
        """The tags that make a run this parent's seed child (and say why it failed)."""
        tags = {PARENT_TAG: self.parent, SEED_TAG: str(seed)}
        if error is not None:
            tags[ERROR_TAG] = clip_tail(error or "failed", _MAX_ERROR_CHARS)
        return tags


def clip_tail(text: str, limit: int) -> str:
    """Keep the end of long error text: the last traceback frames say what went wrong."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]

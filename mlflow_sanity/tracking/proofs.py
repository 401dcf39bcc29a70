"""The MLflow side of cause experiments: autologging kept away, arms logged as child runs.

Each arm of the experiments behind a fit's cause findings becomes a run nested under the
fit's run (``mlflow.parentRunId``), tagged ``sanity.proof`` = the finding id it tests and
``sanity.proof.arm`` = ``control`` or ``remedy``, with its settings as params and its
scores as metrics (one step per seed), so the user can open them. One control run is
shared by every experiment of the fit: its ``sanity.proof`` lists their finding ids,
comma-separated. The calls run under the short budget of
``tracking/budget.py``; when the server cannot be reached (or the fit's run is still a
pending spool key) nothing is sent and the proof says so: the report itself is spooled
as usual, the child runs are not (they only repeat the numbers the report holds).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence

import mlflow
from mlflow.entities import Metric, Param, RunTag

from mlflow_sanity.core import tag_names
from mlflow_sanity.core.boundary import Caught, Origin, describe
from mlflow_sanity.core.clock import now_ms
from mlflow_sanity.tracking import budget

PROOF_TAG = tag_names.PROOF
ARM_TAG = tag_names.PROOF_ARM
PARENT_TAG = tag_names.PARENT_RUN

_log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_autologging() -> Iterator[None]:
    """MLflow's autologging (``mlflow.keras.autolog`` and the others) switched off for the
    tool's own training runs: they are not the user's and must not become runs or models."""
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():
        yield


def log_arms(
    parent_run_id: str | None,
    arms: Sequence[tuple[str, str, Mapping[str, str], Mapping[str, Sequence[float]]]],
) -> tuple[tuple[str, ...], str]:
    """Log ``(finding, arm, params, metrics by seed)`` as child runs of ``parent_run_id``;
    returns their ids and, when nothing could be logged, why (never raises: the proofs
    stand without)."""
    from mlflow_sanity.tracking.spool import is_pending

    if not parent_run_id or is_pending(parent_run_id):
        return (), "child runs not logged: the fit's run does not exist yet (spooled)"
    if not budget.reachable(mlflow.get_tracking_uri()):
        return (), "child runs not logged: the tracking server did not answer"
    client = mlflow.MlflowClient()
    ids: list[str] = []
    # the verdict does not depend on the child runs
    with Caught(Origin.OUTSIDE) as caught, budget.bounded():
        experiment = client.get_run(parent_run_id).info.experiment_id
        for finding, arm, params, metrics in arms:
            tags = {PARENT_TAG: parent_run_id, PROOF_TAG: finding, ARM_TAG: arm}
            # a run name given: MLflow draws no random one (the user's `random` is kept)
            run = client.create_run(experiment, tags=tags, run_name=f"proof {finding} {arm}")
            run_id = run.info.run_id
            now = now_ms()
            client.log_batch(
                run_id,
                metrics=[
                    Metric(k, float(v), now, step)
                    for k, values in metrics.items()
                    for step, v in enumerate(values)
                ],
                params=[Param(k, str(v)[:500]) for k, v in params.items()],
                tags=[RunTag(tag_names.NOTE, f"mlflow-sanity experiment: {finding}")],
            )
            client.set_terminated(run_id, "FINISHED")
            ids.append(run_id)
    if caught.failed:
        _log.info("mlflow-sanity: proof runs not logged: %s", caught.raised)
        return tuple(ids), f"child runs not logged: {describe(caught.raised)}"
    return tuple(ids), ""

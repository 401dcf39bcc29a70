"""Every tag name mlflow-sanity writes or reads, once.

These names are the public contract (docs/architecture.md "Public contract"): users filter
on them in the UI, CI gates read them, external checks rely on them. Defining each once
keeps the writers (reports, LoggedModels, seed runs, experiments) and the readers
(queries, the CLI, the gallery) from drifting apart.
"""

from __future__ import annotations

PREFIX = "sanity."
STATUS = "sanity.status"  # pass | warn | fail: the worst finding
FINDINGS = "sanity.findings"  # comma-separated warn/fail ids
FINDING = "sanity.finding."  # + <id>: warn | fail, one tag per flagged finding
VERSION = "sanity.version"
COVERAGE = "sanity.coverage"  # full | partial: <what was not checked>
TASK = "sanity.task"  # binary | multiclass | multilabel | sequence | regression | unsupported
CORRECTED = "sanity.corrected"  # the headline's corrected figure, when there is one
CONFIG_DIGEST = "sanity.config_digest"
DATA_DIGEST = "sanity.data_digest"
SEED = "sanity.seed"
ERROR = "sanity.error"
SPOOLED = "sanity.spooled"
PROOF = "sanity.proof"  # on a cause experiment's child run: the finding id it tests
PROOF_ARM = "sanity.proof.arm"  # control | remedy

NOTE = "mlflow.note.content"  # the description the UI shows, on runs and LoggedModels
PARENT_RUN = "mlflow.parentRunId"
EXPERIMENT_KIND = "mlflow.experimentKind"


def finding(finding_id: str) -> str:
    """The per-finding tag, ``sanity.finding.<id>``."""
    return f"{FINDING}{finding_id}"

"""The check registry: a check measures, one grading helper judges, the registry stamps.

A check is ``fn(ctx, limits) -> Outcome | None``: it reads the ``Context`` fields it
declares (``requires``: all needed; ``one_of``: at least one; ``reads``: used when
present). It is skipped, not failed, when what it needs is missing, so the same
registry serves the evaluator, autolog, the seed runner and the CLI), computes its
evidence, turns evidence + ``limits`` into a severity with ``grade`` and says what it saw.
The registry adds the id, the remedy, the thresholds used and the source, so no check
repeats its own id. ``None`` means "does not apply to this data".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_sanity.core.findings import Corrected, Severity
from mlflow_sanity.core.labels import LabelNames, label_names_of
from mlflow_sanity.core.task import Task

if TYPE_CHECKING:  # the check themes import these; the registry only names them
    from mlflow_sanity.core.fingerprint import Fingerprint
    from mlflow_sanity.core.keras_spec import FitSpec, ModelSpec, Predictions
    from mlflow_sanity.core.metrics import Classification
    from mlflow_sanity.core.multilabel import MultiLabel
    from mlflow_sanity.core.regression import Regression
    from mlflow_sanity.core.seed_stats import SeedResults
    from mlflow_sanity.core.sequence import SequenceEval
    from mlflow_sanity.core.splits import ModelSelection, NormalizationStats, Split

_log = logging.getLogger(__name__)

Thresholds = Mapping[str, Mapping[str, float]]
TRAINING_ROWS_PREFIX = "On its training data (fit had no validation data): "
CheckFn = Callable[["Context", Mapping[str, float]], "Outcome | None"]
# The Context fields holding a model's predictions on the judged rows (``eval_on``).
PREDICTIONS = frozenset({"eval", "regression", "multilabel"})


@dataclass
class Context:
    """Everything a check may look at. Adapters fill what they know; the rest stays None.

    Each field is one kind of evidence; a check lists the ones it reads in ``requires``.
    """

    eval: Classification | None = None  # the evaluated (or validation) predictions
    # What ``eval`` holds: "evaluation" or "validation" rows, or the model's own "training"
    # rows (a fit without validation data); on training rows only the checks that say
    # so (``judges_training_rows``) run, and their messages say where they looked.
    eval_on: str = "evaluation"
    # A multi-label head's evaluation (``eval`` stays None): the imbalance checks judge it
    # per label (``checks/multilabel.py``).
    multilabel: MultiLabel | None = None
    # A tagger's sequence facts (``eval`` is then over its real tokens): how many
    # positions were masked, the entity-level scores of BIO/IOB tags.
    sequence: SequenceEval | None = None
    regression: Regression | None = None  # a regressor's predictions on those rows
    # What is judged (``core.task.decide_task``): a check whose ``tasks`` leave it out does
    # not apply. None only for callers that predate the rule (``build_report`` then reads
    # it off ``eval``). An unsupported task's reason is ``missing["task"]``.
    task: Task | None = None
    model: ModelSpec | None = None  # the compiled Keras model
    history: Mapping[str, Sequence[float]] | None = None  # per-epoch Keras history
    fit: FitSpec | None = None  # how fit was called: weights, callbacks, labels
    train: Split | None = None  # raw training data (leakage checks)
    test: Split | None = None  # raw evaluation data (leakage checks)
    fingerprint: Fingerprint | None = None  # training data logged by an earlier run
    validation_fingerprint: Fingerprint | None = None  # the validation data of that fit
    model_selection: ModelSelection | None = None  # what EarlyStopping/checkpoints monitored
    normalization: NormalizationStats | None = None  # a Keras Normalization layer's statistics
    seeds: SeedResults | None = None  # per-seed metrics of a multi-seed sweep
    evaluated: Mapping[str, float] | None = None  # what ``model.evaluate`` returned, by name
    evaluated_outputs: Predictions | None = None  # the model's outputs on those rows
    # The accuracy the model's fit measured on its validation rows (``model.evaluate`` of a
    # model fitted in this process): the figure to read when the evaluated data is training data.
    fit_validation_accuracy: float | None = None
    # Other splits the model saw, by name ("model.evaluate #1"): their column statistics
    # join the union the preprocessing check compares a scaler's statistics with.
    seen_splits: Mapping[str, Fingerprint] | None = None
    # Experiments that tested a cause (finding id -> ``core.proofs.Proof.to_dict()``):
    # the adapter reruns the registry with them, and ``judge_causes`` grades by them.
    proofs: Mapping[str, Mapping[str, Any]] | None = None
    # Why a field an adapter meant to fill is empty (field name -> "validation data (not
    # readable)"): each enabled check that needed it becomes a ``NotChecked`` record
    # (``skipped_checks``). A field left None without a reason is simply not this entry
    # point's evidence (the evaluator has no history): no gap.
    missing: Mapping[str, str] = field(default_factory=dict)
    # Measurements several checks share (the train/test overlap), computed once per report.
    shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def measure(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per context, for measurements two checks both need; one an
        adapter started early (``started``) is waited for."""
        if key not in self.shared:
            self.shared[key] = compute()
        value = self.shared[key]
        if isinstance(value, Future):  # its errors are raised here, in the check that reads it
            value = self.shared[key] = value.result()
        return value

    def started(self, key: str, measurement: Future) -> None:
        """``measurement`` (a pending ``measure(key, ...)``: the same value, computed by the
        same code) is under way on another thread while the adapter does other work."""
        self.shared.setdefault(key, measurement)


@dataclass(frozen=True)
class Outcome:
    """What a check saw and how bad it is; the registry turns it into a ``Finding``."""

    severity: Severity
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # For a cause check: the cause in a few words ("the learning rate 5 is too high"),
    # quoted by the symptom findings it explains. Empty: the message's first sentence.
    because: str = ""
    # The headline figure recomputed without what makes it misleading (``checks.corrected``);
    # kept only on an outcome that is not a pass.
    corrected: Corrected | None = None
    # For a cause check: it breaks training by itself (every unit of a layer dead), so it
    # alarms without a symptom (see ``judge_causes``).
    alone: bool = False


def passed(message: str, evidence: Mapping[str, Any] | None = None) -> Outcome:
    """The check ran and found nothing; its evidence still goes into the report."""
    return Outcome(Severity.PASSED, message, dict(evidence or {}))


def finding(
    check_id: str, severity: Severity, message: str, evidence: Mapping[str, Any] | None = None
) -> Outcome:
    """Transitional: the registry stamps the id; use ``Outcome``/``passed`` in new checks."""
    return Outcome(severity, message, dict(evidence or {}))


def reaches(value: float, limit: float, *, below: bool = False, inclusive: bool = False) -> bool:
    """The one threshold comparison: does ``value`` reach ``limit`` on the bad side?

    ``below=True`` when small values are bad (recall, shares); ``inclusive`` says whether
    the limit itself counts as bad. Each check documents its choice in the README table.
    """
    if below:
        return value <= limit if inclusive else value < limit
    return value >= limit if inclusive else value > limit


def grade(
    value: float,
    *,
    fail: float | None = None,
    warn: float | None = None,
    info: float | None = None,
    below: bool = False,
    inclusive: bool = False,
) -> Severity:
    """The worst severity whose limit ``value`` reaches (see ``reaches``), else PASSED."""
    for severity, limit in ((Severity.FAIL, fail), (Severity.WARN, warn), (Severity.INFO, info)):
        if limit is not None and reaches(value, limit, below=below, inclusive=inclusive):
            return severity
    return Severity.PASSED


@dataclass(frozen=True)
class Check:
    id: str
    requires: tuple[str, ...]
    defaults: Mapping[str, float]
    remedy: str
    fn: CheckFn
    theme: str
    tasks: frozenset[Task]  # what it judges; on any other task it does not apply
    summary: str = ""
    judges_training_rows: bool = False
    one_of: tuple[str, ...] = ()  # at least one of these must be present
    reads: tuple[str, ...] = ()  # read when present, never required
    explains: tuple[str, ...] = ()  # symptom finding ids this cause explains when both flag
    # A cause that alarms (warn/fail) only next to a flagged symptom it explains, or when
    # its outcome says it breaks training ``alone``; otherwise ``info`` (``judge_causes``).
    needs_symptom: bool = False
    # What it flags, at which severity and by which thresholds, in the words of the
    # README's checks tables (``checks/catalog.py`` generates them from this); empty:
    # ``summary`` (the function's first docstring line) stands in.
    flags: str = ""

    @property
    def judges_predictions(self) -> bool:
        """It reads the evaluated predictions (``eval``, a multi-label ``multilabel`` or a
        regressor's ``regression``)."""
        return bool(PREDICTIONS & {*self.requires, *self.one_of})

    def applies(self, ctx: Context) -> bool:
        if ctx.task is not None and ctx.task not in self.tasks:
            return False
        if ctx.eval_on == "training" and self.judges_predictions and not self.judges_training_rows:
            return False  # e.g. a perfect score or a wide interval mean nothing on training rows
        return not self.absent(ctx)

    def absent(self, ctx: Context) -> list[tuple[str, ...]]:
        """The evidence this check lacks in ``ctx``: each missing ``requires`` field, and
        the ``one_of`` fields as one group when none of them is there."""
        groups = [(name,) for name in self.requires if getattr(ctx, name) is None]
        if self.one_of and all(getattr(ctx, name) is None for name in self.one_of):
            groups.append(self.one_of)
        return groups


REGISTRY: dict[str, Check] = {}
# What an unsupported task lacks: its judged predictions, and the raw outputs beside them.
EVALUATION_FIELDS = PREDICTIONS | {"evaluated_outputs"}
_CONTEXT_FIELDS = frozenset(Context.__dataclass_fields__) - {"shared", "missing", "task"}


def check(
    check_id: str,
    *,
    tasks: Iterable[Task],
    requires: Iterable[str],
    remedy: str,
    one_of: Iterable[str] = (),
    reads: Iterable[str] = (),
    judges_training_rows: bool = False,
    explains: Iterable[str] = (),
    needs_symptom: bool = False,
    flags: str = "",
    **defaults: float,
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the check that produces finding ``check_id``.

    Its theme is the ``checks`` module (or subpackage) it lives in, so groups like "the
    leakage checks" are read from the registry instead of listed by hand. ``flags`` is
    the user-facing rule (README tables); the thresholds it names are ``defaults``.
    ``tasks`` (``core.task``) is required: every check says what it can judge.
    """
    requires, one_of, reads = tuple(requires), tuple(one_of), tuple(reads)
    tasks = frozenset(Task(t) for t in tasks)
    if not tasks:
        raise ValueError(f"check {check_id!r} judges no task")
    unknown = set(requires + one_of + reads) - _CONTEXT_FIELDS
    if unknown:
        raise ValueError(f"check {check_id!r} requires unknown context fields {sorted(unknown)}")

    def register(fn: CheckFn) -> CheckFn:
        if check_id in REGISTRY:
            raise ValueError(f"check {check_id!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        theme = fn.__module__.removeprefix(f"{__package__}.").split(".")[0]
        REGISTRY[check_id] = Check(
            check_id,
            requires,
            dict(defaults),
            remedy,
            fn,
            theme,
            tasks,
            doc[0] if doc else "",
            judges_training_rows,
            one_of,
            reads,
            tuple(explains),
            needs_symptom,
            flags,
        )
        return fn

    return register


def checks_in(theme: str) -> tuple[str, ...]:
    """The ids of the checks of one theme (``"leakage"``, ``"imbalance"``...), in order."""
    return tuple(cid for cid, chk in REGISTRY.items() if chk.theme == theme)


@dataclass(frozen=True)
class CheckOptions:
    """Which checks run and with which thresholds, validated when created.

    Every entry point builds one from the user's ``thresholds``/``disable`` before any
    work starts, so a typo fails at once (naming the valid choices), not after training.
    """

    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    disable: tuple[str, ...] = ()
    # the user's class/tag names by output (``core.labels.label_names_of``)
    label_names: LabelNames = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        thresholds: Thresholds | None = None,
        disable: Iterable[str] = (),
        label_names: Any = None,
    ) -> CheckOptions:
        if thresholds is not None and (
            not isinstance(thresholds, Mapping)
            or not all(isinstance(v, Mapping) for v in thresholds.values())
        ):
            raise ValueError('thresholds must look like {"finding_id": {"name": value}}')
        limits = {str(k): dict(v) for k, v in (thresholds or {}).items()}
        off = (disable,) if isinstance(disable, str) else tuple(str(d) for d in disable)
        unknown = (set(limits) | set(off)) - set(REGISTRY)
        if unknown:
            raise ValueError(f"unknown finding id(s) {sorted(unknown)}; known: {sorted(REGISTRY)}")
        for check_id, values in limits.items():
            known = REGISTRY[check_id].defaults
            bad = set(values) - set(known)
            if bad:
                raise ValueError(
                    f"unknown threshold(s) {sorted(bad)} for {check_id}; "
                    f"known: {sorted(known) or 'none (this check has no thresholds)'}"
                )
        return cls(limits, off, label_names_of(label_names))

    def limits(self, check_id: str) -> dict[str, float]:
        return {**REGISTRY[check_id].defaults, **self.thresholds.get(check_id, {})}


# Findings that show accuracy is stuck without saying why; cause checks name them in
# ``explains``.
SYMPTOMS = (
    "accuracy_at_baseline",
    "loss_accuracy_divergence",
    "prediction_collapse",
    "regression_at_baseline",
)


def _first_sentence(text: str) -> str:
    head = text.split(". ", 1)[0].rstrip(".")
    if head[:1].isupper() and not head[1:2].isupper():
        head = head[:1].lower() + head[1:]
    return head

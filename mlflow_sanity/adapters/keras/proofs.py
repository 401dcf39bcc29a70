"""Causes tested by experiment: train the model again with the named fix, and without it.

Which experiments a fit gets (``plan``), in order:

1. a flagged cause that explains a flagged symptom, and a suspect learning rate (far from
   its optimizer's default) next to a flagged symptom; a collapse onto one class when the
   fit weighted nothing (``class_weight="balanced"`` is the fix to test);
2. a cause whose rule fired without a symptom (the registry graded it ``info``): a model
   that works may still gain from the fix; only a confirmed gain makes it a warning;
3. a flagged symptom no cause explains, or whose causes were all not confirmed: a short
   differential diagnosis of the standard remedies (``remedies.differential``), and the
   cause whose remedy is confirmed is named.

Each experiment trains fresh copies of the model (``proof_arms.py``) on the same capped
training rows with the same seeds: one control per seed, shared by every experiment of
the fit, and one remedied copy per seed and experiment, interleaved seed by seed; a
second and third seed run only while a verdict is undecided. ``core/proofs.py`` decides
``confirmed``/``refuted``/``inconclusive``; the registry grades the findings by it.
A multi-output model's causes are tested per output by ``head_proofs.py``.

Budget: in work units counted from the fit itself (``core/proof_budget.py``: steps,
batch size, parameters), never from the clock, so a busy machine gets the same
experiments; the clock (``proof_budget``'s seconds) only stops a runaway experiment,
which is then ``inconclusive (stopped)``. A healthy fit runs none.

Nothing of the user's is touched: the copies get their own weights and optimizer, the
data are read (capped copies), the user's callbacks are not passed, MLflow autologging
and the tool's own wrappers are off for these fits, and the global random state
(Python, NumPy, Keras, TensorFlow) is restored afterwards.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlflow_sanity.adapters.keras import proof_arms
from mlflow_sanity.adapters.keras.inputs import FitCall, FitData, n_rows
from mlflow_sanity.adapters.keras.remedies import (
    REBALANCED,
    SEED,
    Remedy,
    Rows,
    balanced_weights,
    differential,
    experiment_rows,
    remedy_for,
)
from mlflow_sanity.adapters.rng import preserved_random_state
from mlflow_sanity.checks import REGISTRY, CheckOptions, Context
from mlflow_sanity.checks.cause_rule import CONSEQUENCE_OF
from mlflow_sanity.checks.registry import SYMPTOMS
from mlflow_sanity.core import proof_budget as pb
from mlflow_sanity.core.boundary import Caught, Origin
from mlflow_sanity.core.findings import Finding, Report
from mlflow_sanity.core.keras_spec import label_indices
from mlflow_sanity.core.proof_budget import MODE_ENV, ProofSettings  # noqa: F401 (API)
from mlflow_sanity.core.proofs import (
    CONFIRMED,
    MIN_UPDATES,
    Arm,
    Proof,
    Score,
    not_run,
)
from mlflow_sanity.core.task import SINGLE_LABEL
from mlflow_sanity.pipeline import build_report

_log = logging.getLogger(__name__)
_say = logging.getLogger("mlflow_sanity")

MAX_EPOCHS = 5  # epochs per arm (undertrained's remedy: 3x)
MAX_SEEDS = 3  # pairs of arms an undecided experiment may get
PROVABLE = (
    "learning_rate",
    "unscaled_inputs",
    "dead_units",
    "vanishing_gradients",
    "undertrained",
    "loss_output_mismatch",
    "unscaled_targets",
)

SETTINGS = ProofSettings()


def configure(mode: str | bool | None = None, budget: tuple[float, float] | None = None) -> None:
    """Set how ``autolog`` proves causes (see ``core/proof_budget.py``)."""
    global SETTINGS
    SETTINGS = ProofSettings.of(mode, budget)


# -- which causes to test ----------------------------------------------------------------


def _weighted(call: FitCall | None) -> bool:
    return call is not None and (call.class_weight is not None or call.sample_weight is not None)


def candidates(report: Report, call: FitCall | None = None) -> list[Finding]:
    """Cause findings worth an experiment, most pressing first: causes of a flagged
    symptom (and a collapse the fit did not weight), then causes whose rule fired without
    a symptom (graded ``info`` by the registry, ``evidence["graded"]`` flagged, or left
    flagged where no symptom check could judge). A configuration cause
    (``loss_output_mismatch``) is tested only next to a symptom it explains."""
    flagged = {f.id for f in report.findings if f.severity.flagged}
    fix, first, later = [], [], []
    for f in report.findings:
        if f.id == REBALANCED and f.severity.flagged and not _weighted(call):
            fix.append(f)
            continue
        chk = REGISTRY.get(f.id)
        if f.id not in PROVABLE or chk is None:
            continue
        symptom = any(s in flagged for s in chk.explains)
        if (f.explains and f.severity.flagged) or (symptom and f.evidence.get("suspect")):
            first.append(f)
        elif not chk.needs_symptom:  # a configuration error alarms by itself: not re-graded
            continue
        elif f.evidence.get("graded") in ("warn", "fail") and not symptom:
            later.append(f)  # graded info for want of a symptom: a model that may gain
        elif f.severity.flagged:  # flagged, no symptom check could judge (a regression)
            later.append(f)
    return fix + first + later


@dataclass
class Trial:
    """One experiment: the cause it would name, the remedy, the seeds' remedied scores."""

    cause: str
    remedy: Remedy
    min_seeds: int = 1  # a confirmation without a symptom needs two seeds
    reached: float | None = None  # without a symptom: what the user's fit reached
    trained: list[proof_arms.Trained] = field(default_factory=list)
    why_not: str = ""
    head: str | None = None  # a multi-output model: the output judged (its labels, scores)

    def proof(self, controls: list[proof_arms.Trained], epochs: int, rows: Rows) -> Proof:
        seeds = len(self.trained)
        controls = [c.of(self.head) for c in controls[:seeds]]
        rows = rows.of(self.head)
        return Proof(
            self.cause,
            self.remedy.text,
            _arm("control", controls, epochs),
            _arm(
                "remedy",
                [t.of(self.head) for t in self.trained],
                epochs * self.remedy.epochs_factor,
            ),
            n_rows(rows.x_train),
            _class_counts(rows),
            rows.eval_on,
            min_seeds=self.min_seeds,
            reached=self.reached,
            n_eval=len(rows.y_eval),
        )


def _arm(name: str, trained: list[proof_arms.Trained], epochs: int) -> Arm:
    scores = tuple(t.score for t in trained if t.score is not None)
    error = next((t.error for t in trained if t.error), "")
    stopped = any(t.stopped for t in trained)
    updates = min((t.updates for t in trained), default=0)
    return Arm(name, scores, epochs, updates, error, stopped)


def _class_counts(rows: Rows) -> tuple[int, ...]:
    if not rows.classes:
        return ()
    idx = label_indices(rows.y_eval)
    return tuple(int(c) for c in np.unique(idx, return_counts=True)[1]) if idx is not None else ()


def plan(report: Report, call: FitCall | None, model: Any, lr: float | None) -> list[Trial]:
    """The experiments the report calls for (the first two groups of the module docstring)."""
    trials = []
    reached = report.metrics.get("balanced_accuracy")
    reached = float(reached) if isinstance(reached, (int, float)) else None
    flagged = {f.id for f in report.findings if f.severity.flagged}
    for f in candidates(report, call):
        chk = REGISTRY.get(f.id)
        symptom = chk is None or not chk.explains or any(s in flagged for s in chk.explains)
        remedy = remedy_for(f, model, lr)
        if remedy is None:
            trials.append(Trial(f.id, Remedy(""), why_not="no remedy the experiment can apply"))
        elif symptom:
            trials.append(Trial(f.id, remedy))
        else:  # no symptom: a gain that repeats, beyond what the fit itself reached
            trials.append(Trial(f.id, remedy, 2, reached))
    return trials


def _unexplained(report: Report) -> bool:
    """A flagged symptom that no flagged cause explains."""
    flagged = {f.id for f in report.findings if f.severity.flagged}
    explained = {s for f in report.findings if f.severity.flagged for s in f.explains}
    return any(s in flagged and s not in explained for s in SYMPTOMS)


# -- the whole step -----------------------------------------------------------------------


def _clonable(model: Any) -> str:
    """Why ``model`` cannot be copied for an experiment ('' when it can)."""
    # any failure to serialise means: no experiment, said in the report
    with Caught(Origin.MODEL) as caught:
        model.get_config()
        model.get_compile_config()
    if caught.failed:
        name = type(caught.raised).__name__
        return f"the model cannot be cloned ({name}: a subclassed model without get_config)"
    if getattr(model, "optimizer", None) is None:
        return "the model is not compiled"
    return ""


def prove(
    model: Any,
    call: FitCall,
    data: FitData | None,
    ctx: Context | None,
    report: Report,
    config: CheckOptions,
    run_id: str | None,
    settings: ProofSettings | None = None,
) -> Report:
    """Run the experiments the report calls for, and re-judge its findings by them.

    Returns ``report`` untouched when there is nothing to test (a healthy fit) or the
    budget allows nothing; otherwise a report whose cause findings carry
    ``evidence["proof"]``. The user's random state is restored whatever happens.
    """
    settings = settings or SETTINGS
    wanted = candidates(report, call) or _unexplained(report)
    if not wanted or ctx is None or settings.mode is False:
        return report
    # the report stands without its experiments (a bug of ours: strict re-raises)
    with Caught(Origin.OURS, "cause experiments") as caught, preserved_random_state():
        proofs, runs = _run(model, call, data, ctx, report, run_id, settings)
    if (exc := caught.error) is not None:
        _log.warning("mlflow-sanity: cause experiments failed: %s", exc, exc_info=exc)
        why = f"the experiment failed ({type(exc).__name__})"
        proofs, runs = {f.id: not_run(f.id, why) for f in candidates(report, call)}, {}
    if not proofs:
        return report
    ctx.proofs = proofs  # the checks again, graded by the proofs, as the report was built
    report.findings = build_report(ctx, options=config, provenance=report.provenance).findings
    report.inputs["proofs"] = {fid: p.get("verdict") for fid, p in proofs.items()}
    _announce(report, proofs, runs, run_id)
    return report


def _announce(
    report: Report, proofs: dict[str, dict[str, Any]], runs: dict[str, int], run_id: str | None
) -> None:
    """Record the work spent (for people: ``report.inputs``); the console summary of a
    flagged report names the experiments in one line, an unflagged report has no
    summary, so the same line goes to the log at INFO."""
    report.inputs["experiments"] = {"count": len(proofs), "child_runs": 0, **runs}
    if not report.flagged:
        from mlflow_sanity.report.console import experiments_line

        if line := experiments_line(report, run_id or ""):
            _say.info("mlflow-sanity: %s", line)


@dataclass
class _Bench:
    """The shared state of one fit's experiments: rows, controls, the work spent."""

    model: Any
    rows: Rows
    spec: Any
    epochs: int
    batch: int
    params: int
    allowed: float
    deadline: float
    spent: float = 0.0
    controls: list[proof_arms.Trained] = field(default_factory=list)

    def cost(self, epochs: int) -> float:
        steps = pb.steps_of(n_rows(self.rows.x_train), self.batch, epochs)
        return pb.arm_units(steps, self.params, self.batch)

    def train(self, remedy: Remedy | None, epochs: int, seed: int) -> proof_arms.Trained:
        self.spent += self.cost(epochs)
        return proof_arms.train_arm(
            self.model, self.rows, remedy, epochs, self.batch, seed, self.deadline, self.spec
        )

    def stopped(self) -> bool:
        return any(t.stopped for t in self.controls)


def _fit_units(call: FitCall, ctx: Context, params: int, batch: int) -> float | None:
    """The fit's own work: its optimizer steps (epochs x batches) at its batch size."""
    epochs = len((ctx.history or {}).get("loss", []))
    n_train = ctx.fit.n_train if ctx.fit is not None else None
    if not epochs or not n_train:
        return None
    return pb.arm_units(pb.steps_of(n_train, batch, epochs), params, batch)


def _bench(model: Any, call: FitCall, data: FitData | None, ctx: Context, settings: ProofSettings):
    """The shared state, or why no experiment can run."""
    why = _clonable(model)
    if not why and ctx.model is not None and (ctx.model.n_outputs or 1) > 1:
        why = "the model has several outputs (an experiment scores one output; not run)"
    classes = ctx.task is None or ctx.task in SINGLE_LABEL
    rows = experiment_rows(data, classes) if data is not None and not why else None
    if not why and rows is None:
        why = "the training rows could not be read (or hold no labels the arms can score)"
    if why:
        return why
    return bench_of(model, call, ctx, rows, ctx.model, settings)


def bench_of(
    model: Any, call: FitCall, ctx: Context, rows: Rows, spec: Any, settings: ProofSettings
) -> _Bench | str:
    """The work budget and epochs of ``rows``' experiments (``ctx``: the fit's history)."""
    batch = int(call.batch_size or 32)
    params = int(model.count_params())
    allowed = settings.allowed(_fit_units(call, ctx, params, batch))
    if allowed <= 0:
        return "the fit's own work is unknown" if settings.mode == "auto" else "the budget is 0"
    per_epoch = max(1, math.ceil(n_rows(rows.x_train) / batch))
    epochs_run = len((ctx.history or {}).get("loss", [])) or 1
    # at least the updates an effect needs (MIN_UPDATES), at most MAX_EPOCHS
    epochs = max(1, min(max(epochs_run, math.ceil(MIN_UPDATES / per_epoch)), MAX_EPOCHS))
    deadline = time.perf_counter() + settings.seconds
    return _Bench(model, rows, spec, epochs, batch, params, allowed, deadline)


def _run(
    model: Any,
    call: FitCall,
    data: FitData | None,
    ctx: Context,
    report: Report,
    run_id: str | None,
    settings: ProofSettings,
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    from mlflow_sanity.tracking.proofs import quiet_autologging

    lr = ctx.model.learning_rate if ctx.model is not None else None
    trials = plan(report, call, model, lr)
    bench = _bench(model, call, data, ctx, settings)
    if isinstance(bench, str):
        return {t.cause: not_run(t.cause, bench) for t in trials}, {}
    for t in trials:
        if t.cause == REBALANCED and (not bench.rows.classes or _balanced(bench.rows)):
            t.why_not = "the classes are balanced already: class weights would change nothing"
    with quiet_autologging():
        _trial_seeds(bench, [t for t in trials if not t.why_not])
        # a symptom's fix that did not run says nothing about the symptom: left out
        done = {t.cause: t for t in trials if t.trained or t.cause != REBALANCED}
        if _unexplained(report) and not any(_confirmed(bench, t) for t in trials):
            tried = {(t.cause, t.remedy.text) for t in trials}
            present = {f.id: f for f in report.findings}
            extra = [
                Trial(cause, remedy)
                for cause, remedy in differential(lr, present, _weighted(call))
                if (cause, remedy.text) not in tried
            ]
            _trial_seeds(bench, extra, stop_at_first=True)
            for t in extra:  # only a confirmed remedy names a cause the rules missed
                if _confirmed(bench, t) and not _confirmed(bench, done.get(t.cause)):
                    done[t.cause] = t
    proofs = {cause: _proof_of(bench, t) for cause, t in done.items()}
    return _log_runs(run_id, bench, done, proofs)


def _balanced(rows: Rows) -> bool:
    weights = balanced_weights(rows.y_train) or {}
    return bool(weights) and max(weights.values()) < 1.5 * min(weights.values())


def _confirmed(bench: _Bench, t: Trial | None) -> bool:
    return t is not None and bool(t.trained) and _verdict(bench, t) == CONFIRMED


def _verdict(bench: _Bench, t: Trial) -> str:
    return t.proof(bench.controls, bench.epochs, bench.rows).verdict


def _proof_of(bench: _Bench, t: Trial) -> dict[str, Any]:
    if t.why_not and not t.trained:
        return not_run(t.cause, t.why_not)
    if not t.trained:
        return not_run(t.cause, "the work budget (see proof_budget) is too small for it")
    return t.proof(bench.controls, bench.epochs, bench.rows).to_dict()


def _trial_seeds(bench: _Bench, trials: list[Trial], stop_at_first: bool = False) -> None:
    """Seed by seed, interleaved: the shared control of a seed, then each undecided
    trial's remedied copy, while the work budget allows and nothing was stopped."""
    for seed in range(MAX_SEEDS):
        for t in trials:
            if bench.stopped() or (seed and not _undecided(bench, t)) or len(t.trained) < seed:
                continue
            if _follows_proven(bench, t, trials) and not (t.cause == REBALANCED and t.trained):
                t.why_not = t.why_not or "a consequence of a cause this fit's experiments proved"
                continue
            epochs = bench.epochs * t.remedy.epochs_factor
            need = bench.cost(epochs) + (
                bench.cost(bench.epochs) if len(bench.controls) <= seed else 0
            )
            if bench.spent + need > bench.allowed:
                continue
            if len(bench.controls) <= seed:
                bench.controls.append(bench.train(None, bench.epochs, seed))
            t.trained.append(bench.train(t.remedy, epochs, seed))
            if stop_at_first and _confirmed(bench, t):
                return


def _undecided(bench: _Bench, t: Trial) -> bool:
    """Another seed could still change the verdict (``Judgement.more_seeds``)."""
    if not t.trained:
        return False
    return t.proof(bench.controls, bench.epochs, bench.rows).judgement.more_seeds


def _follows_proven(bench: _Bench, t: Trial, trials: list[Trial]) -> bool:
    """``t`` tests a consequence of a cause already confirmed here (or rebalances a
    collapse a confirmed cause explains): not worth the work."""
    causes = CONSEQUENCE_OF.get(t.cause, ()) if t.cause != REBALANCED else PROVABLE
    return any(o.cause in causes and _confirmed(bench, o) for o in trials if o is not t)


def _log_runs(
    run_id: str | None, bench: _Bench, done: dict[str, Trial], proofs: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """One child run for the shared control, one per remedied arm; their ids into the
    proofs that used them."""
    from mlflow_sanity.tracking.proofs import log_arms

    used = [t for t in done.values() if t.trained]
    work = {"work_units": round(bench.spent), "allowed_units": round(bench.allowed)}
    if not used:
        return proofs, work
    first = used[0].head  # a multi-output model: the control's scores of the first output
    records = [
        _record(",".join(t.cause for t in used), "control", None, bench, bench.controls, first)
    ]
    records += [_record(t.cause, "remedy", t.remedy, bench, t.trained, t.head) for t in used]
    ids, note = log_arms(run_id, records)
    for i, t in enumerate(used):
        runs = [ids[0], ids[i + 1]] if len(ids) > i + 1 else []
        proofs[t.cause] = {**proofs[t.cause], "runs": runs, **({"note": note} if note else {})}
    return proofs, {"child_runs": len(ids), **work}


def _record(
    finding: str,
    arm: str,
    remedy: Remedy | None,
    bench: _Bench,
    trained: list[proof_arms.Trained],
    head: str | None = None,
) -> tuple[str, str, dict[str, str], dict[str, list[float]]]:
    epochs = bench.epochs * (remedy.epochs_factor if remedy is not None else 1)
    rows, trained = bench.rows.of(head), [t.of(head) for t in trained]
    params = {
        "remedy": remedy.text if remedy is not None else "none (control)",
        "epochs": str(epochs),
        "batch_size": str(bench.batch),
        "train_rows": str(n_rows(rows.x_train)),
        "eval_rows": str(len(rows.y_eval)),
        "eval_on": rows.eval_on,
        "seeds": ",".join(str(SEED + s) for s in range(len(trained))),
        **({"output": head} if head is not None else {}),
    }
    scores: list[Score] = [t.score for t in trained if t.score is not None]
    metrics: dict[str, list[float]] = {
        "balanced_accuracy": [
            s.balanced_accuracy for s in scores if s.balanced_accuracy is not None
        ],
        "loss": [s.loss for s in scores if s.loss is not None and math.isfinite(s.loss)],
        "seconds": [round(t.seconds, 3) for t in trained],
        "updates": [float(t.updates) for t in trained],
    }
    return finding, arm, params, metrics

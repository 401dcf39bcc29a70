"""Causes tested by experiment: a control and a remedied training run, and what they show.

A cause finding names a fix; the experiment trains fresh copies of the model on the same
(capped) training rows with the same seeds and budget, unchanged (the control) and with
the fix (the remedy), and scores both on the same held-out rows by balanced accuracy and
by the held-out loss. Pure: the adapter (``adapters/keras/proofs.py``) trains the arms
and hands the numbers here; the verdict and its wording are decided in one place.

Three outcomes, decided by power (an experiment too small to see an effect refutes nothing):

- ``confirmed``: the gain in balanced accuracy is at least ``MIN_GAIN`` and its interval
  (two standard errors: the held-out rows' sampling noise per class, and the spread
  between seeds when more than one pair of arms ran) lies above zero;
- ``refuted``: evidence of no effect. The control arm learned under the same budget (its
  held-out loss moved), the remedied arm had at least ``MIN_UPDATES`` updates, at least
  ``MIN_EVAL_PER_CLASS`` held-out rows a class scored it, more than one seed ran (the
  seed noise is measured), the gain's interval lies below ``MIN_GAIN`` (the smallest gain
  that matters) and the held-out loss did not improve either;
- ``inconclusive``: anything else (an arm failed or was stopped by the safety clock, too
  few rows or updates, an interval that straddles ``MIN_GAIN``, a loss that improved while
  balanced accuracy did not). ``why`` says which.

Without classes (a regression) the held-out loss alone decides (``judge_loss``): the gain
is its relative fall, confirmed from two seeds on at ``MIN_LOSS_GAIN``.

``"not_confirmed"`` (the name before the three outcomes) reads as ``refuted``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CONFIRMED = "confirmed"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE)
_OLD_NAMES = {"not_confirmed": REFUTED}
METRIC = "balanced_accuracy"
LOSS_METRIC = "held_out_loss"  # the metric of an experiment without classes (a regression)
MIN_GAIN = 0.02  # the smallest gain in balanced accuracy that matters, however many rows
MIN_UPDATES = 50  # optimizer steps the remedied arm needs before "no effect" means anything
MIN_EVAL_PER_CLASS = 10  # held-out rows a class (on average) to score a many-class model
MIN_LOSS_GAIN = 0.05  # without classes: the smallest relative held-out loss gain that matters
MIN_EVAL_ROWS = 30  # without classes: held-out rows to decide on
MIN_LOSS_MOVE = 0.01  # the control "learned": its held-out loss moved this share
LOSS_GAIN = 0.02  # the remedied held-out loss this share below the control's: an improvement


def verdict_of(value: Any) -> str | None:
    """A stored verdict in today's words (``not_confirmed`` → ``refuted``)."""
    if value is None:
        return None
    return _OLD_NAMES.get(str(value), str(value))


@dataclass(frozen=True)
class Score:
    """One trained copy (one seed) scored on the held-out rows."""

    balanced_accuracy: float | None  # None: not a classification (judged on the loss)
    loss: float | None = None  # held-out loss after training
    loss_before: float | None = None  # held-out loss of the fresh copy, before training
    recalls: tuple[float, ...] = ()  # per class present in the held-out rows


@dataclass(frozen=True)
class Arm:
    """One arm of the experiment (``control`` or ``remedy``): one score per seed."""

    name: str
    scores: tuple[Score, ...] = ()
    epochs: int = 0
    updates: int = 0  # optimizer steps per seed
    error: str = ""  # why it has no score (an exception)
    stopped: bool = False  # the safety clock stopped it

    @property
    def scored(self) -> bool:
        return bool(self.scores) and not self.error and not self.stopped

    @property
    def balanced_accuracy(self) -> float | None:
        return _mean([s.balanced_accuracy for s in self.scores])

    @property
    def loss(self) -> float | None:
        return _mean([s.loss for s in self.scores])

    @property
    def loss_before(self) -> float | None:
        return _mean([s.loss_before for s in self.scores])


@dataclass(frozen=True)
class Judgement:
    verdict: str
    gain: float | None = None
    half_width: float | None = None  # two standard errors of the gain
    why: str = ""
    more_seeds: bool = False  # another seed pair could still decide it (nothing else lacks)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def _row_variance(c: Score, r: Score, counts: Sequence[int]) -> float:
    """Sampling variance of the difference of two balanced accuracies on the held-out
    rows: per class ``p(1-p)/n`` (add-one smoothed, so a recall of 0 or 1 is not taken
    as exact), over ``k²``; one binomial on all rows when the recalls are unknown."""
    k = len(counts)
    if k and len(c.recalls) == k and len(r.recalls) == k:
        total = 0.0
        for n, pc, pr in zip(counts, c.recalls, r.recalls, strict=True):
            for p in (pc, pr):
                q = (p * n + 1) / (n + 2)
                total += q * (1 - q) / max(n, 1)
        return total / k**2
    n = max(sum(counts), 1)
    a, b = c.balanced_accuracy, r.balanced_accuracy
    return (max(a * (1 - a), 0.25 / n) + max(b * (1 - b), 0.25 / n)) / n


def interval(control: Arm, remedied: Arm, counts: Sequence[int]) -> tuple[float, float]:
    """``(gain, half_width)``: the mean gain over the seed pairs and two standard errors
    of it (the rows' noise, plus the seeds' spread when more than one pair ran)."""
    pairs = list(zip(control.scores, remedied.scores, strict=False))
    gains = [r.balanced_accuracy - c.balanced_accuracy for c, r in pairs]
    s = len(gains)
    gain = sum(gains) / s
    var = sum(_row_variance(c, r, counts) for c, r in pairs) / s**2
    if s > 1:
        var += sum((g - gain) ** 2 for g in gains) / (s - 1) / s
    return gain, 2 * math.sqrt(var)


def _loss_improved(control: Arm, remedied: Arm) -> bool:
    """The remedied arm's held-out loss below the control's by ``LOSS_GAIN`` in every
    seed pair."""
    pairs = list(zip(control.scores, remedied.scores, strict=False))
    if not pairs:
        return False
    for c, r in pairs:
        if c.loss is None or r.loss is None or not (math.isfinite(c.loss) and c.loss > 0):
            return False
        if not math.isfinite(r.loss) or r.loss > c.loss * (1 - LOSS_GAIN):
            return False
    return True


def _learned(arm: Arm) -> bool:
    before, after = arm.loss_before, arm.loss
    if before is None or after is None or before == 0:
        return False
    return abs(before - after) / abs(before) >= MIN_LOSS_MOVE


def judge(
    control: Arm,
    remedied: Arm,
    counts: Sequence[int],
    min_seeds: int = 1,
    reached: float | None = None,
) -> Judgement:
    """The verdict of one experiment (see the module docstring). ``min_seeds``: the seed
    pairs a confirmation needs (two for a cause without a symptom: a model that works is
    called improvable only on a gain that repeats). ``reached``: the balanced accuracy
    the user's own (longer) fit reached; a remedied copy that does not beat it by
    ``MIN_GAIN`` only trained faster in the experiment's short budget: no gain shown."""
    for arm in (control, remedied):
        if arm.stopped:
            return Judgement(INCONCLUSIVE, why="stopped: the safety clock ran out")
        if not arm.scored:
            return Judgement(INCONCLUSIVE, why=f"the {arm.name} arm has no score ({arm.error})")
    if control.balanced_accuracy is None or remedied.balanced_accuracy is None:
        return judge_loss(control, remedied, max(sum(counts), 0), min_seeds)
    gain, half = interval(control, remedied, counts)
    if gain >= MIN_GAIN and gain - half > 0:
        r = remedied.balanced_accuracy or 0.0
        if reached is not None and r < reached + MIN_GAIN:
            why = (
                f"the fit itself reached {reached:.2f} balanced accuracy; the remedied copy's "
                f"{r:.2f} in the experiment's shorter budget shows no gain over it"
            )
            return Judgement(INCONCLUSIVE, gain, half, why)
        if len(remedied.scores) >= min_seeds:
            return Judgement(CONFIRMED, gain, half)
        why = f"a gain without a symptom needs {min_seeds} seeds to count; the budget ran fewer"
        return Judgement(INCONCLUSIVE, gain, half, why, more_seeds=True)
    low = gain + half < MIN_GAIN
    lacking = _lacking(control, remedied, counts)
    why = lacking + _noisy(control, remedied, low)
    if why:
        return Judgement(INCONCLUSIVE, gain, half, "; ".join(why), more_seeds=not lacking)
    return Judgement(REFUTED, gain, half)


def judge_loss(control: Arm, remedied: Arm, n_eval: int, min_seeds: int = 1) -> Judgement:
    """The verdict on the held-out loss alone (a regression: no classes to count). The
    gain is the relative fall of the remedied loss below the control's, per seed pair;
    its interval needs the seeds' spread, so a confirmation needs two seeds and at least
    ``MIN_LOSS_GAIN``; a refutation also needs what ``_lacking`` asks for."""
    pairs = list(zip(control.scores, remedied.scores, strict=False))
    gains = [
        (c.loss - r.loss) / abs(c.loss)
        for c, r in pairs
        if c.loss is not None
        and r.loss is not None
        and c.loss != 0
        and math.isfinite(c.loss)
        and math.isfinite(r.loss)
    ]
    if len(gains) < len(pairs) or not gains:
        return Judgement(INCONCLUSIVE, why="an arm has no finite held-out loss")
    s = len(gains)
    gain = sum(gains) / s
    half = 2 * math.sqrt(sum((g - gain) ** 2 for g in gains) / (s - 1) / s) if s > 1 else math.inf
    if s >= max(2, min_seeds) and gain >= MIN_LOSS_GAIN and gain - half > 0:
        return Judgement(CONFIRMED, gain, half)
    lacking = _lacking(control, remedied, ())
    if n_eval < MIN_EVAL_ROWS:
        lacking.append(f"{n_eval} held-out rows are too few to decide (it needs {MIN_EVAL_ROWS})")
    why = list(lacking)
    if s < 2:
        why.append("one seed cannot tell a change of the loss from seed noise")
    elif gain + half >= MIN_LOSS_GAIN:
        why.append(
            f"the gain's interval reaches the smallest gain that matters ({MIN_LOSS_GAIN:.0%})"
        )
    if why:  # another seed can still confirm a large fall, or refute with nothing lacking
        more = not lacking or (s < 2 and gain >= MIN_LOSS_GAIN)
        return Judgement(INCONCLUSIVE, gain, half, "; ".join(why), more_seeds=more)
    return Judgement(REFUTED, gain, half)


def _lacking(control: Arm, remedied: Arm, counts: Sequence[int]) -> list[str]:
    """What the experiment lacks to refute anything, whatever the seeds: rows, updates, a
    control that learned (empty: nothing)."""
    why = []
    n, k = sum(counts), len(counts)
    if k and n < MIN_EVAL_PER_CLASS * k:
        why.append(
            f"{n} held-out rows for {k} classes are too few to decide (it needs "
            f"{MIN_EVAL_PER_CLASS} a class)"
        )
    if remedied.updates < MIN_UPDATES:
        why.append(
            f"the remedied arm had {remedied.updates} updates, fewer than the {MIN_UPDATES} "
            "an effect needs"
        )
    if not _learned(control):
        why.append(
            f"the control arm did not learn in {control.epochs} epochs (held-out loss "
            f"{_g(control.loss_before)} → {_g(control.loss)})"
        )
    return why


def _noisy(control: Arm, remedied: Arm, low: bool) -> list[str]:
    """What more seeds could still settle: seed noise, a wide interval, a loss that
    improved while balanced accuracy did not."""
    why = []
    if len(control.scores) < 2 or len(remedied.scores) < 2:
        why.append("one seed cannot tell no effect from seed noise")
    if not low:
        why.append(f"the gain's interval reaches the smallest gain that matters ({MIN_GAIN})")
    if _loss_improved(control, remedied):
        why.append(
            f"the held-out loss improved ({_g(control.loss)} → {_g(remedied.loss)}) while "
            "balanced accuracy did not: longer training would decide"
        )
    return why


@dataclass(frozen=True)
class Proof:
    """The experiment behind one cause finding (``evidence["proof"]``)."""

    finding: str
    remedy: str
    control: Arm
    remedied: Arm
    train_rows: int = 0
    class_counts: tuple[int, ...] = ()  # held-out rows per class present
    eval_on: str = "validation rows"
    runs: tuple[str, ...] = ()
    note: str = ""
    min_seeds: int = 1
    reached: float | None = None  # the user's fit's own balanced accuracy (no symptom)
    n_eval: int = 0  # held-out rows when there are no classes to count them by
    judgement: Judgement = field(init=False)

    def __post_init__(self) -> None:
        counts = self.class_counts or ((self.n_eval,) if self.n_eval else ())
        if not self.class_counts and self.n_eval:
            verdict = judge_loss(self.control, self.remedied, self.n_eval, self.min_seeds)
        else:
            verdict = judge(self.control, self.remedied, counts, self.min_seeds, self.reached)
        object.__setattr__(self, "judgement", verdict)

    @property
    def verdict(self) -> str:
        return self.judgement.verdict

    @property
    def gain(self) -> float | None:
        return self.judgement.gain

    @property
    def eval_rows(self) -> int:
        return sum(self.class_counts) or self.n_eval

    @property
    def on_loss(self) -> bool:
        """Judged on the held-out loss alone (no classes)."""
        return self.control.balanced_accuracy is None or self.remedied.balanced_accuracy is None

    @property
    def summary(self) -> str:
        """``with <remedy>, balanced accuracy 0.50 → 0.91 (+0.41 ± 0.06), held-out loss
        0.69 → 0.31, in 5 epochs (1 seed, ...)``."""
        c, r, j = self.control, self.remedied, self.judgement
        if j.gain is None:
            return f"with {self.remedy}, no comparison ({j.why})"
        seeds = len(r.scores)
        if self.on_loss:
            spread = (
                f" ± {j.half_width:.0%}"
                if j.half_width is not None and math.isfinite(j.half_width)
                else ""
            )
            text = (
                f"with {self.remedy}, held-out loss {_g(c.loss)} → {_g(r.loss)} "
                f"({-j.gain:+.0%}{spread})"
            )
        else:
            text = (
                f"with {self.remedy}, balanced accuracy {_g(c.balanced_accuracy, 2)} → "
                f"{_g(r.balanced_accuracy, 2)} ({j.gain:+.2f} ± {j.half_width:.2f})"
            )
            if c.loss is not None and r.loss is not None:
                text += f", held-out loss {_g(c.loss)} → {_g(r.loss)}"
        return (
            f"{text}, in {r.epochs} epochs ({seeds} seed{'s' if seeds > 1 else ''}, "
            f"{self.train_rows} training rows, {self.eval_rows} {self.eval_on})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The contract form (``evidence["proof"]``, docs/architecture.md "Public
        contract"): remedy, metric, control, remedied, verdict, runs; plus the losses, the
        gain, its interval, the sizes and, for an inconclusive one, why."""
        c, r, j = self.control, self.remedied, self.judgement
        loss = self.on_loss
        data: dict[str, Any] = {
            "remedy": self.remedy,
            "metric": LOSS_METRIC if loss else METRIC,
            "control": _round(c.loss if loss else c.balanced_accuracy),
            "remedied": _round(r.loss if loss else r.balanced_accuracy),
            "verdict": j.verdict,
            "runs": list(self.runs),
            "gain": _round(j.gain),
            "interval": _round(j.half_width),
            "control_loss": _round(c.loss),
            "remedied_loss": _round(r.loss),
            "epochs": {"control": c.epochs, "remedy": r.epochs},
            "updates": {"control": c.updates, "remedy": r.updates},
            "seeds": len(r.scores),
            "train_rows": self.train_rows,
            "eval_rows": self.eval_rows,
            "eval_on": self.eval_on,
            "summary": self.summary,
        }
        if j.why:
            data["why"] = j.why
        if self.note:
            data["note"] = self.note
        return data


def not_run(finding: str, why: str) -> dict[str, Any]:
    """The ``evidence["proof"]`` of an experiment that could not run (say why)."""
    return {
        "remedy": None,
        "metric": METRIC,
        "control": None,
        "remedied": None,
        "verdict": INCONCLUSIVE,
        "runs": [],
        "summary": f"not run: {why}",
        "why": why,
        "finding": finding,
    }


def _g(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}" if digits == 2 else f"{value:.{digits}g}"


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 4)

"""The catalog of checks: the README's tables generated from the registry.

The registry is the one list of checks: each ``@check`` carries its id, what it flags
(``flags``), the ``Context`` fields it needs and its default thresholds. The README's
tables are written from it, between marker comments, so a new or renamed check or a
changed default shows up in the documentation without a hand edit::

    <!-- checks:begin themes=leakage -->
    ...generated table...
    <!-- checks:end -->

``themes=`` (comma-separated, in table order) picks the checks of those themes; without
it the table lists every check. ``make docs`` (``python -m mlflow_sanity.checks.catalog
--write README.md``) regenerates the tables; ``--check`` exits 1 when they are stale
(``tests/test_catalog.py`` runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlflow_sanity.checks import REGISTRY, Check

BEGIN = re.compile(r"<!-- checks:begin(?: themes=(?P<themes>[a-z_,]+))? -->")
END = "<!-- checks:end -->"
REGENERATE = "make docs  (python -m mlflow_sanity.checks.catalog --write README.md)"
# Appended to every ``needs_symptom`` cause: the registry's one rule (``judge_causes``).
NEEDS_SYMPTOM = (
    "**warn only with a symptom** it explains in the same report (else info, with the "
    "advice and why)"
)

# What the leakage checks flag, in the README's words, until their ``@check`` carries
# ``flags=`` (``checks/leakage`` is being reworked on another branch). A test fails once
# a check listed here has its own ``flags``, so the entry is moved, not duplicated.
PENDING_FLAGS: dict[str, str] = {
    "train_test_overlap": (
        "evaluation rows also occur in training, as exact copies or within float tolerance "
        "(with/without label, example row pairs); repeats that chance explains (columns "
        "with few distinct values) are `info`; warn above `warn_share`, fail above "
        "`fail_share`"
    ),
    "eval_is_train": (
        "fail: the evaluation data equals the training data (same digest) or ≥ `min_share` "
        "of its rows are training rows, more than chance explains (p < `chance_alpha`)"
    ),
    "validation_reuse": (
        "the evaluation data is the validation data that EarlyStopping/ModelCheckpoint "
        "monitored (`val_*`): share of evaluation rows in it, more than chance explains "
        "(p < `chance_alpha`) or the same digest: warn above `warn_share`, fail above "
        "`fail_share`; `info` when no callback monitored a validation metric"
    ),
    "preprocessing_leakage": (
        "warn: a scaler was fitted before the split (train+test exactly standardised or "
        "exactly spanning [0,1]/[−1,1] while train alone is not; min-max only in columns "
        "whose values repeat at most `max_collision`), or a Keras `Normalization` layer's "
        'statistics match train+test rather than train. "train+test" is the union of '
        "every split the model saw: training, validation and each `model.evaluate` so far "
        "(each subset tried), so a scaler fitted before a train/validation/test split is "
        "caught at the test `evaluate`"
    ),
    "feature_target_leakage": (
        "one feature alone predicts the label (ROC-AUC; several classes: neighbour "
        "accuracy; categorical: majority class per value): warn ≥ `warn_score`, fail ≥ "
        "`fail_score`; identifier-like (> `max_id_share` distinct values) and constant "
        "columns are skipped; needs ≥ `min_rows` rows and ≥ `min_class_rows` per class; a "
        "fixed sample of `max_rows` rows above that. Above `screen_rows` rows numeric "
        "columns are screened on a class-balanced sample of that many rows (rare classes "
        "kept whole) and every column within `screen_margin` of the warning level is "
        "scored again on all rows, so a flagged feature is always graded on all rows "
        "(evidence: `screened_on_rows`, `rescored_on_all_rows`)"
    ),
    "duplicate_eval_rows": (
        "many evaluation rows are exact or near copies of other evaluation rows (an "
        'oversampled or "resampled to balance" test set), more than chance explains '
        "(p < `chance_alpha`): warn above `warn_share`, fail above `fail_share`; "
        "evidence: distinct rows per class"
    ),
}


def flags_of(chk: Check) -> str:
    """What ``chk`` flags, with the cause rule for ``needs_symptom`` checks."""
    text = chk.flags or PENDING_FLAGS.get(chk.id) or chk.summary.rstrip(".")
    return f"{text}; {NEEDS_SYMPTOM}" if chk.needs_symptom else text


def thresholds_of(chk: Check) -> str:
    """``name=default`` for each threshold, in declaration order; "—" for none."""
    return ", ".join(f"`{k}={v:g}`" for k, v in chk.defaults.items()) or "—"


def needs_of(chk: Check) -> str:
    """The ``Context`` fields without which the check is not run (reported as not checked)."""
    parts = [", ".join(f"`{name}`" for name in chk.requires)]
    if chk.one_of:
        parts.append("one of " + " / ".join(f"`{name}`" for name in chk.one_of))
    return " + ".join(p for p in parts if p) or "—"


def checks_of(themes: Sequence[str] | None = None) -> list[Check]:
    """The registered checks of ``themes`` (in that order), else every check."""
    if not themes:
        return list(REGISTRY.values())
    unknown = set(themes) - {chk.theme for chk in REGISTRY.values()}
    if unknown:
        raise ValueError(f"unknown check theme(s) {sorted(unknown)}")
    return [chk for theme in themes for chk in REGISTRY.values() if chk.theme == theme]


def markdown_table(themes: Sequence[str] | None = None) -> str:
    """The Markdown table of the checks of ``themes``; a theme column when it spans several."""
    checks = checks_of(themes)
    several = len({chk.theme for chk in checks}) > 1
    head = ["id", *(["theme"] if several else []), "flags", "needs", "default thresholds"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for chk in checks:
        cells = [
            f"`{chk.id}`",
            *([chk.theme] if several else []),
            flags_of(chk),
            needs_of(chk),
            thresholds_of(chk),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def render(text: str) -> str:
    """``text`` with every marked table regenerated (the markers stay)."""
    out: list[str] = []
    pos = 0
    for begin in BEGIN.finditer(text):
        if begin.start() < pos:
            continue  # a begin marker inside a block already replaced
        end = text.find(END, begin.end())
        if end < 0:
            raise ValueError(f"{begin.group(0)} has no {END}")
        themes = begin.group("themes")
        table = markdown_table(themes.split(",") if themes else None)
        out += [text[pos : begin.end()], "\n", table, "\n"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def stale_tables(path: Path) -> bool:
    """Whether ``path``'s marked tables differ from what the registry generates."""
    text = path.read_text(encoding="utf-8")
    return render(text) != text


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlflow_sanity.checks.catalog",
        description="The README's tables of checks, generated from the check registry.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--markdown", action="store_true", help="print a table")
    action.add_argument("--write", type=Path, metavar="FILE", help="regenerate FILE's tables")
    action.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE is stale")
    parser.add_argument("--themes", default="", help="comma-separated themes (--markdown)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.markdown:
        print(markdown_table([t for t in args.themes.split(",") if t] or None))
        return 0
    if args.write:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(render(text), encoding="utf-8")
        return 0
    if stale_tables(args.check):
        print(f"{args.check}: the checks tables are stale; run {REGENERATE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``mlflow run . -e gallery``: run every pitfall project in both variants and print the table.

Each project in ``projects/`` has a ``buggy`` and a ``fixed`` variant. The gallery is the
tool's own precision/recall check: every buggy run must be flagged with its expected
finding ids, every fixed run must pass with no warn/fail finding at all. A buggy run of a
project in ``CORRECTED`` must also carry the corrected number (``sanity.corrected``).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click

from mlflow_sanity.core import tag_names

EXPECTED: dict[str, set[str]] = {
    "imbalanced_validation": {"single_class_eval", "label_shift"},
    "overfit_small_data": {"overfitting"},
    "mse_multiclass": {"loss_output_mismatch", "hidden_softmax"},
    "keras_vs_sklearn_report": {"logits_thresholded", "metric_disagreement"},
    "leaky_scaling": {"preprocessing_leakage", "train_test_overlap"},
    "seed_luck": {"seed_variance"},
    "evaluate_on_train": {"eval_is_train"},
    "tfdata_imbalanced": {"prediction_collapse", "minority_class_missed", "accuracy_at_baseline"},
    "stuck_accuracy": {"unscaled_inputs", "dead_units"},
    "test_rows_in_training": {"train_test_overlap"},
    "multilabel_no_label": {"accuracy_at_baseline", "minority_class_missed", "prediction_collapse"},
    "tagger_all_o": {"accuracy_at_baseline", "minority_class_missed", "prediction_collapse"},
    "mean_regressor": {"regression_at_baseline"},
}
# Projects whose buggy run must show the headline's corrected figure (``sanity.corrected``).
CORRECTED = frozenset({"test_rows_in_training", "tfdata_imbalanced"})
VARIANTS = ("buggy", "fixed")


@dataclass(frozen=True)
class Outcome:
    scenario: str
    variant: str
    run_id: str
    status: str
    findings: tuple[str, ...]
    seconds: float
    corrected: str = ""  # the sanity.corrected tag, empty when absent

    @property
    def missing(self) -> set[str]:
        return EXPECTED[self.scenario] - set(self.findings) if self.variant == "buggy" else set()

    @property
    def ok(self) -> bool:
        if self.variant == "fixed":
            return self.status == "pass" and not self.findings
        if self.scenario in CORRECTED and not self.corrected:
            return False
        return self.status in ("warn", "fail") and not self.missing


def run_one(projects: Path, scenario: str, variant: str, experiment_id: str) -> Outcome:
    import mlflow
    from mlflow.tracking import MlflowClient

    start = time.monotonic()
    submitted = mlflow.projects.run(
        uri=str(projects / scenario),
        entry_point="main",
        parameters={"variant": variant},
        env_manager="local",
        experiment_id=experiment_id,
        synchronous=False,
    )
    succeeded = submitted.wait()
    tags = MlflowClient().get_run(submitted.run_id).data.tags
    status = tags.get(tag_names.STATUS, "error" if not succeeded else "unchecked")
    findings = tuple(f for f in tags.get(tag_names.FINDINGS, "").split(",") if f)
    seconds = time.monotonic() - start
    corrected = tags.get(tag_names.CORRECTED, "")
    return Outcome(scenario, variant, submitted.run_id, status, findings, seconds, corrected)


def run_gallery(
    projects: Path, experiment: str, scenarios: list[str] | None = None, jobs: int = 1
) -> list[Outcome]:
    import mlflow

    # Created once here: parallel project launches would race to create it.
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    todo = [(s, v) for s in (scenarios or list(EXPECTED)) for v in VARIANTS]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, projects, s, v, experiment_id) for s, v in todo]
        return [f.result() for f in futures]


def table(outcomes: list[Outcome]) -> str:
    rows = [("scenario", "variant", "status", "findings", "ok", "seconds")]
    for o in outcomes:
        verdict = "yes" if o.ok else f"NO (missing {sorted(o.missing)})" if o.missing else "NO"
        if not o.ok and o.variant == "buggy" and o.scenario in CORRECTED and not o.corrected:
            verdict = "NO (no sanity.corrected)"
        rows.append(
            (
                o.scenario,
                o.variant,
                o.status,
                ",".join(o.findings) or "-",
                verdict,
                f"{o.seconds:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


@click.command()
@click.option(
    "--projects-dir", default="projects", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--experiment", default="mlflow-sanity-gallery", show_default=True)
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(sorted(EXPECTED)))
@click.option("--jobs", default=1, show_default=True, help="Projects run at the same time.")
def main(projects_dir: str, experiment: str, scenarios: tuple[str, ...], jobs: int) -> None:
    outcomes = run_gallery(Path(projects_dir).resolve(), experiment, list(scenarios), jobs)
    click.echo(table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    click.echo(f"\n{len(outcomes) - len(bad)}/{len(outcomes)} as expected")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

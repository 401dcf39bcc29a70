"""``mlflow-sanity variance``'s domain: runs of one configuration judged as seeds, after the fact.

``tracking/groups.py`` finds the groups (equal ``sanity.config_digest`` and
``sanity.data_digest`` tags); here a group's values become a ``seed_variance`` report, and
that report goes to each run of the group. The CLI prints.
"""

from __future__ import annotations

from typing import Any

from mlflow_sanity.checks import Context
from mlflow_sanity.core.findings import Report
from mlflow_sanity.core.seed_stats import SeedResults, higher_is_better, spread


def judge_group(group: Any, values: dict[str, float], metric: str) -> tuple[Report, str]:
    """The seed_variance verdict on a group's values (the majority baseline as reference),
    and one line saying where the best run stands."""
    from mlflow_sanity.pipeline import build_report

    baselines = group.values("sanity/majority_baseline_accuracy")
    per_run = {}
    for i, (run_id, value) in enumerate(values.items()):
        row = {metric: value}
        if run_id in baselines:
            row["majority_baseline_accuracy"] = baselines[run_id]
        per_run[i] = row
    results = SeedResults(metric=metric, values=per_run, higher_is_better=higher_is_better(metric))
    report = build_report(
        Context(seeds=results),
        source="variance",
        inputs={"group": group.key, "runs": list(values), "metric": metric},
    )
    sp = spread(values.values())
    best = max(values.values()) if results.higher_is_better else min(values.values())
    inside = abs(best - sp.mean) <= 2 * sp.std
    report.metrics.update(
        {k.replace("seed/", "group/", 1): v for k, v in sp.as_metrics(metric).items()}
    )
    line = (
        f"{len(values)} runs of this configuration: val {metric.replace('_', ' ')} "
        f"{sp.mean:.2f} ± {sp.std:.2f}; the best run ({best:.2f}) is "
        + ("inside the noise" if inside else "more than 2 standard deviations from the mean")
    )
    return report, line


def log_group_run(run_id: str, report: Report) -> None:
    """Write the group's verdict to one of its runs: the group grew since its last
    judgement, so the new ``seed_variance`` replaces the old. MLflow's errors propagate."""
    from mlflow_sanity.tracking.publish import Target, publish

    publish(
        report, None, Target(run_id), what="variance", rejudged=["seed_variance"], offline="raise"
    )

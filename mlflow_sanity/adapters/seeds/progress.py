"""What a sweep shows in the terminal: a progress bar with a running mean, and the summary table."""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Mapping, Sequence

from tqdm.auto import tqdm

from mlflow_sanity.adapters.seeds.worker import SeedOutcome
from mlflow_sanity.core.seed_stats import BASELINE_METRIC, choose_metric, shared_metrics


class SweepProgress:
    """A tqdm bar, plus one line per finished seed with the running mean ± std."""

    def __init__(self, total: int, metric: str | None, enabled: bool) -> None:
        self.metric, self.enabled = metric, enabled
        self.values: list[float] = []
        self.failed = 0
        self.bar = tqdm(
            total=total, desc="seeds", unit="seed", disable=not enabled, file=sys.stderr
        )

    def update(self, o: SeedOutcome) -> None:
        if o.ok and not o.repeat:
            self.metric = self.metric or choose_metric(o.metrics)
            value = o.metrics.get(self.metric) if self.metric else None
            if value is not None and math.isfinite(value):
                self.values.append(value)
        elif not o.ok and not o.repeat:
            self.failed += 1
        running = self.running()
        self.bar.set_postfix_str(running, refresh=False)
        self.bar.update(1)
        if self.enabled:
            what = "repeat of seed" if o.repeat else "seed"
            result = (
                f"{self.metric}={o.metrics.get(self.metric, math.nan):.4f}"
                if o.ok and self.metric
                else f"FAILED ({one_line(o.error or '', 80)})"
            )
            self.bar.write(f"{what} {o.seed}: {result} in {o.train_s:.1f}s | {running}")

    def running(self) -> str:
        if not self.values:
            text = "no result yet"
        elif len(self.values) == 1:
            text = f"{self.metric} {self.values[0]:.4f}"
        else:
            mean, std = statistics.fmean(self.values), statistics.stdev(self.values)
            text = f"{self.metric} {mean:.4f} ± {std:.4f} (n={len(self.values)})"
        return text + (f", {self.failed} failed" if self.failed else "")

    def close(self) -> None:
        self.bar.close()


def seed_table(
    outcomes: Sequence[SeedOutcome],
    metric: str | None,
    aggregates: Mapping[str, float],
    max_metrics: int = 4,
) -> list[str]:
    """One row per seed (metrics and time, or the error), then mean ± std and the interval."""
    names = display_metrics(metric, [o.metrics for o in outcomes if o.ok])[:max_metrics]
    width = max([10, *(len(n) for n in names)])
    head = f"{'seed':>6}  {'status':<6}  " + "  ".join(f"{n:>{width}}" for n in names)
    lines = [head + f"  {'time':>7}", "-" * (len(head) + 9)]
    for o in outcomes:
        if o.ok:
            cells = "  ".join(f"{o.metrics.get(n, math.nan):>{width}.4f}" for n in names)
            lines.append(f"{o.seed:>6}  {'ok':<6}  {cells}  {o.train_s:>6.1f}s")
        else:
            lines.append(f"{o.seed:>6}  {'FAILED':<6}  {one_line(o.error or '', 70)}")
    for label, pick in (("mean±std", _mean_std), ("95% CI", _ci)):
        cells = "  ".join(f"{pick(aggregates, n):>{width}}" for n in names)
        lines.append(f"{label:>14}  {cells}")
    return lines


def display_metrics(metric: str | None, per_seed: Sequence[Mapping[str, float]]) -> list[str]:
    """The headline metric first, then the other shared ones (not the constant baseline)."""
    names = shared_metrics(per_seed)
    rest = [n for n in names if n != metric and not n.endswith(BASELINE_METRIC)]
    return ([metric] if metric in names else []) + rest


def _mean_std(agg: Mapping[str, float], name: str) -> str:
    mean, std = agg.get(f"seed/{name}_mean"), agg.get(f"seed/{name}_std")
    if mean is None:
        return "-"
    return f"{mean:.4f}±{std:.4f}" if std is not None else f"{mean:.4f}"


def _ci(agg: Mapping[str, float], name: str) -> str:
    low, high = agg.get(f"seed/{name}_ci_low"), agg.get(f"seed/{name}_ci_high")
    return "-" if low is None or high is None else f"[{low:.3f},{high:.3f}]"


def one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

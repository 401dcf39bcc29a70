"""PNG plots for the places where a picture beats a table. Each returns PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: CI, servers, worker processes
import matplotlib.pyplot as plt
import numpy as np

from mlflow_sanity.core.metrics import Classification

_MAX_TICK = 24  # label text beyond this is cut so long class names do not swallow the plot


def _short(label: object) -> str:
    text = str(label)
    return text if len(text) <= _MAX_TICK else text[: _MAX_TICK - 1] + "…"


def _margins(fig: plt.Figure, labels: list[str], rotated: bool) -> None:
    """Fixed margins sized from the tick labels: a layout engine would double the draw time."""
    longest = max((len(label) for label in labels), default=1)
    fig.subplots_adjust(
        left=min(0.45, 0.12 + 0.012 * longest),
        bottom=min(0.45, 0.15 + (0.012 * longest if rotated else 0)),
        top=0.85,
        right=0.97,
    )


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)  # bbox "tight" would draw twice
    plt.close(fig)
    return buf.getvalue()


def confusion_matrix_png(c: Classification, title: str = "Confusion matrix") -> bytes:
    cm = c.confusion
    k = cm.shape[0]
    size = min(2.5 + 0.45 * k, 12)
    fig, ax = plt.subplots(figsize=(size, size))
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    names = [_short(label) for label in c.labels]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\n(colour = share of the true class)")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    color="white" if share[i, j] > 0.5 else "black",
                    fontsize=8,
                )
    _margins(fig, names, rotated=k > 4)
    return _png(fig)


def class_balance_png(c: Classification) -> bytes:
    k = len(c.labels)
    x = np.arange(k)
    fig, ax = plt.subplots(figsize=(min(3 + 0.5 * k, 12), 3.2))
    ax.bar(x - 0.2, c.true_counts / c.n, 0.4, label="true labels")
    ax.bar(x + 0.2, c.pred_counts / c.n, 0.4, label="predictions")
    names = [_short(label) for label in c.labels]
    ax.set_xticks(x, names, rotation=45 if k > 4 else 0)
    ax.set_ylabel("share of rows")
    ax.set_ylim(0, 1)
    ax.axhline(1 / k, color="grey", lw=0.8, ls="--", label="balanced")
    ax.set_title("Class balance: labels vs predictions")
    ax.legend(fontsize=8)
    _margins(fig, names, rotated=k > 4)
    return _png(fig)


def learning_curves_png(
    history: Mapping[str, Sequence[float]], marks: Mapping[str, int] | None = None
) -> bytes:
    """One panel per metric family (loss, accuracy, ...), train and validation together."""
    families = sorted({name.removeprefix("val_") for name in history})
    fig, axes = plt.subplots(
        1, len(families), figsize=(4.2 * len(families), 3.2), squeeze=False, layout="constrained"
    )  # several panels and a suptitle: worth a layout engine off the evaluator's hot path
    for ax, name in zip(axes[0], families, strict=True):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], style, label=key)
        for label, epoch in (marks or {}).items():
            ax.axvline(epoch, color="grey", lw=0.8, ls=":")
            ax.annotate(label, (epoch, ax.get_ylim()[1]), fontsize=7, ha="right", va="top")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.suptitle("Learning curves")
    return _png(fig)


def seed_spread_png(
    values: Mapping[str, Sequence[float]],
    reference: Mapping[str, float] | None = None,
    *,
    reference_label: str = "baseline",
    intervals: Mapping[str, tuple[float, float]] | None = None,
) -> bytes:
    """Box + strip plot per metric: one dot per seed, so luck is visible at a glance.

    ``reference`` draws the score a metric claims to beat (dashed red); ``intervals``
    draws the 95% interval of the mean beside the box, so a reference inside it stands out.
    """
    names = list(values)
    fig, axes = plt.subplots(
        1, len(names), figsize=(2.6 * len(names) + 1, 3.4), squeeze=False, layout="constrained"
    )
    rng = np.random.default_rng(0)
    for ax, name in zip(axes[0], names, strict=True):
        data = np.asarray(values[name], dtype=float)
        ax.boxplot(data, widths=0.5)
        ax.scatter(1 + rng.uniform(-0.08, 0.08, data.size), data, zorder=3, s=18)
        if intervals and name in intervals:
            low, high = intervals[name]
            ax.errorbar(
                1.4,
                data.mean(),
                yerr=[[data.mean() - low], [high - data.mean()]],
                fmt="D",
                color="black",
                ms=4,
                capsize=3,
                label="mean, 95% CI",
            )
        if reference and name in reference:
            ax.axhline(reference[name], color="red", lw=0.9, ls="--", label=_short(reference_label))
        if (intervals and name in intervals) or (reference and name in reference):
            ax.legend(fontsize=7)
        ax.set_xlim(0.5, 1.7)
        ax.set_xticks([1], [_short(name)])
        ax.set_title(f"n={data.size}", fontsize=9)
    fig.suptitle("Spread across seeds")
    return _png(fig)

"""PNG plots for the places where a picture beats a table. Each returns PNG bytes.

The two plots of every evaluation (confusion matrix, class balance) are drawn with Pillow:
a matplotlib figure costs 50-100 ms to lay out and save, more than all the metrics
together, while these pictures are a few rectangles and labels (~2 ms). The multi-panel
plots off the evaluator's hot path (learning curves, seed spread) use matplotlib.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mlflow_sanity.core.metrics import Classification

_MAX_TICK = 24  # label text beyond this is cut so long class names do not swallow the plot
_DPI = 90
_PT = _DPI / 72  # pixels per point
_INK = (0, 0, 0)
_GREY = (128, 128, 128)
_BAR_COLOURS = ((31, 119, 180), (255, 127, 14))  # matplotlib's C0 and C1
# matplotlib's "Blues" colormap (ColorBrewer), evenly spaced stops, linearly interpolated
_BLUES = np.array(
    [
        [247, 251, 255],
        [222, 235, 247],
        [198, 219, 239],
        [158, 202, 225],
        [107, 174, 214],
        [66, 146, 198],
        [33, 113, 181],
        [8, 81, 156],
        [8, 48, 107],
    ],
    dtype=float,
)


def _short(label: object) -> str:
    text = str(label)
    return text if len(text) <= _MAX_TICK else text[: _MAX_TICK - 1] + "…"


def _margin_fractions(labels: list[str], rotated: bool) -> tuple[float, float, float, float]:
    """(left, bottom, top, right) of the axes as figure fractions, sized from tick labels:
    fixed margins, as a layout engine would cost more than the drawing."""
    longest = max((len(label) for label in labels), default=1)
    left = min(0.45, 0.12 + 0.012 * longest)
    bottom = min(0.45, 0.15 + (0.012 * longest if rotated else 0))
    return left, bottom, 0.85, 0.97


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)  # bbox "tight" would draw twice
    _pyplot().close(fig)
    return buf.getvalue()


def _pyplot():
    """matplotlib, imported on first use: the evaluator's plots do not need it."""
    import matplotlib

    matplotlib.use("Agg")  # headless: CI, servers, worker processes
    import matplotlib.pyplot as plt

    return plt


@cache
def _font(points: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib, so the plots look alike) at ``points``."""
    size = max(6, round(points * _PT))
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _blues(share: float) -> tuple[int, int, int]:
    x = min(max(float(share), 0.0), 1.0) * (len(_BLUES) - 1)
    i = min(int(x), len(_BLUES) - 2)
    rgb = _BLUES[i] + (x - i) * (_BLUES[i + 1] - _BLUES[i])
    return tuple(round(float(v)) for v in rgb)


def _text_width(font, text: str) -> float:
    return font.getlength(text)


def _rotated_text(
    img: Image.Image, xy: tuple[float, float], text: str, font, angle: float, anchor: str
) -> None:
    """Paste ``text`` rotated by ``angle`` degrees; ``anchor`` "r" puts its right end (after
    rotation: its upper right) at ``xy``, "c" its centre."""
    left, top, right, bottom = font.getbbox(text)
    tile = Image.new("L", (int(right - min(left, 0)) + 2, int(bottom - min(top, 0)) + 2), 0)
    ImageDraw.Draw(tile).text((1 - min(left, 0), 1 - min(top, 0)), text, font=font, fill=255)
    tile = tile.rotate(angle, expand=True, resample=Image.BICUBIC)
    w, h = tile.size
    x, y = xy
    pos = (round(x - w), round(y)) if anchor == "r" else (round(x - w / 2), round(y - h / 2))
    img.paste(Image.new("RGB", tile.size, _INK), pos, tile)


def _encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)  # 1/3 faster than 6; files ~13% larger
    return buf.getvalue()


def _x_labels(
    img: Image.Image, draw: ImageDraw.ImageDraw, centres: Sequence[float], y: float, names
) -> float:
    """Tick labels under the axes (rotated 45 degrees beyond 4 classes); returns their bottom."""
    font = _font(10)
    rotated = len(names) > 4
    bottom = y
    for x, name in zip(centres, names, strict=True):
        if rotated:
            _rotated_text(img, (x + 4, y + 2), name, font, 45, "r")
            bottom = max(bottom, y + 2 + (_text_width(font, name) + font.size) * 0.71)
        else:
            draw.text((x, y + 2), name, font=font, fill=_INK, anchor="ma")
            bottom = max(bottom, y + 2 + font.size * 1.2)
    return bottom


MANY_CLASSES = 30  # above this, plots aggregate: readable and fast for 1,000 classes
TOP_CONFUSED = 20


def most_confused(cm: np.ndarray, top: int = TOP_CONFUSED) -> np.ndarray:
    """Indices of the ``top`` classes with the most errors (false negatives plus false
    positives; ties: the larger class first), in label order."""
    errors = cm.sum(axis=1) + cm.sum(axis=0) - 2 * np.diag(cm)
    size = cm.sum(axis=1)
    order = np.lexsort((-size, -errors))  # last key first: errors, then size
    return np.sort(order[:top])


def _confusion_view(c: Classification) -> tuple[np.ndarray, list[str], str]:
    """The matrix to draw, its tick names and a subtitle. Above ``MANY_CLASSES`` classes:
    the ``TOP_CONFUSED`` most-confused classes plus one "other" row and column that sum
    up every remaining class (so every row still adds up to that class's count)."""
    cm = np.asarray(c.confusion)
    k = cm.shape[0]
    names = [_short(label) for label in c.labels]
    if k <= MANY_CLASSES:
        return cm, names, "(colour = share of the true class)"
    keep = most_confused(cm)
    rest = np.setdiff1d(np.arange(k), keep)
    groups = [[int(i)] for i in keep] + [list(rest)]
    rows = np.stack([cm[g].sum(axis=0) for g in groups])
    view = np.stack([rows[:, g].sum(axis=1) for g in groups], axis=1)
    shown = [names[i] for i in keep] + [f"other ({len(rest)})"]
    subtitle = f"({len(keep)} most-confused of {k} classes; colour = share of the true class)"
    return view, shown, subtitle


def confusion_matrix_png(c: Classification, title: str = "Confusion matrix") -> bytes:
    cm, names, subtitle = _confusion_view(c)
    k = cm.shape[0]
    side = round(min(2.5 + 0.45 * k, 12) * _DPI)
    img = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(img)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    left, bottom, top, right = _margin_fractions(names, rotated=k > 4)
    box_w, box_h = (right - left) * side, (top - bottom) * side
    cell = min(box_w, box_h) / max(k, 1)  # square cells, centred in the axes box
    x0 = left * side + (box_w - cell * k) / 2
    y0 = (1 - top) * side + (box_h - cell * k) / 2
    cell_font = _font(8)
    for i in range(k):
        for j in range(k):
            xa, ya = x0 + j * cell, y0 + i * cell
            draw.rectangle(
                [round(xa), round(ya), round(xa + cell), round(ya + cell)], fill=_blues(share[i, j])
            )
            if k <= TOP_CONFUSED + 1:
                colour = "white" if share[i, j] > 0.5 else "black"
                text = str(cm[i, j])
                draw.text(
                    (xa + cell / 2, ya + cell / 2), text, font=cell_font, fill=colour, anchor="mm"
                )
    x1, y1 = x0 + cell * k, y0 + cell * k
    draw.rectangle([round(x0), round(y0), round(x1), round(y1)], outline=_INK, width=1)
    tick = 3.5 * _PT
    font = _font(10)
    centres = [x0 + (j + 0.5) * cell for j in range(k)]
    for j, x in enumerate(centres):
        draw.line([(x, y1), (x, y1 + tick)], fill=_INK)
        yc = y0 + (j + 0.5) * cell
        draw.line([(x0 - tick, yc), (x0, yc)], fill=_INK)
        draw.text((x0 - tick - 3, yc), names[j], font=font, fill=_INK, anchor="rm")
    under = _x_labels(img, draw, centres, y1 + tick, names)
    draw.text(((x0 + x1) / 2, under + 2), "predicted", font=font, fill=_INK, anchor="ma")
    widest = max((_text_width(font, name) for name in names), default=0)
    _rotated_text(
        img, (x0 - tick - widest - 6 - font.size / 2, (y0 + y1) / 2), "true", font, 90, "c"
    )
    title_font = _font(12)
    lines = [title, subtitle]
    for n, line in enumerate(reversed(lines)):
        y = y0 - 6 - n * title_font.size * 1.2
        draw.text(((x0 + x1) / 2, y), line, font=title_font, fill=_INK, anchor="md")
    return _encode(img)


def class_balance_png(c: Classification) -> bytes:
    if len(c.labels) > MANY_CLASSES:
        return _class_count_histogram_png(c)
    k = len(c.labels)
    width, height = round(min(3 + 0.5 * k, 12) * _DPI), round(3.2 * _DPI)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    names = [_short(label) for label in c.labels]
    left, bottom, top, right = _margin_fractions(names, rotated=k > 4)
    ax0, ax1 = left * width, right * width
    ay0, ay1 = (1 - top) * height, (1 - bottom) * height
    lo, hi = -0.4, k - 1 + 0.4
    pad = 0.05 * (hi - lo)  # matplotlib's default 5% x margins
    lo, hi = lo - pad, hi + pad

    def px(x: float) -> float:
        return ax0 + (x - lo) / (hi - lo) * (ax1 - ax0)

    def py(share: float) -> float:
        return ay1 - share * (ay1 - ay0)

    bars = []
    for offset, shares, colour in (
        (-0.2, c.true_counts / c.n, _BAR_COLOURS[0]),
        (0.2, c.pred_counts / c.n, _BAR_COLOURS[1]),
    ):
        for x, share in enumerate(shares):
            rect = (px(x + offset - 0.2), py(float(share)), px(x + offset + 0.2), ay1)
            bars.append(rect)
            if share > 0:
                draw.rectangle([round(v) for v in rect], fill=colour)
    balanced = py(1 / k)
    for xa in np.arange(ax0, ax1, 6 * _PT):  # dashed reference line
        draw.line([(xa, balanced), (min(xa + 3.7 * _PT, ax1), balanced)], fill=_GREY)
    draw.rectangle([round(ax0), round(ay0), round(ax1), round(ay1)], outline=_INK, width=1)
    font, tick = _font(10), 3.5 * _PT
    for value in np.linspace(0, 1, 6):
        y = py(value)
        draw.line([(ax0 - tick, y), (ax0, y)], fill=_INK)
        draw.text((ax0 - tick - 3, y), f"{value:.1f}", font=font, fill=_INK, anchor="rm")
    centres = [px(x) for x in range(k)]
    for x in centres:
        draw.line([(x, ay1), (x, ay1 + tick)], fill=_INK)
    _x_labels(img, draw, centres, ay1 + tick, names)
    label_x = ax0 - tick - _text_width(font, "0.0") - 8 - font.size / 2
    _rotated_text(img, (label_x, (ay0 + ay1) / 2), "share of rows", font, 90, "c")
    draw.text(
        ((ax0 + ax1) / 2, ay0 - 6),
        "Class balance: labels vs predictions",
        font=_font(12),
        fill=_INK,
        anchor="md",
    )
    _legend(draw, (ax0, ay0, ax1, ay1), bars)
    return _encode(img)


def _class_count_histogram_png(c: Classification, bins: int = 20) -> bytes:
    """Many classes: how many classes have how many rows, for the labels and for the
    predictions; the dashed line is the count every class would have if balanced, and
    the rarest and most common classes are named under the title."""
    true_counts = np.asarray(c.true_counts, dtype=float)
    pred_counts = np.asarray(c.pred_counts, dtype=float)
    k = true_counts.size
    high = max(float(true_counts.max()), float(pred_counts.max()), 1.0)
    edges = np.linspace(0.0, high, bins + 1) if high > bins else np.arange(0.0, high + 2) - 0.5
    h_true, _ = np.histogram(true_counts, edges)
    h_pred, _ = np.histogram(pred_counts, edges)
    width, height = round(8 * _DPI), round(3.6 * _DPI)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    ax0, ax1 = 0.12 * width, 0.97 * width
    ay0, ay1 = 0.22 * height, 0.80 * height
    lo, hi = float(edges[0]), float(edges[-1])
    top = max(int(h_true.max()), int(h_pred.max()), 1)

    def px(x: float) -> float:
        return ax0 + (x - lo) / (hi - lo) * (ax1 - ax0)

    def py(count: float) -> float:
        return ay1 - count / (top * 1.1) * (ay1 - ay0)

    bars = []
    for n, (counts, colour) in enumerate(((h_true, _BAR_COLOURS[0]), (h_pred, _BAR_COLOURS[1]))):
        for i, count in enumerate(counts):
            a, b = float(edges[i]), float(edges[i + 1])
            x_left = a + (b - a) * (0.08 + 0.42 * n)  # labels left, predictions right
            rect = (px(x_left), py(float(count)), px(x_left + (b - a) * 0.42), ay1)
            bars.append(rect)
            if count > 0:
                draw.rectangle([round(v) for v in rect], fill=colour)
    balanced = px(c.n / k)
    for ya in np.arange(ay0, ay1, 6 * _PT):
        draw.line([(balanced, ya), (balanced, min(ya + 3.7 * _PT, ay1))], fill=_GREY)
    draw.rectangle([round(ax0), round(ay0), round(ax1), round(ay1)], outline=_INK, width=1)
    if high > bins:  # bins of several counts: tick every few edges
        ticks = edges[:: max(1, bins // 5)]
    else:  # one bin per count: tick the counts themselves
        ticks = np.arange(0, high + 1, max(1, int(np.ceil((high + 1) / 10))))
    y_ticks = np.unique(np.linspace(0, top, min(top, 5) + 1).round())
    _count_axes(img, draw, (ax0, ay0, ax1, ay1), y_ticks, ticks, px, py)
    _histogram_titles(draw, c, true_counts, (ax0 + ax1) / 2)
    _legend(draw, (ax0, ay0, ax1, ay1), bars)
    return _encode(img)


def _count_axes(
    img: Image.Image,
    draw: ImageDraw.ImageDraw,
    axes: tuple[float, float, float, float],
    y_ticks: np.ndarray,
    x_ticks: np.ndarray,
    px: Callable[[float], float],
    py: Callable[[float], float],
) -> None:
    """The class-count histogram's ticks and axis names (classes up, rows per class along)."""
    ax0, ay0, ax1, ay1 = axes
    font, tick = _font(10), 3.5 * _PT
    for value in y_ticks:
        y = py(float(value))
        draw.line([(ax0 - tick, y), (ax0, y)], fill=_INK)
        draw.text((ax0 - tick - 3, y), f"{int(value)}", font=font, fill=_INK, anchor="rm")
    for value in x_ticks:
        x = px(float(value))
        draw.line([(x, ay1), (x, ay1 + tick)], fill=_INK)
        draw.text((x, ay1 + tick + 2), f"{value:.0f}", font=font, fill=_INK, anchor="ma")
    draw.text(
        ((ax0 + ax1) / 2, ay1 + tick + 4 + font.size * 1.3),
        "rows per class",
        font=font,
        fill=_INK,
        anchor="ma",
    )
    _rotated_text(img, (ax0 - 40 - font.size / 2, (ay0 + ay1) / 2), "classes", font, 90, "c")


def _histogram_titles(
    draw: ImageDraw.ImageDraw, c: Classification, true_counts: np.ndarray, centre: float
) -> None:
    """The title, and under it the rarest and most common classes by name."""
    order = np.argsort(true_counts, kind="stable")
    names = [_short(label) for label in c.labels]
    rare = ", ".join(f"{names[i]} ({int(true_counts[i])})" for i in order[:3])
    common = ", ".join(f"{names[i]} ({int(true_counts[i])})" for i in order[::-1][:3])
    title_font, small = _font(12), _font(8)
    draw.text(
        (centre, 6),
        f"Class balance of {true_counts.size} classes: labels vs predictions",
        font=title_font,
        fill=_INK,
        anchor="ma",
    )
    draw.text(
        (centre, 8 + title_font.size * 1.3),
        f"rarest: {rare}; most common: {common}",
        font=small,
        fill=_INK,
        anchor="ma",
    )


def _legend(draw: ImageDraw.ImageDraw, axes: tuple[float, ...], bars: list[tuple]) -> None:
    """Upper right, or upper left when the bars reach into that corner."""
    font = _font(8)
    entries = [
        ("true labels", _BAR_COLOURS[0]),
        ("predictions", _BAR_COLOURS[1]),
        ("balanced", None),
    ]
    line_h = font.size * 1.45
    w = 2 * _PT * 4 + 20 + max(_text_width(font, text) for text, _ in entries)
    h = line_h * len(entries) + 6
    ax0, ay0, ax1, _ = axes
    for x in (ax1 - 5 - w, ax0 + 5):
        box = (x, ay0 + 5, x + w, ay0 + 5 + h)
        if not any(b[0] < box[2] and b[2] > box[0] and b[1] < box[3] for b in bars):
            break
    else:
        box = (ax1 - 5 - w, ay0 + 5, ax1 - 5, ay0 + 5 + h)
    draw.rounded_rectangle([round(v) for v in box], radius=3, fill="white", outline=(204, 204, 204))
    for n, (text, colour) in enumerate(entries):
        y = box[1] + 3 + line_h * (n + 0.5)
        x = box[0] + 6
        if colour is None:
            draw.line([(x, y), (x + 6, y)], fill=_GREY)
            draw.line([(x + 10, y), (x + 16, y)], fill=_GREY)
        else:
            draw.rectangle([round(x), round(y - 4), round(x + 16), round(y + 3)], fill=colour)
        draw.text((x + 22, y), text, font=font, fill=_INK, anchor="lm")


def learning_curves_png(
    history: Mapping[str, Sequence[float]], marks: Mapping[str, int] | None = None
) -> bytes:
    """One panel per metric family (loss, accuracy, ...), train and validation together."""
    plt = _pyplot()
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
    plt = _pyplot()
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

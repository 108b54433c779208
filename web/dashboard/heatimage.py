"""The heat map image, readable on its own: the click (or movement) density over the page's
frame (median page width and height), the fold at the median viewport height, the most
clicked elements' texts at their mean positions, and a legend in clicks per cell.

The image keeps the geometry of ``charts.density``: x is the fraction of the viewport width,
y is page pixels times ``scale``, so the overlay and tests still map a pixel to the page.
Labels come from visitors' pages (element texts), so they are drawn as paths with mathtext
off (``charts.RC``).
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from web.dashboard import charts
from web.dashboard.results import CLASS_WIDTH, ROW_PX

TOP_LABELS = 8
FRAME = "#e2e8f0"
FOLD = "#63b3ed"


@dataclass
class Layout:
    """What the image draws besides the density, for one page and viewport class."""

    page_h: float | None = None  # median page height of the page views, page px
    page_w: float | None = None  # median page width (wider than the viewport when it scrolls sideways)
    viewport_h: float | None = None  # median viewport height: the fold
    labels: list[dict] = field(default_factory=list)  # text, x (fraction of width), y (page px), clicks


def layout(results, token: str, page: str, days: list[str], viewport_class: str, texts: dict[str, str]) -> Layout:
    """Sum the days' ``page_size`` and ``positions`` rows (analysis.jobs.heatmap) of one page and
    viewport class; ``texts`` names each selector (the click map's most common text)."""
    sizes: list[tuple[int, float, float]] = []
    clicks: Counter = Counter()
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for _day, data in results.data("heatmap", token, days):
        for r in data.get("page_size", []):
            if r["page"] == page and r["viewport_class"] == viewport_class:
                sizes.append((r["views"], r.get("page_h"), r.get("viewport_h"), r.get("page_w")))
        for r in data.get("positions", []):
            if r["page"] == page and r["viewport_class"] == viewport_class:
                clicks[r["selector"]] += r["clicks"]
                sums[r["selector"]][0] += r["x"] * r["clicks"]
                sums[r["selector"]][1] += r["y"] * r["clicks"]
    out = Layout(
        page_h=_weighted_median(sizes, 1), viewport_h=_weighted_median(sizes, 2), page_w=_weighted_median(sizes, 3)
    )
    for selector, n in clicks.most_common():
        label = texts.get(selector) or ""
        if label:
            out.labels.append({"text": label, "x": sums[selector][0] / n, "y": sums[selector][1] / n, "clicks": n})
        if len(out.labels) == TOP_LABELS:
            break
    return out


def label_text(label: dict) -> str:
    """A label as drawn: the element's text, shortened, with its clicks when they are known."""
    text = charts._short(label["text"], 28)
    return text if label.get("clicks") is None else f"{text} ({label['clicks']})"


def _weighted_median(rows: list[tuple], i: int) -> float | None:
    """The median of the days' medians, each weighted by its page views."""
    found = sorted((r[i], r[0]) for r in rows if r[i] is not None)
    total = sum(w for _, w in found)
    acc = 0
    for value, w in found:
        acc += w
        if acc * 2 >= total:
            return float(value)
    return None


def heatmap_png(
    grid: dict[tuple[int, int], int], viewport_class: str, lay: Layout, unit: str = "clicks"
) -> tuple[str, dict]:
    """The annotated density image as a PNG data URI, and what the page needs to read it
    (``width``, ``height``, ``scale``, ``peak``, ``page_width``, ``page_w``, ``page_h``, ``fold``,
    ``frame``: the frame's label, the page's median width and height)."""
    import matplotlib
    from matplotlib.figure import Figure

    min_rows = int((lay.page_h or 0) // ROW_PX) + 2
    image, scale, peak = charts.density(grid, viewport_class, min_rows=min_rows)
    width = CLASS_WIDTH.get(viewport_class, 1280)
    h, w = image.shape
    page_px = h / scale
    frame = f"page: {lay.page_w:.0f} × {lay.page_h:.0f} px" if lay.page_w else f"page end: {lay.page_h or 0:.0f} px"
    with matplotlib.rc_context(charts.RC):
        fig = Figure(figsize=(w / 100, h / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.imshow(
            image,
            cmap=charts.CMAP,
            vmin=0,
            vmax=max(peak, 1),
            extent=(0, width, page_px, 0),
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_xlim(0, width)
        ax.set_ylim(page_px, 0)
        if lay.page_h:
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (1, 1), width - 2, lay.page_h - 2, fill=False, edgecolor=FRAME, linewidth=1.2, linestyle="-"
                )
            )
            ax.text(width - 6, lay.page_h - 8, frame, color=FRAME, ha="right", va="bottom")
        if lay.viewport_h:
            ax.axhline(lay.viewport_h, color=FOLD, linewidth=1.2, linestyle=(0, (6, 4)))
            ax.text(6, lay.viewport_h - 6, f"fold: median viewport {lay.viewport_h:.0f} px", color=FOLD, va="bottom")
        if lay.page_h and lay.page_h < page_px:  # below the page's end: greyed
            ax.axhspan(lay.page_h, page_px, color="#718096", alpha=0.25, linewidth=0)
        placed: list[tuple[float, float]] = []
        for label in lay.labels:
            x, y = label["x"] * width, label["y"]
            gap = 16 / scale  # a label's height in page px: move it down past labels it would cover
            while any(abs(y - py) < gap and abs(x - px) < width * 0.35 for px, py in placed):
                y += gap / 2
            placed.append((x, y))
            ax.plot(
                [label["x"] * width],
                [label["y"]],
                marker="o",
                markersize=4,
                color="white",
                markeredgecolor="black",
                markeredgewidth=0.6,
            )
            ax.annotate(
                label_text(label),
                (label["x"] * width, label["y"]),
                xytext=(x + 8, y + 4),
                textcoords="data",
                color="white",
                fontsize=8,
                va="top",
                ha="left" if x < width * 0.7 else "right",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "black", "alpha": 0.65, "linewidth": 0},
            )
        _legend(fig, peak, unit)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
    info = {
        "width": w,
        "height": h,
        "scale": scale,
        "peak": peak,
        "page_width": width,
        "page_w": lay.page_w,
        "page_h": lay.page_h,
        "fold": lay.viewport_h,
        "frame": frame if lay.page_h else None,
    }
    return charts.data_uri(buf.getvalue(), "image/png"), info


def _legend(fig, peak: int, unit: str) -> None:
    """A small colour bar in the top right corner: 0 to the busiest cell's count."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    w, h = fig.get_size_inches() * 100
    cax = fig.add_axes((1 - 170 / w, 1 - 34 / h, 150 / w, 10 / h))
    bar = fig.colorbar(
        ScalarMappable(norm=Normalize(0, max(peak, 1)), cmap=charts.CMAP), cax=cax, orientation="horizontal"
    )
    bar.set_ticks([0, max(peak, 1)])
    bar.ax.tick_params(colors="white", labelsize=7, length=2)
    bar.outline.set_edgecolor("white")
    cax.set_title(f"{unit} per cell", color="white", fontsize=7, pad=2)


def difference_png(
    base: dict[tuple[int, int], int], viewport_class: str, lay: Layout, blocks: list[dict]
) -> tuple[str, dict]:
    """Control's density with the tested blocks outlined: solid where the variant's share of
    clicks differs beyond chance (red: more, blue: fewer), faint where it does not."""
    import matplotlib

    uri, info = heatmap_png(base, viewport_class, lay)
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    data = imread(io.BytesIO(_decode(uri)))
    width, scale = info["page_width"], info["scale"]
    h, w = data.shape[:2]
    with matplotlib.rc_context(charts.RC):
        fig = Figure(figsize=(w / 100, h / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.imshow(data, extent=(0, width, h / scale, 0), aspect="auto")
        ax.set_xlim(0, width)
        ax.set_ylim(h / scale, 0)
        cell_w = width / charts.GRID_COLUMNS
        for b in blocks:
            x, y = b["col"] * cell_w, b["row"] * ROW_PX
            colour = ("#f56565" if b["difference"] > 0 else "#4299e1") if b["significant"] else "#a0aec0"
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (x, y),
                    b["cols"] * cell_w,
                    b["rows"] * ROW_PX,
                    fill=b["significant"],
                    facecolor=colour + "55",
                    edgecolor=colour,
                    linewidth=2 if b["significant"] else 0.5,
                )
            )
            if b["significant"]:
                ax.text(x + 3, y + 3, f"{b['difference'] * 100:+.1f} pt", color="white", fontsize=7, va="top")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
    return charts.data_uri(buf.getvalue(), "image/png"), info


def _decode(uri: str) -> bytes:
    import base64

    return base64.b64decode(uri.split(",", 1)[1])


__all__ = ["Layout", "difference_png", "heatmap_png", "label_text", "layout"]

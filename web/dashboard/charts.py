"""Charts, drawn on the server with matplotlib and sent inline as data: URIs.

No JavaScript chart library and no CDN: the dashboard works offline and its CSP allows
no inline script. Labels may be attacker-controlled (funnel steps, variants), so
matplotlib's mathtext is off (``text.parse_math``) and text is drawn as paths.

The heat-map density image is a plain picture of the page, with no axes: image x is the
fraction of the viewport width (``GRID_COLUMNS`` columns), image y is page pixels times
``scale``. That lets a test, or the overlay, map any pixel back to the page. Its colour
scale is a separate legend image (``colorbar_svg``).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np

from web.dashboard.results import CLASS_WIDTH, GRID_COLUMNS, ROW_PX

CMAP = "inferno"  # luminance rises with the value: the brightest pixel is the hottest
BLUR_PX = 18  # gaussian sigma, in page pixels
MAX_IMAGE_H = 1600  # tall pages are drawn at a smaller scale
MIN_ROWS = 40  # draw at least 800 page pixels
ACCENT = "#2b6cb0"
RC = {
    "text.parse_math": False,
    "svg.fonttype": "path",
    "svg.hashsalt": "logdig",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _svg(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return data_uri(buf.getvalue(), "image/svg+xml")


def daily_chart(
    per_day: Sequence[dict], series: Sequence[tuple[str, str]], title: str, previous: Sequence[dict] | None = None
) -> str:
    """Bars per day for each (key, label) in ``series``; days without results are gaps.
    ``previous``: the previous period's days, drawn day by day over the range's (its first
    day over the range's first) as dashed, lighter lines in each series' colour."""
    import matplotlib
    from matplotlib.patheffects import withStroke

    with matplotlib.rc_context(RC):
        fig = _figure(7.2, 2.4 if previous is None else 2.7)
        ax = fig.add_subplot()
        days = [d["day"][5:] for d in per_day]
        x = np.arange(len(days))
        width = 0.8 / max(1, len(series))
        handles = []  # bar, then its previous line: in columns, a series above its previous period
        for i, (key, label) in enumerate(series):
            values = [d.get(key) or 0 for d in per_day]
            bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
            handles.append(bars)
            if previous is not None:
                before = [d.get(key) for d in previous[: len(days)]]
                (line,) = ax.plot(
                    x[: len(before)] + (i - (len(series) - 1) / 2) * width,
                    [np.nan if v is None else v for v in before],
                    linestyle="--",
                    marker=".",
                    zorder=3,  # over the bars, lighter than its own, outlined in white so it shows over it
                    color=_lighter(bars.patches[0].get_facecolor()) if bars.patches else None,
                    path_effects=[withStroke(linewidth=3.5, foreground="white")],
                    label=f"{label}, previous period",
                )
                handles.append(line)
        step = max(1, len(days) // 14)
        ax.set_xticks(x[::step], days[::step])
        ax.set_title(title, loc="left")
        ax.legend(handles=handles, loc="upper left", frameon=False, ncols=len(series))
        ax.margins(y=0.2 if previous is None else 0.45)
        # counts are never negative: an empty range would otherwise draw an axis from -0.06
        drawn = [*per_day, *(previous or [])]
        ax.set_ylim(bottom=0, top=None if any(d.get(k) for d in drawn for k, _ in series) else 1)
        return _svg(fig)


def _lighter(rgba: Sequence[float], share: float = 0.5) -> tuple[float, ...]:
    """The colour mixed with ``share`` of white, opaque."""
    return tuple(c + (1 - c) * share for c in rgba[:3])


def hbar_chart(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str, percent: bool = False) -> str:
    """Horizontal bars, first label on top (funnel steps, scroll depth)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(7.2, 0.5 + 0.32 * max(1, len(labels)))
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        scaled = [v * 100 if percent else v for v in values]
        bars = ax.barh(y, scaled, color=ACCENT)
        ax.bar_label(bars, [f"{v:.0f}%" if percent else f"{v:g}" for v in scaled], padding=3)
        ax.set_yticks(y, [_short(label) for label in labels])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        if percent:
            ax.set_xlim(0, 110)
        else:
            ax.margins(x=0.15)
        return _svg(fig)


def _short(label: str, n: int = 40) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def density(
    grid: dict[tuple[int, int], int], viewport_class: str, min_rows: int = MIN_ROWS
) -> tuple[np.ndarray, float, int]:
    """(blurred clicks per image pixel scaled so its peak equals the busiest cell, scale, peak).
    At least ``min_rows`` rows (``MIN_ROWS`` or more) are drawn: the page's height, when known."""
    from scipy.ndimage import gaussian_filter

    width = CLASS_WIDTH.get(viewport_class, 1280)
    rows = max([MIN_ROWS, min_rows] + [r + 3 for (_c, r) in grid])
    page_h = rows * ROW_PX
    scale = min(0.5, MAX_IMAGE_H / page_h)
    img_w, img_h = round(width * scale), round(page_h * scale)
    cells = np.zeros((rows, GRID_COLUMNS))
    for (c, r), n in grid.items():
        if 0 <= c < GRID_COLUMNS and r >= 0:
            cells[r, c] += n
    col_of = np.minimum((np.arange(img_w) + 0.5) / img_w * GRID_COLUMNS, GRID_COLUMNS - 1).astype(int)
    row_of = np.minimum((np.arange(img_h) + 0.5) / scale / ROW_PX, rows - 1).astype(int)
    image = gaussian_filter(cells[row_of[:, None], col_of[None, :]], sigma=BLUR_PX * scale)
    peak = int(cells.max())
    if image.max() > 0:
        image *= peak / image.max()
    return image, scale, peak


def heatmap_png(grid: dict[tuple[int, int], int], viewport_class: str) -> tuple[str, dict]:
    """The density image as a PNG data URI, and what the page needs to read it."""
    import matplotlib
    from matplotlib.image import imsave

    image, scale, peak = density(grid, viewport_class)
    buf = io.BytesIO()
    imsave(buf, image, cmap=matplotlib.colormaps[CMAP], vmin=0, vmax=max(peak, 1), format="png")
    info = {
        "width": image.shape[1],
        "height": image.shape[0],
        "scale": scale,
        "peak": peak,
        "page_width": CLASS_WIDTH.get(viewport_class, 1280),
    }
    return data_uri(buf.getvalue(), "image/png"), info


def colorbar_svg(peak: int) -> str:
    """The colour scale of ``heatmap_png``: 0 to the busiest cell's clicks."""
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    with matplotlib.rc_context(RC):
        fig = _figure(1.3, 3.2)
        ax = fig.add_subplot()
        mappable = ScalarMappable(norm=Normalize(0, max(peak, 1)), cmap=CMAP)
        fig.colorbar(mappable, cax=ax, label="clicks per cell (smoothed)")
        return _svg(fig)

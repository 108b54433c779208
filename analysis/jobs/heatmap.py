"""Heat maps: click density on a grid, a click map by element, scroll depth, rage clicks.

Grid: a click's x is taken as a fraction of the viewport width (so phones and wide
screens line up), its y stays in page pixels (pages are read top down). Cells are
``1/GRID_COLUMNS`` of the width by ``ROW_PX`` pixels: column
``floor(x / viewport_w * GRID_COLUMNS)`` (clicks right of the viewport, on pages that
scroll sideways, fall in the last column) and row ``floor(y / ROW_PX)``. Clicks
without x, y or a viewport width are left off the grid but kept in the click map.
Heat maps are per normalised page and viewport class (see ``analysis.schema``).
"""

from __future__ import annotations

from typing import Any

from analysis.engines import api
from analysis.jobs.pages import most_common_text

GRID_COLUMNS = 50  # 2% of the viewport width per column
ROW_PX = 20  # page pixels per row
SCROLL_BUCKET = 10  # scroll depth is counted in buckets of 10 percentage points
KEY = ("token", "day", "page")


def clicks(events: Any) -> Any:
    F = api(events).F
    return events.filter(F.col("type") == "click")


def grid(events: Any) -> Any:
    """Clicks per cell: token, day, page, viewport_class, col, row, clicks."""
    F = api(events).F
    placed = clicks(events).filter(F.col("x").isNotNull() & F.col("y").isNotNull() & (F.col("viewport_w") > 0))
    col = F.least(F.floor(F.col("x") / F.col("viewport_w") * GRID_COLUMNS), F.lit(GRID_COLUMNS - 1))
    row = F.floor(F.col("y") / ROW_PX)
    return (
        placed.select(*KEY, "viewport_class", col.cast("long").alias("col"), row.cast("long").alias("row"))
        .groupBy(*KEY, "viewport_class", "col", "row")
        .agg(F.count(F.lit(1)).alias("clicks"))
    )


def click_map(events: Any) -> Any:
    """Per element: token, day, page, selector, clicks, users, rage_clicks, text (the element's
    most common text)."""
    F = api(events).F
    rage = F.when(F.col("rage") == True, F.lit(1)).otherwise(F.lit(0))  # noqa: E712 - a column
    selected = clicks(events).filter(F.col("selector").isNotNull() & (F.col("selector") != ""))
    return (
        selected.groupBy(*KEY, "selector")
        .agg(
            F.count(F.lit(1)).alias("clicks"),
            F.countDistinct("user_key").alias("users"),
            F.sum(rage).cast("long").alias("rage_clicks"),
        )
        .join(most_common_text(selected, [*KEY, "selector"]), [*KEY, "selector"], "left")
    )


def page_clicks(events: Any) -> Any:
    """Per page and viewport class: clicks, users, rage_clicks, clicks placed on the grid."""
    F = api(events).F
    rage = F.when(F.col("rage") == True, F.lit(1)).otherwise(F.lit(0))  # noqa: E712
    placed = F.when(F.col("x").isNotNull() & F.col("y").isNotNull() & (F.col("viewport_w") > 0), F.lit(1)).otherwise(
        F.lit(0)
    )
    return (
        clicks(events)
        .groupBy(*KEY, "viewport_class")
        .agg(
            F.count(F.lit(1)).alias("clicks"),
            F.countDistinct("user_key").alias("users"),
            F.sum(rage).cast("long").alias("rage_clicks"),
            F.sum(placed).cast("long").alias("placed"),
        )
    )


def scroll_depth(events: Any) -> Any:
    """Page leaves per scroll-depth bucket: token, day, page, depth (0, 10, ..., 100), leaves."""
    F = api(events).F
    leaves = events.filter((F.col("type") == "pageleave") & F.col("scroll_depth").isNotNull())
    bucket = (F.floor(F.col("scroll_depth") / SCROLL_BUCKET) * SCROLL_BUCKET).cast("long")
    return leaves.select(*KEY, bucket.alias("depth")).groupBy(*KEY, "depth").agg(F.count(F.lit(1)).alias("leaves"))


def run(events: Any) -> dict[str, Any]:
    return {
        "pages": page_clicks(events),
        "grid": grid(events),
        "click_map": click_map(events),
        "scroll_depth": scroll_depth(events),
    }

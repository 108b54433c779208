"""Heat maps: click and movement density on a grid, a click map by element, dead clicks,
scroll depth, attention per tenth of the page, rage clicks.

Grid: a click's x is taken as a fraction of the viewport width (so phones and wide
screens line up), its y stays in page pixels (pages are read top down). Cells are
``1/GRID_COLUMNS`` of the width by ``ROW_PX`` pixels: column
``floor(x / viewport_w * GRID_COLUMNS)`` (clicks right of the viewport, on pages that
scroll sideways, fall in the last column) and row ``floor(y / ROW_PX)``. Clicks
without x, y or a viewport width are left off the grid but kept in the click map.
Heat maps are per normalised page and viewport class (see ``analysis.schema``).

Movement: each ``[x, y, ms]`` sample of a ``move`` event's ``points`` is placed on a grid
twice as coarse each way, ``MOVE_COLUMNS`` by ``MOVE_ROW_PX`` (x over the event's viewport
width); samples with a coordinate missing or negative are left off. A pointer sweeps over
many cells where a click hits one: on the click grid 6.2M samples fill 1.6M cells (150 MB
of result text for 215,000 events), on this one 0.5M, and a movement map is drawn blurred
anyway. A cell (c, r) of the click grid lies in movement cell (c // 2, r // 2).

Attention: a ``pageleave``'s ``attention`` holds the milliseconds each tenth of the page was
in view; leaves whose list is not 10 numbers are left out, and a view counts at most
``ATTENTION_CAP_MS`` (30 minutes) a tenth in the mean.
"""

from __future__ import annotations

from typing import Any

from analysis.engines import api
from analysis.jobs.pages import most_common_text

GRID_COLUMNS = 50  # 2% of the viewport width per column
ROW_PX = 20  # page pixels per row
MOVE_COLUMNS = GRID_COLUMNS // 2  # the movement grid: 4% of the viewport width per column
MOVE_ROW_PX = ROW_PX * 2  # and 40 page pixels per row
MOVE_GRID = {"columns": MOVE_COLUMNS, "row_px": MOVE_ROW_PX}  # in the documents beside ``moves``
# A view counts at most this long for a tenth in the mean: the schema takes up to 10^11 ms,
# and one leave of that made a page's mean time in view 37 days for everyone.
ATTENTION_CAP_MS = 30 * 60 * 1000
SCROLL_BUCKET = 10  # scroll depth is counted in buckets of 10 percentage points
KEY = ("token", "day", "page")


def clicks(events: Any) -> Any:
    F = api(events).F
    return events.filter(F.col("type") == "click")


def _cell(F: Any, x: Any, y: Any, columns: int = GRID_COLUMNS, row_px: int = ROW_PX) -> tuple[Any, Any]:
    col = F.least(F.floor(x / F.col("viewport_w") * columns), F.lit(columns - 1))
    return col.cast("long").alias("col"), F.floor(y / row_px).cast("long").alias("row")


def grid(events: Any, by: tuple[str, ...] = ()) -> Any:
    """Clicks per cell: token, day, page, viewport_class, col, row, clicks (and the ``by``
    columns of ``events``, e.g. an experiment's ``variant``)."""
    F = api(events).F
    placed = clicks(events).filter(F.col("x").isNotNull() & F.col("y").isNotNull() & (F.col("viewport_w") > 0))
    return (
        placed.select(*KEY, "viewport_class", *by, *_cell(F, F.col("x"), F.col("y")))
        .groupBy(*KEY, "viewport_class", *by, "col", "row")
        .agg(F.count(F.lit(1)).alias("clicks"))
    )


USER_HASH_CHARS = 12  # hex digits of md5(user_key): 48 bits, no collision in practice


def cell_users(events: Any) -> Any:
    """The distinct users who clicked each cell: token, day, page, viewport_class, col, row,
    users (sorted, distinct: the first ``USER_HASH_CHARS`` hex digits of md5(user_key)).
    With them the overlay counts the distinct users of any region of cells exactly (a sum
    of per-cell counts would count a user who clicked two cells twice)."""
    F = api(events).F
    placed = clicks(events).filter(
        F.col("x").isNotNull() & F.col("y").isNotNull() & (F.col("viewport_w") > 0) & F.col("user_key").isNotNull()
    )
    user = F.substring(F.md5(F.col("user_key")), 1, USER_HASH_CHARS).alias("user")
    return (
        placed.select(*KEY, "viewport_class", *_cell(F, F.col("x"), F.col("y")), user)
        .groupBy(*KEY, "viewport_class", "col", "row")
        .agg(F.sort_array(F.collect_set("user")).alias("users"))
    )


def move_grid(events: Any, by: tuple[str, ...] = ()) -> Any:
    """Movement samples per cell of the movement grid (``MOVE_COLUMNS`` by ``MOVE_ROW_PX``):
    token, day, page, viewport_class, col, row, moves (and ``by``)."""
    F = api(events).F
    moving = events.filter((F.col("type") == "move") & (F.col("viewport_w") > 0) & F.col("points").isNotNull())
    samples = moving.select(*KEY, "viewport_class", *by, "viewport_w", F.explode("points").alias("p"))
    x, y = F.element_at(F.col("p"), 1), F.element_at(F.col("p"), 2)
    return (
        samples.filter(x.isNotNull() & y.isNotNull() & (x >= 0) & (y >= 0))
        .select(*KEY, "viewport_class", *by, *_cell(F, x, y, MOVE_COLUMNS, MOVE_ROW_PX))
        .groupBy(*KEY, "viewport_class", *by, "col", "row")
        .agg(F.count(F.lit(1)).alias("moves"))
    )


def attention(events: Any) -> Any:
    """Per page, viewport class and tenth of the page (0 top .. 9 bottom): views (leaves with
    attention), mean_ms in view, reached (the share of those views with the tenth in view)."""
    F = api(events).F
    leaves = events.filter((F.col("type") == "pageleave") & (F.size(F.col("attention")) == 10))
    tenths = leaves.select(*KEY, "viewport_class", F.posexplode("attention").alias("tenth", "ms"))
    seen = F.when(F.col("ms") > 0, F.lit(1.0)).otherwise(F.lit(0.0))
    capped = F.least(F.coalesce(F.col("ms"), F.lit(0.0)), F.lit(float(ATTENTION_CAP_MS)))
    return (
        tenths.groupBy(*KEY, "viewport_class", "tenth")
        .agg(
            F.count(F.lit(1)).alias("views"),
            F.avg(capped).alias("mean_ms"),
            F.avg(seen).alias("reached"),
        )
        .select(*KEY, "viewport_class", F.col("tenth").cast("long").alias("tenth"), "views", "mean_ms", "reached")
    )


def click_map(events: Any) -> Any:
    """Per element: token, day, page, selector, clicks, users, rage_clicks, dead_clicks, text
    (the element's most common text)."""
    F = api(events).F
    rage = F.when(F.col("rage") == True, F.lit(1)).otherwise(F.lit(0))  # noqa: E712 - a column
    selected = clicks(events).filter(F.col("selector").isNotNull() & (F.col("selector") != ""))
    return (
        selected.groupBy(*KEY, "selector")
        .agg(
            F.count(F.lit(1)).alias("clicks"),
            F.countDistinct("user_key").alias("users"),
            F.sum(rage).cast("long").alias("rage_clicks"),
            F.sum(_flag(F, "dead")).cast("long").alias("dead_clicks"),
        )
        .join(most_common_text(selected, [*KEY, "selector"]), [*KEY, "selector"], "left")
    )


def _flag(F: Any, name: str) -> Any:
    return F.when(F.col(name) == True, F.lit(1)).otherwise(F.lit(0))  # noqa: E712 - a column


def dead_clicks(events: Any) -> Any:
    """Elements with dead clicks: token, day, page, selector, text, clicks, dead_clicks and
    share (dead_clicks / clicks of that element)."""
    F = api(events).F
    found = click_map(events).filter(F.col("dead_clicks") > 0)
    share = F.col("dead_clicks") / F.col("clicks")
    return found.select(*KEY, "selector", "text", "clicks", "dead_clicks", share.alias("share"))


def page_clicks(events: Any) -> Any:
    """Per page and viewport class: clicks, users, rage_clicks, clicks placed on the grid,
    dead_clicks and plain_clicks (``interactive: false``)."""
    F = api(events).F
    rage = F.when(F.col("rage") == True, F.lit(1)).otherwise(F.lit(0))  # noqa: E712
    plain = F.when(F.col("interactive") == False, F.lit(1)).otherwise(F.lit(0))  # noqa: E712 - a column
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
            F.sum(_flag(F, "dead")).cast("long").alias("dead_clicks"),
            F.sum(plain).cast("long").alias("plain_clicks"),
        )
    )


def page_size(events: Any) -> Any:
    """Per page and viewport class, from page views: views and the median viewport_h, page_w
    and page_h (the dashboard draws the page frame and the fold from them)."""
    F = api(events).F
    viewed = events.filter(F.col("type") == "pageview")
    return viewed.groupBy(*KEY, "viewport_class").agg(
        F.count(F.lit(1)).alias("views"),
        F.percentile(F.col("viewport_h"), 0.5).alias("viewport_h"),
        F.percentile(F.col("page_w"), 0.5).alias("page_w"),
        F.percentile(F.col("page_h"), 0.5).alias("page_h"),
    )


def element_positions(events: Any) -> Any:
    """Per page, viewport class and element (``selector``): clicks and their mean position,
    x as a fraction of the viewport width and y in page pixels (labels on the heat map)."""
    F = api(events).F
    placed = clicks(events).filter(
        F.col("selector").isNotNull()
        & (F.col("selector") != "")
        & F.col("x").isNotNull()
        & F.col("y").isNotNull()
        & (F.col("viewport_w") > 0)
    )
    return placed.groupBy(*KEY, "viewport_class", "selector").agg(
        F.count(F.lit(1)).alias("clicks"),
        F.avg(F.least(F.col("x") / F.col("viewport_w"), F.lit(1.0))).alias("x"),
        F.avg(F.col("y")).alias("y"),
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
        "cell_users": cell_users(events),
        "click_map": click_map(events),
        "scroll_depth": scroll_depth(events),
        "moves": move_grid(events),
        "dead_clicks": dead_clicks(events),
        "attention": attention(events),
        "page_size": page_size(events),
        "positions": element_positions(events),
    }

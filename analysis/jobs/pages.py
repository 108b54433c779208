"""Page statistics: views, unique users, entries, exits, time on page, top links and referrers.

* A *visit* is a user's run of page views with no gap longer than ``VISIT_GAP_MS``
  (30 minutes, the usual web-analytics session timeout) within the day. Its first page
  view is an *entry*, its last an *exit*.
* Time on page is ``spent_milli_sec`` of ``pageleave`` events: the median and the 90th
  percentile (linear interpolation, as Spark's ``percentile`` and DuckDB's
  ``quantile_cont``).
* Top links: the ``TOP_N`` links clicked most on the page (ties by link), and the
  ``SITE_TOP_N`` most clicked over the whole site (``links``: users counted once however many
  pages they clicked it on). Each with ``text``, the element's most common text.
* Top referrers: the ``TOP_N`` most frequent normalised referrers of page views that
  came from another host (internal navigation is not a referrer).
* Totals per site and day: events, page views and unique users (``user_key``, any event
  type). Unique users do not add up from the per-page counts, so they are computed here.
* Agents: events and unique users per ``browser``, ``os`` and ``device`` (the collector's
  parse of the user agent); events without the field count as ``unknown``. Device rows are
  also split by ``device_type`` (``analysis.devices``: desktop, mobile, tablet, ...), which
  the other kinds leave null.
"""

from __future__ import annotations

from typing import Any

from analysis.engines import api
from analysis.schema import normalise_url

VISIT_GAP_MS = 30 * 60 * 1000
TOP_N = 10
SITE_TOP_N = 50
KEY = ("token", "day", "page")
HOST_RE = r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)"
AGENT_KINDS = ("browser", "os", "device")
UNKNOWN_AGENT = "unknown"


def views(events: Any) -> Any:
    """token, day, page, views, users, entries, exits."""
    a = api(events)
    F, W = a.F, a.Window
    pv = events.filter(F.col("type") == "pageview")
    w = W.partitionBy("token", "day", "user_key").orderBy("ts_ms", "event_id")
    prev_ts = F.lag("ts_ms").over(w)
    next_ts = F.lead("ts_ms").over(w)
    entry = F.when(prev_ts.isNull() | (F.col("ts_ms") - prev_ts > VISIT_GAP_MS), 1).otherwise(0)
    exit_ = F.when(next_ts.isNull() | (next_ts - F.col("ts_ms") > VISIT_GAP_MS), 1).otherwise(0)
    marked = pv.select(*KEY, "user_key", entry.alias("entry"), exit_.alias("exit"))
    return marked.groupBy(*KEY).agg(
        F.count(F.lit(1)).alias("views"),
        F.countDistinct("user_key").alias("users"),
        F.sum("entry").cast("long").alias("entries"),
        F.sum("exit").cast("long").alias("exits"),
    )


def time_on_page(events: Any) -> Any:
    """token, day, page, leaves, median_ms, p90_ms."""
    F = api(events).F
    leaves = events.filter(F.col("type") == "pageleave")
    return leaves.groupBy(*KEY).agg(
        F.count(F.lit(1)).alias("leaves"),
        F.percentile(F.col("spent_milli_sec"), 0.5).alias("median_ms"),
        F.percentile(F.col("spent_milli_sec"), 0.9).alias("p90_ms"),
    )


def _top(df: Any, item: str, key: tuple[str, ...] = KEY, n: int = TOP_N) -> Any:
    a = api(df)
    F, W = a.F, a.Window
    counted = df.groupBy(*key, item).agg(F.count(F.lit(1)).alias("count"), F.countDistinct("user_key").alias("users"))
    rank = F.row_number().over(W.partitionBy(*key).orderBy(F.col("count").desc(), F.col(item).asc()))
    return counted.withColumn("rank", rank).filter(F.col("rank") <= n)


def most_common_text(clicks: Any, keys: list[str]) -> Any:
    """keys + ``text``: per key, the clicked element's most frequent non-empty ``text`` (ties by
    text). One row per key, so a left join on ``keys`` adds a column and no rows."""
    a = api(clicks)
    F, W = a.F, a.Window
    texts = (
        clicks.filter(F.col("text").isNotNull() & (F.col("text") != ""))
        .groupBy(*keys, "text")
        .agg(F.count(F.lit(1)).alias("_n"))
    )
    first = W.partitionBy(*keys).orderBy(F.col("_n").desc(), F.col("text").asc())
    return texts.withColumn("_r", F.row_number().over(first)).filter(F.col("_r") == 1).select(*keys, "text")


def _clicked_links(events: Any) -> Any:
    F = api(events).F
    return events.filter((F.col("type") == "click") & F.col("link").isNotNull() & (F.col("link") != ""))


def top_links(events: Any) -> Any:
    """token, day, page, link, count, users, rank, text."""
    clicked = _clicked_links(events)
    return _top(clicked, "link").join(most_common_text(clicked, [*KEY, "link"]), [*KEY, "link"], "left")


def site_links(events: Any) -> Any:
    """token, day, link, count, users, rank, text: the site's most clicked links over every page.
    A visitor who clicks the same link on two pages is one user here (summing the per-page
    rows would count them twice)."""
    clicked = _clicked_links(events)
    key = ("token", "day")
    top = _top(clicked, "link", key, SITE_TOP_N)
    return top.join(most_common_text(clicked, [*key, "link"]), [*key, "link"], "left")


def top_referrers(events: Any) -> Any:
    """token, day, page, referrer, count, users, rank."""
    F = api(events).F
    pv = events.filter((F.col("type") == "pageview") & F.col("referrer").isNotNull() & (F.col("referrer") != ""))
    ref_host = F.lower(F.regexp_extract(F.col("referrer"), HOST_RE, 1))
    page_host = F.lower(F.regexp_extract(F.col("current_page"), HOST_RE, 1))
    external = pv.filter(ref_host != page_host).withColumn("referrer", normalise_url(F.col("referrer"), F))
    return _top(external, "referrer")


def totals(events: Any) -> Any:
    """token, day, events, pageviews, users (distinct ``user_key`` over every event type)."""
    F = api(events).F
    pageview = F.when(F.col("type") == "pageview", F.lit(1)).otherwise(F.lit(0))
    return events.groupBy("token", "day").agg(
        F.count(F.lit(1)).alias("events"),
        F.sum(pageview).cast("long").alias("pageviews"),
        F.countDistinct("user_key").alias("users"),
    )


def agents(events: Any) -> Any:
    """token, day, kind (browser, os, device), name, device_type (device rows only), events, users."""
    F = api(events).F
    out = None
    for kind in AGENT_KINDS:
        name = F.when(F.col(kind).isNull() | (F.col(kind) == ""), F.lit(UNKNOWN_AGENT)).otherwise(F.col(kind))
        dtype = F.col("device_type") if kind == "device" else F.lit(None).cast("string")
        counted = (
            events.select(
                "token", "day", "user_key", F.lit(kind).alias("kind"), name.alias("name"), dtype.alias("device_type")
            )
            .groupBy("token", "day", "kind", "name", "device_type")
            .agg(F.count(F.lit(1)).alias("events"), F.countDistinct("user_key").alias("users"))
        )
        out = counted if out is None else out.unionByName(counted)
    return out


def run(events: Any) -> dict[str, Any]:
    return {
        "totals": totals(events),
        "agents": agents(events),
        "views": views(events),
        "time_on_page": time_on_page(events),
        "top_links": top_links(events),
        "links": site_links(events),
        "top_referrers": top_referrers(events),
    }

"""Page statistics: views, unique users, entries, exits, time on page, top links and referrers.

* A *visit* is a user's run of page views with no gap longer than ``VISIT_GAP_MS``
  (30 minutes, the usual web-analytics session timeout) within the day. Its first page
  view is an *entry*, its last an *exit*.
* Time on page is ``spent_milli_sec`` of ``pageleave`` events: the median and the 90th
  percentile (linear interpolation, as Spark's ``percentile`` and DuckDB's
  ``quantile_cont``).
* Top links: the ``TOP_N`` links clicked most on the page (ties by link).
* Top referrers: the ``TOP_N`` most frequent normalised referrers of page views that
  came from another host (internal navigation is not a referrer).
* Totals per site and day: events, page views and unique users (``user_key``, any event
  type). Unique users do not add up from the per-page counts, so they are computed here.
* Agents: events and unique users per ``browser``, ``os`` and ``device`` (the collector's
  parse of the user agent); events without the field count as ``unknown``.
"""

from __future__ import annotations

from typing import Any

from analysis.engines import api
from analysis.schema import normalise_url

VISIT_GAP_MS = 30 * 60 * 1000
TOP_N = 10
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


def _top(df: Any, item: str) -> Any:
    a = api(df)
    F, W = a.F, a.Window
    counted = df.groupBy(*KEY, item).agg(F.count(F.lit(1)).alias("count"), F.countDistinct("user_key").alias("users"))
    rank = F.row_number().over(W.partitionBy(*KEY).orderBy(F.col("count").desc(), F.col(item).asc()))
    return counted.withColumn("rank", rank).filter(F.col("rank") <= TOP_N)


def top_links(events: Any) -> Any:
    """token, day, page, link, count, users, rank."""
    F = api(events).F
    clicked = events.filter((F.col("type") == "click") & F.col("link").isNotNull() & (F.col("link") != ""))
    return _top(clicked, "link")


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
    """token, day, kind (browser, os, device), name, events, users."""
    F = api(events).F
    out = None
    for kind in AGENT_KINDS:
        name = F.when(F.col(kind).isNull() | (F.col(kind) == ""), F.lit(UNKNOWN_AGENT)).otherwise(F.col(kind))
        counted = (
            events.select("token", "day", "user_key", F.lit(kind).alias("kind"), name.alias("name"))
            .groupBy("token", "day", "kind", "name")
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
        "top_referrers": top_referrers(events),
    }

"""Visits and where visitors come from.

* A *visit* (session) is a user's run of events with no gap longer than ``VISIT_GAP_MS``
  (30 minutes of inactivity, any event type) within the day, ordered by ``ts_ms`` (ties by
  ``event_id``). Its *entry page* is the page of its first event, its *exit page* the page
  of its last; its *duration* the time from its first event to its last (0 for one event); a
  *bounce* is a visit with at most one page view.
* A visit is attributed to where its first event came from: its ``channel``, the
  referrer's domain, each ``utm_*`` field, its ``country`` and ``device_type``. The
  collector sets ``channel``, ``utm_*`` and ``country`` at ingest (logdig/sources.py,
  logdig/geo.py); events stored before have none (``unknown``).
* The referrer's domain is the host of ``referrer`` in lower case without ``www.``;
  ``Direct / none`` when there is no referrer or it is the page's own host.

Per token and day:

* ``totals``: ``visits, visitors, bounces, pageviews, duration_ms`` (sum of the visits'
  durations) and ``median_duration_ms``;
* ``devices``: the same counts per ``device_type``;
* ``entry_pages``: ``page, visits, bounces``; ``exit_pages``: ``page, visits``;
* ``sources``: ``kind, name, visitors, visits, pageviews`` for kinds ``channel``,
  ``referrer``, ``utm_source``, ``utm_medium``, ``utm_campaign``, ``utm_term``,
  ``utm_content`` and ``country`` (visits without a UTM field are left out of its rows).
"""

from __future__ import annotations

from typing import Any

from analysis.engines import api, stage
from analysis.jobs.pages import HOST_RE

VISIT_GAP_MS = 30 * 60 * 1000
DIRECT = "Direct / none"
UNKNOWN = "unknown"
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
SOURCE_KINDS = ("channel", "referrer", *UTM, "country")
USER = ("token", "day", "user_key")
VISIT = (*USER, "visit")
ATTRIBUTES = ("channel", "referrer", *UTM, "country", "device_type")


def _host(col: Any, F: Any) -> Any:
    return F.regexp_replace(F.lower(F.regexp_extract(col, HOST_RE, 1)), r"^www\.", "")


def visits(events: Any) -> Any:
    """One row per visit: token, day, user_key, visit, start_ms, end_ms, pageviews, events,
    entry_page, exit_page and the entry's attributes (:data:`ATTRIBUTES`)."""
    a = api(events)
    F, W = a.F, a.Window
    order = W.partitionBy(*USER).orderBy("ts_ms", "event_id")
    prev = F.lag("ts_ms").over(order)
    new = F.when(prev.isNull() | (F.col("ts_ms") - prev > VISIT_GAP_MS), F.lit(1)).otherwise(F.lit(0))
    ref_host, page_host = _host(F.col("referrer"), F), _host(F.col("current_page"), F)
    referrer = F.when(F.col("referrer").isNull() | (ref_host == "") | (ref_host == page_host), F.lit(DIRECT)).otherwise(
        ref_host
    )
    unknown = {c: F.coalesce(F.col(c), F.lit(UNKNOWN)) for c in ("channel", "country")}
    marked = stage(
        events.select(
            *USER,
            "ts_ms",
            "event_id",
            "page",
            F.when(F.col("type") == "pageview", F.lit(1)).otherwise(F.lit(0)).alias("_pv"),
            new.alias("_new"),
            unknown["channel"].alias("channel"),
            referrer.alias("referrer"),
            *[F.when(F.col(u) != "", F.col(u)).alias(u) for u in UTM],
            unknown["country"].alias("country"),
            "device_type",
        )
    )
    running = W.partitionBy(*USER).orderBy("ts_ms", "event_id").rowsBetween(W.unboundedPreceding, W.currentRow)
    cols = [c for c in marked.columns if c != "_new"]
    numbered = marked.select(*cols, F.sum("_new").over(running).cast("long").alias("visit"))
    # the first and last event of a visit by (ts_ms, event_id): one aggregation, no more sorts
    order = F.struct("ts_ms", "event_id")
    entry = F.struct(F.col("page").alias("entry_page"), *ATTRIBUTES)
    counted = numbered.groupBy(*VISIT).agg(
        F.min("ts_ms").alias("start_ms"),
        F.max("ts_ms").alias("end_ms"),
        F.sum("_pv").cast("long").alias("pageviews"),
        F.count(F.lit(1)).alias("events"),
        F.min_by(entry, order).alias("_entry"),
        F.max_by("page", order).alias("exit_page"),
    )
    fields = [F.col("_entry").getField(c).alias(c) for c in ("entry_page", *ATTRIBUTES)]
    return stage(counted.select(*VISIT, "start_ms", "end_ms", "pageviews", "events", *fields, "exit_page"), table=True)


def _counts(F: Any) -> list[Any]:
    return [
        F.count(F.lit(1)).alias("visits"),
        F.countDistinct("user_key").alias("visitors"),
        F.sum(F.when(F.col("pageviews") <= 1, F.lit(1)).otherwise(F.lit(0))).cast("long").alias("bounces"),
        F.sum("pageviews").cast("long").alias("pageviews"),
        F.sum(F.col("end_ms") - F.col("start_ms")).cast("long").alias("duration_ms"),
    ]


def totals(v: Any) -> Any:
    F = api(v).F
    duration = (F.col("end_ms") - F.col("start_ms")).cast("double")
    return v.groupBy("token", "day").agg(*_counts(F), F.percentile(duration, 0.5).alias("median_duration_ms"))


def devices(v: Any) -> Any:
    F = api(v).F
    return v.groupBy("token", "day", "device_type").agg(*_counts(F))


def entry_pages(v: Any) -> Any:
    F = api(v).F
    bounce = F.when(F.col("pageviews") <= 1, F.lit(1)).otherwise(F.lit(0))
    return (
        v.select("token", "day", F.col("entry_page").alias("page"), bounce.alias("_b"))
        .groupBy("token", "day", "page")
        .agg(F.count(F.lit(1)).alias("visits"), F.sum("_b").cast("long").alias("bounces"))
    )


def exit_pages(v: Any) -> Any:
    F = api(v).F
    return (
        v.select("token", "day", F.col("exit_page").alias("page"))
        .groupBy("token", "day", "page")
        .agg(F.count(F.lit(1)).alias("visits"))
    )


def sources(v: Any) -> Any:
    """token, day, kind, name, visitors, visits, pageviews (see the module doc)."""
    F = api(v).F
    out = None
    for kind in SOURCE_KINDS:
        counted = (
            v.filter(F.col(kind).isNotNull())
            .select("token", "day", "user_key", "pageviews", F.lit(kind).alias("kind"), F.col(kind).alias("name"))
            .groupBy("token", "day", "kind", "name")
            .agg(
                F.countDistinct("user_key").alias("visitors"),
                F.count(F.lit(1)).alias("visits"),
                F.sum("pageviews").cast("long").alias("pageviews"),
            )
        )
        out = counted if out is None else out.unionByName(counted)
    return out


def run(events: Any) -> dict[str, Any]:
    v = visits(events)
    return {
        "totals": totals(v),
        "devices": devices(v),
        "entry_pages": entry_pages(v),
        "exit_pages": exit_pages(v),
        "sources": sources(v),
    }

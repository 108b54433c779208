"""The one place that reads analysis results. If their shapes change, only this file does.

Results are per job, token and UTC day (``results/<job>/<token>/<day>.json``, written by
``analysis.run``; see analysis/README.md). The dashboard shows date ranges, so this
module sums days:

- counts (views, clicks, leaves, exposures...) add up across days;
- "users" added across days are *user-days* (a visitor seen on two days counts twice),
  because results hold distinct users per day only; the pages say so;
- medians do not add up: time on page is shown per day;
- funnels and experiments: ``web.dashboard.conversions``, which reads them through this
  module's ``Results``.

Documents found are cached for ``CACHE_SECONDS`` per process, so a page and its CSV
export read the store once; a new analysis run shows within that time. Nothing here
reads raw events.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from logdig.storage import results_key

DAY_REPORT = ("_days", "all")  # results/_days/all/<day>.json: objects read, quality
CACHE_SECONDS = 30
CACHE_ENTRIES = 2048
MAX_DAYS = 92  # the longest range one page reads
GRID_COLUMNS = 50  # analysis.jobs.heatmap: columns are 2% of the viewport width
ROW_PX = 20  # analysis.jobs.heatmap: rows are 20 page pixels
MOVE_COLUMNS = 25  # analysis.jobs.heatmap: the movement grid is twice as coarse each way
MOVE_ROW_PX = 40
# elements in a page's click map: a visitor may send any selector, and every one was a row
CLICK_MAP_ROWS = 500
VIEWPORT_CLASSES = ("desktop", "tablet", "mobile", "unknown")
# a representative width per class, to draw the grid in page proportions
CLASS_WIDTH = {"desktop": 1280, "tablet": 820, "mobile": 390, "unknown": 1280}


def day_range(start: date, end: date) -> list[str]:
    if end < start:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:  # so, unlike end - MAX_DAYS, never before date.min
        start = end - timedelta(days=MAX_DAYS - 1)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


class Results:
    """Reads result documents through an ObjectStore, with a short per-process cache."""

    def __init__(self, store: Any, clock=time.monotonic):
        self.store, self.clock = store, clock
        self._cache: dict[str, tuple[float, dict | None]] = {}
        self._lock = threading.Lock()

    def _get(self, key: str) -> dict | None:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        try:
            doc = json.loads(self.store.get(key))
        except Exception:  # noqa: BLE001 - missing or unreadable: not computed yet
            doc = None
        if not isinstance(doc, dict):  # JSON, but not a result (another tool's, hand-edited)
            doc = None
        if doc is not None:  # a missing result is cheap to ask again, and may appear any time
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[key] = (now, doc)
        return doc

    def forget(self, token: str) -> None:
        """Drop the cached documents of ``token`` (a "Refresh now" rewrote them)."""
        part = f"/{token}/"
        with self._lock:
            for key in [k for k in self._cache if part in k]:
                del self._cache[key]

    def doc(self, job: str, token: str, day: str) -> dict | None:
        return self._get(results_key(job, token, day))

    def data(self, job: str, token: str, days: list[str]) -> list[tuple[str, dict]]:
        """(day, data) for each day that has a result for ``job``."""
        out = []
        for day in days:
            doc = self.doc(job, token, day)
            if doc is not None:
                data = doc.get("data")
                out.append((day, data if isinstance(data, dict) else {}))
        return out

    def day_report(self, day: str) -> dict | None:
        return self._get(results_key(DAY_REPORT[0], DAY_REPORT[1], day))

    def generated_at(self, token: str, days: list[str]) -> str | None:
        stamps = [d.get("generated_at") for day in days if (d := self.doc("pages", token, day))]
        return max((s for s in stamps if s), default=None)


SCANNED_SITES, SCANNED_DAYS = 10, 7  # the sites and latest days looked at for results (a GET each)


def default_site(known: list, days: list[str], last: str | None, found: Results) -> str:
    """The site a view shows when none is asked: ``last`` (the one this login viewed last)
    if it still exists, else the first (by name) with a result in the last days of ``days``,
    else the first."""
    if any(s.token == last for s in known):
        return last
    for s in known[:SCANNED_SITES]:
        if any(found.doc("pages", s.token, day) for day in reversed(days[-SCANNED_DAYS:])):
            return s.token
    return known[0].token


# ---------------------------------------------------------------- overview


@dataclass
class Overview:
    per_day: list[dict]
    pages: list[dict]
    links: list[dict]
    referrers: list[dict]
    agents: dict[str, list[dict]] | None  # browser/os/device -> rows, when analysis has them
    has_users: bool = False


def _top(counter: Counter, users: Counter, name: str, n: int = 20) -> list[dict]:
    return [{name: k, "count": v, "user_days": users[k]} for k, v in counter.most_common(n)]


def _text(texts: Counter | None) -> str | None:
    """The most common element text (ties by text), or None."""
    return min(texts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if texts else None


def overview(results: Results, token: str, days: list[str]) -> Overview:
    per_day, has_users = [], False
    views, view_users, entries, exits = Counter(), Counter(), Counter(), Counter()
    links, link_users, refs, ref_users = Counter(), Counter(), Counter(), Counter()
    link_texts: dict[str, Counter] = defaultdict(Counter)
    agents: dict[str, Counter] = defaultdict(Counter)
    for day in days:
        doc = results.doc("pages", token, day)
        if doc is None:
            per_day.append({"day": day, "events": None, "pageviews": None, "users": None})
            continue
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        totals = data.get("totals") or {}  # proposed: {"events", "pageviews", "users"}
        if isinstance(totals, list):
            totals = totals[0] if totals else {}
        has_users = has_users or "users" in totals
        row_views = data.get("views", [])
        per_day.append(
            {
                "day": day,
                "events": (doc.get("quality") or {}).get("events"),
                "pageviews": totals.get("pageviews", sum(r["views"] for r in row_views)),
                "users": totals.get("users"),
            }
        )
        for r in row_views:
            views[r["page"]] += r["views"]
            view_users[r["page"]] += r["users"]
            entries[r["page"]] += r.get("entries") or 0
            exits[r["page"]] += r.get("exits") or 0
        # the site's links (users counted once per day over pages); older results only have
        # the per-page top links, whose users add up per page
        for r in data["links"] if "links" in data else data.get("top_links", []):
            links[r["link"]] += r["count"]
            link_users[r["link"]] += r.get("users") or 0
            if r.get("text"):
                link_texts[r["link"]][r["text"]] += r["count"]
        for r in data.get("top_referrers", []):
            refs[r["referrer"]] += r["count"]
            ref_users[r["referrer"]] += r.get("users") or 0
        for r in data.get("agents", []):  # {"kind", "name", "device_type" (device rows), "users", "events"}
            agents[r["kind"]][(r["name"], r.get("device_type"))] += r.get("users") or r.get("events") or 0
    pages = [
        {"page": p, "views": v, "user_days": view_users[p], "entries": entries[p], "exits": exits[p]}
        for p, v in views.most_common(50)
    ]
    return Overview(
        per_day=per_day,
        pages=pages,
        links=[{**r, "text": _text(link_texts.get(r["link"]))} for r in _top(links, link_users, "link")],
        referrers=_top(refs, ref_users, "referrer"),
        agents={
            k: [{"name": n, "device_type": t, "users": c} for (n, t), c in v.most_common(10)] for k, v in agents.items()
        }
        or None,
        has_users=has_users,
    )


# ---------------------------------------------------------------- one page


@dataclass
class PageDetail:
    page: str
    per_day: list[dict] = field(default_factory=list)  # views, users, entries, exits, time on page
    classes: dict[str, dict] = field(default_factory=dict)  # viewport class -> clicks, placed, rage
    grid: dict[tuple[int, int], int] = field(default_factory=dict)  # (col, row) -> clicks
    click_map: list[dict] = field(default_factory=list)
    scroll: list[dict] = field(default_factory=list)  # depth, leaves, reached (share reaching it)
    links: list[dict] = field(default_factory=list)
    viewport_class: str = "desktop"
    click_map_left: dict = field(default_factory=dict)  # elements and clicks past CLICK_MAP_ROWS


def _page_stats(detail: PageDetail, results: Results, token: str, days: list[str]) -> None:
    links: Counter = Counter()
    texts: dict[str, Counter] = defaultdict(Counter)
    for day, data in results.data("pages", token, days):
        row: dict[str, Any] = {"day": day}
        for r in data.get("views", []):
            if r["page"] == detail.page:
                row.update(views=r["views"], users=r["users"], entries=r.get("entries"), exits=r.get("exits"))
        for r in data.get("time_on_page", []):
            if r["page"] == detail.page:
                row.update(leaves=r["leaves"], median_ms=r.get("median_ms"), p90_ms=r.get("p90_ms"))
        if len(row) > 1:
            detail.per_day.append(row)
        for r in data.get("top_links", []):
            if r["page"] == detail.page:
                links[r["link"]] += r["count"]
                if r.get("text"):
                    texts[r["link"]][r["text"]] += r["count"]
    detail.links = [{"link": k, "text": _text(texts.get(k)), "count": v} for k, v in links.most_common(20)]


def page_detail(results: Results, token: str, page: str, days: list[str], viewport_class: str | None) -> PageDetail:
    detail = PageDetail(page)
    _page_stats(detail, results, token, days)
    grids: dict[str, Counter] = defaultdict(Counter)
    classes: dict[str, Counter] = defaultdict(Counter)
    selectors: dict[str, Counter] = defaultdict(Counter)
    selector_texts: dict[str, Counter] = defaultdict(Counter)
    scroll: Counter = Counter()
    for _day, data in results.data("heatmap", token, days):
        for r in data.get("grid", []):
            if r["page"] == page:
                grids[r["viewport_class"]][(int(r["col"]), int(r["row"]))] += r["clicks"]
        for r in data.get("pages", []):
            if r["page"] == page:
                for k in ("clicks", "placed", "rage_clicks"):
                    classes[r["viewport_class"]][k] += r.get(k) or 0
        for r in data.get("click_map", []):
            if r["page"] == page:
                for k in ("clicks", "users", "rage_clicks"):
                    selectors[r["selector"]][k] += r.get(k) or 0
                if r.get("text"):
                    selector_texts[r["selector"]][r["text"]] += r["clicks"]
        for r in data.get("scroll_depth", []):
            if r["page"] == page:
                scroll[int(r["depth"])] += r["leaves"]
    detail.classes = {k: dict(v) for k, v in sorted(classes.items(), key=lambda kv: -kv[1]["clicks"])}
    if viewport_class not in VIEWPORT_CLASSES:
        viewport_class = next((c for c in detail.classes if grids.get(c)), "desktop")
    detail.viewport_class = viewport_class
    detail.grid = dict(grids.get(viewport_class, {}))
    ranked = sorted(selectors, key=lambda s: (-selectors[s]["clicks"], s))
    detail.click_map = [
        {
            "selector": s,
            "text": _text(selector_texts.get(s)),
            "clicks": selectors[s]["clicks"],
            "user_days": selectors[s]["users"],
            "rage_clicks": selectors[s]["rage_clicks"],
        }
        for s in ranked[:CLICK_MAP_ROWS]
    ]
    rest = ranked[CLICK_MAP_ROWS:]
    detail.click_map_left = {"elements": len(rest), "clicks": sum(selectors[s]["clicks"] for s in rest)}
    total = reached = sum(scroll.values())
    for depth in range(0, 101, 10):
        detail.scroll.append({"depth": depth, "leaves": scroll[depth], "reached": reached / total if total else None})
        reached -= scroll[depth]
    return detail


# ---------------------------------------------------------------- pipeline health


def day_reports(results: Results, days: list[str]) -> list[dict]:
    """Per day: raw objects read by the last full analysis run, lines, bad rows by reason."""
    out = []
    for day in days:
        report = results.day_report(day)
        if report is None:
            out.append({"day": day, "objects": None, "lines": None, "bad": {}, "bytes": None, "analysed_at": None})
            continue
        quality = report.get("quality") or {}
        out.append(
            {
                "day": day,
                "objects": len(report.get("objects") or []),
                "lines": quality.get("lines"),
                "bad": quality.get("bad") or {},
                "bytes": report.get("bytes"),  # proposed: total bytes of the day's objects
                "analysed_at": report.get("generated_at"),
            }
        )
    return out

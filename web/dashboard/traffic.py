"""Visits and where visitors come from, over a date range (the ``visits`` results).

Read through ``web.dashboard.results.Results``. Per day the analysis counts visits
(sessions by 30 minutes of inactivity), their bounces, page views and durations, and
attributes each visit to its first event's channel, referrer domain, UTM fields and
country (analysis/jobs/visits.py). Over a range:

- visits, bounces, page views and durations add up; rates are recomputed from the sums
  (bounce rate = bounces / visits, pages per visit = page views / visits, mean duration =
  duration / visits);
- visitors are summed per day (user-days), as elsewhere on the dashboard.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from web.dashboard import charts
from web.dashboard.results import Results
from web.dashboard.tables import Column, Table

# (result kind, table title, first column's label)
SOURCES = (
    ("channel", "Channels", "Channel"),
    ("referrer", "Referrer domains", "Referrer domain"),
    ("utm_source", "UTM sources", "utm_source"),
    ("utm_medium", "UTM mediums", "utm_medium"),
    ("utm_campaign", "UTM campaigns", "utm_campaign"),
    ("utm_term", "UTM terms", "utm_term"),
    ("utm_content", "UTM contents", "utm_content"),
    ("country", "Countries", "Country"),
)
TOP = 20
COUNTS = ("visits", "visitors", "bounces", "pageviews", "duration_ms")
VISITORS_NOTE = "Visitors are summed per day (user-days). A visit counts for where its first event came from."


@lru_cache(maxsize=512)
def country_name(code: str) -> str:
    """The English short name of an ISO 3166 alpha-2 code, '' when it is not one."""
    import pycountry

    found = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return getattr(found, "common_name", None) or (found.name if found else "")


@dataclass
class Traffic:
    totals: Counter = field(default_factory=Counter)
    per_day: list[dict] = field(default_factory=list)  # day, visits, bounces, ...
    sources: dict[str, dict[str, Counter]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    devices: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    entries: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    exits: Counter = field(default_factory=Counter)
    days: int = 0  # days with a visits result


def read(results: Results, token: str, days: list[str]) -> Traffic:
    t = Traffic()
    for day, data in results.data("visits", token, days):
        t.days += 1
        totals = data.get("totals") or {}
        t.per_day.append({"day": day, **{k: totals.get(k) or 0 for k in COUNTS}})
        for k in COUNTS:
            t.totals[k] += totals.get(k) or 0
        for r in data.get("sources", []):
            for k in ("visitors", "visits", "pageviews"):
                t.sources[r["kind"]][r["name"]][k] += r.get(k) or 0
        for r in data.get("devices", []):
            for k in COUNTS:
                t.devices[r["device_type"]][k] += r.get(k) or 0
        for r in data.get("entry_pages", []):
            t.entries[r["page"]]["visits"] += r["visits"]
            t.entries[r["page"]]["bounces"] += r.get("bounces") or 0
        for r in data.get("exit_pages", []):
            t.exits[r["page"]] += r["visits"]
    return t


def rates(c: Counter | dict) -> dict:
    """Bounce rate, pages per visit and mean visit duration from summed counts."""
    visits = c.get("visits") or 0
    return {
        "bounce_rate": c.get("bounces", 0) / visits if visits else None,
        "pages_per_visit": c.get("pageviews", 0) / visits if visits else None,
        "mean_duration_ms": c.get("duration_ms", 0) / visits if visits else None,
    }


def summary(t: Traffic) -> dict:
    """The overview's headline figures."""
    return {k: t.totals.get(k, 0) for k in ("visits", "visitors", "pageviews", "bounces")} | rates(t.totals)


def source_rows(t: Traffic, kind: str) -> list[dict]:
    found = t.sources.get(kind, {})
    ranked = sorted(found.items(), key=lambda kv: (-kv[1]["visitors"], -kv[1]["visits"], kv[0]))[:TOP]
    total = sum(c["visits"] for c in found.values())
    rows = []
    for name, c in ranked:
        row = {"name": name, **c, "share": c["visits"] / total if total else None}
        if kind == "country":
            row["country"] = country_name(name)
        rows.append(row)
    return rows


def tables(t: Traffic) -> dict[str, Table]:
    out: dict[str, Table] = {}
    for kind, title, label in SOURCES:
        columns = [Column("name", label)]
        if kind == "country":
            columns.append(Column("country", "Name"))
        columns += [
            Column("visitors", "Visitors", "int"),
            Column("visits", "Visits", "int"),
            Column("pageviews", "Page views", "int"),
            Column("share", "Share of visits", "pct"),
        ]
        note = VISITORS_NOTE
        if kind == "referrer":
            note += " Direct / none: no referrer, or the site's own pages."
        elif kind == "country":
            note += " From the visitor's IP address at ingest; the address is not stored."
        elif kind.startswith("utm_"):
            note += f" Only visits whose first page had {kind}."
        out[f"sources_{kind}"] = Table(f"sources_{kind}", title, columns, source_rows(t, kind), note=note)
    visit_cols = [
        Column("visits", "Visits", "int"),
        Column("bounce_rate", "Bounce rate", "pct"),
        Column("pages_per_visit", "Pages per visit", "float"),
        Column("mean_duration_ms", "Mean visit duration", "ms"),
    ]
    out["visit_devices"] = Table(
        "visit_devices",
        "Visits by device type",
        [Column("device_type", "Device type"), *visit_cols],
        [
            {"device_type": d, **c, **rates(c)}
            for d, c in sorted(t.devices.items(), key=lambda kv: (-kv[1]["visits"], kv[0]))
        ],
        note="Device type from the user agent and the viewport width. A bounce is a visit with one page view.",
    )
    out["entry_pages"] = Table(
        "entry_pages",
        "Entry pages",
        [Column("page", "Page"), Column("visits", "Visits", "int"), Column("bounce_rate", "Bounce rate", "pct")],
        [
            {"page": p, "visits": c["visits"], "bounce_rate": c["bounces"] / c["visits"] if c["visits"] else None}
            for p, c in sorted(t.entries.items(), key=lambda kv: (-kv[1]["visits"], kv[0]))[:TOP]
        ],
        note="The page of each visit's first event.",
    )
    out["exit_pages"] = Table(
        "exit_pages",
        "Exit pages",
        [Column("page", "Page"), Column("visits", "Visits", "int")],
        [{"page": p, "visits": n} for p, n in sorted(t.exits.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]],
        note="The page of each visit's last event.",
    )
    return out


def country_chart(t: Traffic) -> str | None:
    rows = [r for r in source_rows(t, "country") if r["visitors"]][:12]
    if not rows:
        return None
    labels = [f"{r['name']} {r['country']}".strip() for r in rows]
    return charts.hbar_chart(labels, [r["visitors"] for r in rows], "Visitors by country", "visitors (user-days)")

"""The pages that read results: overview (per site and date range) and one page's view.

Every page is built by a function ``build_<view>(f) -> (context, tables)`` so that
``web.dashboard.export`` can write any of its tables as CSV from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, render_template, request

from web.dashboard import charts, results
from web.dashboard.tables import Column, Table

DEFAULT_DAYS = 7

# The user-agent breakdowns: (table title, column name).
AGENT_TITLES = {
    "browser": ("Browsers", "Browser"),
    "os": ("Operating systems", "Operating system"),
    "device": ("Devices", "Device"),
}


def ctx() -> dict:
    return current_app.extensions["logdig"]


def store():
    ext = ctx()
    return ext["store"] or ext["store_factory"]()


def reader() -> results.Results:
    """One Results (and its cache) per app."""
    extensions = current_app.extensions
    if "logdig_dashboard" not in extensions:
        extensions["logdig_dashboard"] = results.Results(store())
    return extensions["logdig_dashboard"]


@dataclass
class Filters:
    token: str
    start: date
    end: date
    days: list[str]
    page: str = ""
    vc: str = ""

    def args(self, **extra: str) -> dict:
        out = {"token": self.token, "from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.page:
            out["page"] = self.page
        if self.vc:
            out["vc"] = self.vc
        return {**out, **extra}


def today() -> date:
    return datetime.fromtimestamp(ctx()["clock"](), UTC).date()


def _date(name: str, default: date) -> date:
    raw = request.args.get(name, "")
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        abort(400, f"{name} must be a date like 2026-01-31")


def sites():
    return ctx()["sites"].all()


def filters() -> Filters:
    end = _date("to", today())
    start = _date("from", end - timedelta(days=DEFAULT_DAYS - 1))
    days = results.day_range(start, end)
    start, end = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    token = request.args.get("token", "")
    known = sites()
    if not token and known:
        token = known[0].token
    return Filters(token, start, end, days, request.args.get("page", ""), request.args.get("vc", ""))


def http_url(url: str) -> bool:
    """Only http(s) pages become links: a stored URL may say javascript:."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# ---------------------------------------------------------------- overview


def build_overview(f: Filters) -> tuple[dict, dict[str, Table]]:
    ov = results.overview(reader(), f.token, f.days)
    users_note = "" if ov.has_users else "Unique users per day are not in the analysis results yet."
    per_day = Table(
        "per_day",
        "Per day",
        [
            Column("day", "Day"),
            Column("events", "Events", "int"),
            Column("pageviews", "Page views", "int"),
            Column("users", "Unique users", "int"),
        ],
        ov.per_day,
        note=users_note,
    )
    user_days = "Users are summed per day (user-days)."
    tables = {
        "per_day": per_day,
        "pages": Table(
            "pages",
            "Top pages",
            [
                Column("page", "Page"),
                Column("views", "Views", "int"),
                Column("user_days", "Users", "int"),
                Column("entries", "Entries", "int"),
                Column("exits", "Exits", "int"),
            ],
            ov.pages,
            note=user_days,
        ),
        "links": Table(
            "links",
            "Top links",
            [Column("link", "Link"), Column("count", "Clicks", "int"), Column("user_days", "Users", "int")],
            ov.links,
        ),
        "referrers": Table(
            "referrers",
            "Top referrers",
            [Column("referrer", "Referrer"), Column("count", "Page views", "int"), Column("user_days", "Users", "int")],
            ov.referrers,
        ),
    }
    for kind, rows in (ov.agents or {}).items():
        tables[f"agents_{kind}"] = Table(
            f"agents_{kind}",
            AGENT_TITLES.get(kind, (kind, kind))[0],
            [Column("name", AGENT_TITLES.get(kind, (kind, kind))[1]), Column("users", "Users", "int")],
            rows,
        )
    series = [("events", "events"), ("pageviews", "page views")] + ([("users", "users")] if ov.has_users else [])
    context = {
        "chart": charts.daily_chart(ov.per_day, series, "Per day (UTC)"),
        "agents_missing": ov.agents is None,
        "generated_at": reader().generated_at(f.token, f.days),
    }
    return context, tables


def overview():
    f = filters()
    context, tables = build_overview(f)
    return render_template("dashboard/overview.html", view="overview", f=f, sites=sites(), tables=tables, **context)


# ---------------------------------------------------------------- one page


def build_page(f: Filters) -> tuple[dict, dict[str, Table]]:
    if not f.page:
        abort(400, "choose a page")
    detail = results.page_detail(reader(), f.token, f.page, f.days, f.vc or None)
    heatmap, info = charts.heatmap_png(detail.grid, detail.viewport_class)
    hottest = sorted(detail.grid.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    tables = {
        "days": Table(
            "days",
            "Per day",
            [
                Column("day", "Day"),
                Column("views", "Views", "int"),
                Column("users", "Users", "int"),
                Column("entries", "Entries", "int"),
                Column("exits", "Exits", "int"),
                Column("median_ms", "Median time on page", "ms"),
                Column("p90_ms", "90th percentile", "ms"),
            ],
            detail.per_day,
        ),
        "click_map": Table(
            "click_map",
            "Clicks by element",
            [
                Column("selector", "Selector"),
                Column("clicks", "Clicks", "int"),
                Column("user_days", "Users", "int"),
                Column("rage_clicks", "Rage clicks", "int"),
            ],
            detail.click_map,
            note="All viewport classes. Rage clicks: 3 or more clicks within 1 s and 30 px.",
        ),
        "hot_cells": Table(
            "hot_cells",
            "Hottest cells",
            [
                Column("x", "x (% of width)"),
                Column("y", "y (page px)"),
                Column("clicks", "Clicks", "int"),
            ],
            [
                {"x": f"{c * 2}-{c * 2 + 2}", "y": f"{r * results.ROW_PX}-{(r + 1) * results.ROW_PX}", "clicks": n}
                for (c, r), n in hottest
            ],
        ),
        "scroll": Table(
            "scroll",
            "Scroll depth",
            [
                Column("depth", "Deepest point (%)", "int"),
                Column("leaves", "Page leaves", "int"),
                Column("reached", "Reached at least", "pct"),
            ],
            detail.scroll,
        ),
        "links": Table("links", "Top links", [Column("link", "Link"), Column("count", "Clicks", "int")], detail.links),
    }
    scroll_chart = None
    if any(r["leaves"] for r in detail.scroll):
        scroll_chart = charts.hbar_chart(
            [f"{r['depth']}%" for r in detail.scroll],
            [r["reached"] or 0 for r in detail.scroll],
            "Share of page leaves that scrolled at least this far",
            "page leaves",
            percent=True,
        )
    context = {
        "detail": detail,
        "heatmap": heatmap,
        "heatmap_info": info,
        "legend": charts.colorbar_svg(info["peak"]),
        "scroll_chart": scroll_chart,
        "rage_total": sum(c.get("rage_clicks", 0) for c in detail.classes.values()),
        "linkable": http_url(f.page),
        "classes": results.VIEWPORT_CLASSES,
    }
    return context, tables


def page():
    f = filters()
    context, tables = build_page(f)
    from web.dashboard.overlay import overlay_link

    link = overlay_link(f) if context["linkable"] else None
    return render_template(
        "dashboard/page.html", view="page", f=f, sites=sites(), tables=tables, overlay_link=link, **context
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", "overview", overview)
    bp.add_url_rule("/page", "page", page)

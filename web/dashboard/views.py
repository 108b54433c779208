"""The pages that read results: overview (per site and date range) and one page's view.

Every page is built by a function ``build_<view>(f) -> (context, tables)`` so that
``web.dashboard.export`` can write any of its tables as CSV from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, render_template, request, session

from analysis.filters import Filter
from web.dashboard import charts, compare, guard, refresh, results, timefmt, traffic
from web.dashboard.tables import Column, Table

DEFAULT_DAYS = 7
EARLIEST = date(1970, 1, 1)  # no event was received before
OVERDUE_GRACE = 300  # seconds an analysis run may be late before the page says to check the scheduler

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
    """One Results (and its cache) per app; on a filtered view, that view's (web.dashboard.segments)."""
    from web.dashboard import segments

    extensions = current_app.extensions
    if "logdig_dashboard" not in extensions:
        extensions["logdig_dashboard"] = results.Results(store())
    return segments.current(extensions["logdig_dashboard"])


@dataclass
class Filters:
    token: str
    start: date
    end: date
    days: list[str]
    page: str = ""
    vc: str = ""
    notes: list[str] = field(default_factory=list)  # how the range asked for was changed
    future: bool = False  # the whole range is after today
    known_token: bool = True
    segment: Filter = field(default_factory=Filter)  # analysis.filters: kept in every link

    def nav_args(self) -> dict:
        """What the links between views carry: the site, the range and the filter."""
        return {"token": self.token, "from": self.start.isoformat(), "to": self.end.isoformat(), **self.segment.args()}

    def args(self, **extra: str) -> dict:
        out = self.nav_args()
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
        day = date.fromisoformat(raw) if raw else default
    except ValueError:
        abort(400, f"{name} must be a date like 2026-01-31")
    if day < EARLIEST:  # the default range and the previous period count days back from it
        abort(400, f"{name} must be a day from {EARLIEST} on")
    return day


def sites():
    return ctx()["sites"].all()


LAST_SITE = "site"  # the session's last site viewed


def filters(token: str | None = None) -> Filters:
    from web.dashboard import segments

    now = today()
    end = _date("to", now)
    start = _date("from", end - timedelta(days=DEFAULT_DAYS - 1))
    asked = f"{min(start, end)} to {max(start, end)}"
    start, end = min(start, end), max(start, end)
    notes = []
    if start <= now < end:  # no day after today has events
        notes.append(f"The range ends today ({now}, UTC): later days have no events yet.")
        end = now
    days = results.day_range(start, end)
    segment = segments.request_filter()
    if date.fromisoformat(days[0]) > start:
        notes.append(
            f"Showing the last {results.MAX_DAYS} days of the range you asked for: {days[0]} to {days[-1]} "
            f"(you asked for {asked}). Ask for a shorter range to see the earlier days."
        )
    days = segments.narrow(segment, days, notes)
    start, end = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    token = request.args.get("token", "") if token is None else token
    known = sites()
    if not token and known:
        token = results.default_site(known, days, session.get(LAST_SITE), reader())
    elif session.get(LAST_SITE) != token and any(s.token == token for s in known):
        session[LAST_SITE] = token  # (only when it changes: each change re-sends the cookie)
    segments.use(token, days, segment)
    return Filters(
        token,
        start,
        end,
        days,
        request.args.get("page", ""),
        request.args.get("vc", ""),
        notes=notes,
        future=start > now,
        known_token=any(s.token == token for s in known),
        segment=segment,
    )


def next_analysis() -> str:
    """When the scheduled analysis runs next: the last full run's time (today's or yesterday's
    day report) plus LOGDIG_ANALYZE_INTERVAL, or "within N minutes" when no run is recorded."""
    ext = ctx()
    interval = ext["settings"].analyze_interval
    now = datetime.fromtimestamp(ext["clock"](), UTC)
    day = now.date()
    stamps = [
        timefmt.parse((reader().day_report(d.isoformat()) or {}).get("generated_at"))
        for d in (day, day - timedelta(days=1))
    ]
    last = max((s for s in stamps if s is not None), default=None)
    every = timefmt.span(interval)
    if last is None:
        return f"The scheduled analysis runs every {every}: its next run is within {timefmt.span(interval)}."
    due = last + timedelta(seconds=interval)
    if due >= now:
        return (
            f"The scheduled analysis runs every {every}; the last run was at {timefmt.utc_text(last)}, "
            f"so the next is at {due:%H:%M:%S} UTC (in {timefmt.span((due - now).total_seconds())})."
        )
    # a run is stamped when it ends and may take minutes: late by less than the grace is normal
    if now - due <= timedelta(seconds=max(OVERDUE_GRACE, interval)):
        return (
            f"The scheduled analysis runs every {every}; the next run is due now "
            f"(it was due at {due:%H:%M:%S} UTC, {timefmt.ago(due, now)})."
        )
    return (
        f"The scheduled analysis runs every {every}; it was due at {timefmt.utc_text(due)} "
        f"({timefmt.ago(due, now)}). If no result appears soon, check that logdig scheduler and "
        "logdig worker run."
    )


def results_note(f: Filters, generated_at: str | None) -> str:
    """The line under a page's title: when its results were computed, or why there are none."""
    if generated_at:
        return f"Results computed at {timefmt.utc_text(generated_at)} by the analysis."
    if not f.known_token:
        return f"No site has the token {f.token!r}: pick a site above. {next_analysis()}"
    if f.future:
        return f"This range is after today ({today()}, UTC), so it has no events yet. {next_analysis()}"
    return f"No analysis results for this range yet. {next_analysis()} Or run logdig analyze now."


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
    analysed = any(d["events"] is not None for d in ov.per_day)
    users_note = "" if ov.has_users or not analysed else "Unique users per day are not in the analysis results yet."
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
            [
                Column("text", "Element text"),
                Column("link", "Link or element"),
                Column("count", "Clicks", "int"),
                Column("user_days", "Users", "int"),
            ],
            ov.links,
            note="Users are counted once a day however many pages they clicked the link on.",
        ),
        "referrers": Table(
            "referrers",
            "Top referrers",
            [Column("referrer", "Referrer"), Column("count", "Page views", "int"), Column("user_days", "Users", "int")],
            ov.referrers,
        ),
    }
    for kind, rows in (ov.agents or {}).items():
        # a device model alone says little (a Windows PC is "Other"): its type goes first
        typed = kind == "device" and any(r["device_type"] for r in rows)
        tables[f"agents_{kind}"] = Table(
            f"agents_{kind}",
            AGENT_TITLES.get(kind, (kind, kind))[0],
            ([Column("device_type", "Type")] if typed else [])
            + [Column("name", "Model" if typed else AGENT_TITLES.get(kind, (kind, kind))[1])]
            + [Column("users", "Users", "int")],
            rows,
            note="Type: desktop, mobile or tablet, from the user agent and the viewport width." if typed else "",
        )
    visits = traffic.read(reader(), f.token, f.days)
    tables.update(traffic.tables(visits))
    series = [("events", "events"), ("pageviews", "page views")] + ([("users", "users")] if ov.has_users else [])
    versus = compare.compare(reader(), f.token, f.days, ov, visits)
    context = {
        "visits": traffic.summary(visits) if visits.days else None,
        "figures": versus["figures"],
        "previous_note": versus["previous_note"],
        "country_chart": traffic.country_chart(visits),
        "chart": charts.daily_chart(ov.per_day, series, "Per day (UTC)", previous=versus["previous_per_day"]),
        "agents_missing": ov.agents is None and analysed,
        "generated_at": reader().generated_at(f.token, f.days),
    }
    context["results_note"] = results_note(f, context["generated_at"])
    return context, tables


def overview():
    f = filters()
    refresh.sync_cache(f.token)
    context, tables = guard.built(f, build_overview)
    return render_template("dashboard/overview.html", view="overview", f=f, sites=sites(), tables=tables, **context)


# ---------------------------------------------------------------- one page


def build_page(f: Filters) -> tuple[dict, dict[str, Table]]:
    if not f.page:
        abort(400, "choose a page")
    detail = results.page_detail(reader(), f.token, f.page, f.days, f.vc or None)
    from web.dashboard import abmaps, heatimage

    texts = {r["selector"]: r["text"] for r in detail.click_map if r.get("text")}
    lay = heatimage.layout(reader(), f.token, f.page, f.days, detail.viewport_class, texts)
    heatmap, info = heatimage.heatmap_png(detail.grid, detail.viewport_class, lay)
    ab = abmaps.ab_maps(reader(), f.token, f.page, f.days, detail.viewport_class, lay)
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
                Column("text", "Element text"),
                Column("selector", "Selector"),
                Column("clicks", "Clicks", "int"),
                Column("user_days", "Users", "int"),
                Column("rage_clicks", "Rage clicks", "int"),
            ],
            detail.click_map,
            note="All viewport classes. Rage clicks: 3 or more clicks within 1 s and 30 px."
            + (
                f" The {len(detail.click_map)} with most clicks; {left['elements']:,} more ({left['clicks']:,} clicks) not listed."
                if (left := detail.click_map_left).get("elements")
                else ""
            ),
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
        "links": Table(
            "links",
            "Top links",
            [Column("text", "Element text"), Column("link", "Link or element"), Column("count", "Clicks", "int")],
            detail.links,
        ),
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
        "ab_maps": ab,
        "fdr": abmaps.FDR,
        "scroll_chart": scroll_chart,
        "rage_view": detail.classes.get(detail.viewport_class, {}).get("rage_clicks", 0),
        "rage_total": sum(c.get("rage_clicks", 0) for c in detail.classes.values()),
        "linkable": http_url(f.page),
        "classes": results.VIEWPORT_CLASSES,
    }
    return context, tables


def page():
    f = filters()
    refresh.sync_cache(f.token)
    context, tables = guard.built(f, build_page)
    from web.dashboard.overlay import overlay_link

    link = overlay_link(f) if context["linkable"] else None
    return render_template(
        "dashboard/page.html", view="page", f=f, sites=sites(), tables=tables, overlay_link=link, **context
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", "overview", overview)
    bp.add_url_rule("/page", "page", page)

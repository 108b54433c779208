"""The Live page and its JSON: a site's last minutes, from the live layer (logdig.live).

``/dashboard/live?token=T`` draws the page (visitors in the last 5 minutes, events and
page views per minute for 30 minutes as an SVG bar chart, top pages, sources and
countries as ranked bars); ``static/live.js`` then polls ``/dashboard/api/live?token=T``
every few seconds and redraws the same parts. Nothing here waits for the analysis:
the counters are written by the collector in the round trip that answers 202.
Everything shown was sent by browsers: the template escapes it, the script sets only
textContent and attributes, and the CSP (auth.py) allows no inline script or style.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from logdig.live import MINUTES, VISITOR_MINUTES, live
from web.dashboard.views import ctx, sites

POLL_SECONDS = 5
CHART_W, CHART_H, CHART_TOP = 1200, 150, 16  # the SVG's viewBox; live.js draws the same


def bars(per_minute: list[dict]) -> list[dict]:
    """The chart's rectangles: one slot per minute, events behind page views."""
    top = max([m["events"] for m in per_minute] + [1])
    slot = CHART_W / len(per_minute)
    out = []
    for i, m in enumerate(per_minute):
        h_events = round((CHART_H - CHART_TOP) * m["events"] / top, 1)
        h_views = round((CHART_H - CHART_TOP) * m["pageviews"] / top, 1)
        out.append(
            {
                "x": round(i * slot + 1, 1),
                "w": round(slot - 2, 1),
                "events": m["events"],
                "pageviews": m["pageviews"],
                "minute": m["minute"][11:16],
                "y_events": round(CHART_H - h_events, 1),
                "h_events": h_events,
                "y_views": round(CHART_H - h_views, 1),
                "h_views": h_views,
            }
        )
    return out


def _token() -> str:
    token = request.args.get("token", "")
    if not token:
        known = sites()
        token = known[0].token if known else ""
    return token


def _figures(token: str) -> dict:
    ext = ctx()
    return live(ext["redis"], token, ext["clock"]())


def live_page() -> str:
    token = _token()
    known = sites()
    data = _figures(token) if token else None
    return render_template(
        "dashboard/live.html",
        view="live",
        sites=known,
        token=token,
        known_token=any(s.token == token for s in known),
        data=data,
        bars=bars(data["per_minute"]) if data else [],
        chart={"w": CHART_W, "h": CHART_H, "top": CHART_TOP},
        poll=POLL_SECONDS,
        minutes=MINUTES,
        visitor_minutes=VISITOR_MINUTES,
    )


def api_live() -> Response:
    token = request.args.get("token", "")
    if not token or ctx()["sites"].get(token) is None:
        response = jsonify({"error": "missing" if not token else "unknown token", "field": "token"})
        response.status_code = 400 if not token else 404
        return response
    response = jsonify(_figures(token))
    response.headers["Cache-Control"] = "no-store"
    return response


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/live", "live", live_page)
    bp.add_url_rule("/api/live", "api_live", api_live)

"""The Stats API (``/api/v1/``): a site's figures for scripts, with a read-only key.

Shapes follow Plausible's Stats API v1 where LogDig's results allow (``web.api.stats``
says what they can answer): ``/api/v1/stats/aggregate``, ``/timeseries`` (by day),
``/breakdown``, ``/api/v1/stats/realtime/visitors`` and ``/api/v1/live`` (the live layer,
as the dashboard's Live page reads it). Every request carries
``Authorization: Bearer <key>`` (``logdig apikey create --token T``) and ``token=T``.

In order, each answered as JSON ``{"error", "field", "status"}``:

1. more than LOGDIG_RATE_API requests a minute from the client IP: 429 with Retry-After
   (charged before the key is looked at, so guessing keys is slow as well as hopeless);
2. no key, a malformed, unknown or revoked key: 401 with ``WWW-Authenticate: Bearer``;
3. more than LOGDIG_RATE_API requests a minute with the key: 429 with Retry-After;
4. no ``token``: 400; a ``token`` that is not the key's site (or no longer exists): 403;
5. a parameter the API does not know how to answer: 400 naming it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Blueprint, Response, current_app, jsonify, request

from logdig.apikeys import ApiKeys
from logdig.live import live
from logdig.locks import RateLimits
from web.api.stats import Refused, Stats, parse_filters, parse_metrics, parse_property
from web.dashboard.results import MAX_DAYS, day_range

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_DAYS = 30
LIMIT_DEFAULT, LIMIT_MAX = 100, 1000
RATE_WINDOW = 60
PARAM_MAX = 4096  # characters of the whole query string
# Plausible's names for what LogDig takes as from/to and token: refused with a pointer,
# never silently replaced by the default range or site.
PLAUSIBLE_ONLY = {
    "period": "give the range as from and to (YYYY-MM-DD, UTC days)",
    "date": "give the range as from and to (YYYY-MM-DD, UTC days)",
    "site_id": "name the site by its token (token=...)",
    "compare": "not supported: ask the previous period's from and to",
}


class ApiError(Exception):
    def __init__(self, status: int, field: str, reason: str, retry_after: int | None = None):
        super().__init__(reason)
        self.status, self.field, self.reason, self.retry_after = status, field, reason, retry_after


def ctx() -> dict:
    return current_app.extensions["logdig"]


@bp.errorhandler(ApiError)
def _api_error(e: ApiError) -> Response:
    response = jsonify({"error": e.reason, "field": e.field, "status": e.status})
    response.status_code = e.status
    if e.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="logdig", error="invalid_token"'
    if e.retry_after is not None:
        response.headers["Retry-After"] = str(e.retry_after)
    return response


@bp.errorhandler(Refused)
def _refused(e: Refused) -> Response:
    return _api_error(ApiError(400, e.field, e.reason))


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _limit(scope: str, who: str) -> None:
    limit = ctx()["settings"].rate_api
    if limit and (wait := RateLimits(ctx()["redis"]).hit(scope, who, limit, RATE_WINDOW)):
        raise ApiError(429, "rate", f"too many requests; retry after {wait} s", retry_after=wait)


def authorise() -> str:
    """The site token the request may read, after the checks 1-4 of the module doc."""
    _limit("api_ip", request.remote_addr or "-")
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if not header:
        raise ApiError(401, "Authorization", "missing: send Authorization: Bearer <API key>")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "Authorization", "must read Bearer <API key>")
    found = ApiKeys(ctx()["redis"]).verify(key.strip())
    if found is None:
        raise ApiError(401, "Authorization", "invalid or revoked API key")
    _limit("api_key", found.id)
    if len(request.query_string) > PARAM_MAX:
        raise ApiError(400, "request", f"query string longer than {PARAM_MAX} characters")
    token = request.args.get("token", "")
    if not token:
        raise ApiError(400, "token", "required: the site's token")
    if token != found.token or ctx()["sites"].get(found.token) is None:
        raise ApiError(403, "token", "this API key does not give access to that site")
    for name, hint in PLAUSIBLE_ONLY.items():
        if name in request.args:
            raise ApiError(400, name, hint)
    return token


def _day(name: str, default: date) -> date:
    raw = request.args.get(name, "")
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        raise ApiError(400, name, "must be a date like 2026-01-31") from None


def days() -> list[str]:
    from web.dashboard.views import today

    end = _day("to", today())
    start = _day("from", end)
    if not request.args.get("from"):
        try:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:  # to=0001-01-01
            raise ApiError(
                400, "to", f"leaves no room for the default {DEFAULT_DAYS} days: give from as well"
            ) from None
    if start > end:
        raise ApiError(400, "from", f"{start} is after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise ApiError(400, "from", f"the range is longer than {MAX_DAYS} days; ask in parts")
    return day_range(start, end)


def _int(name: str, default: int, most: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not 1 <= int(raw) <= most:
        raise ApiError(400, name, f"must be a whole number from 1 to {most}")
    return int(raw)


def _stats(token: str) -> tuple[Stats, list[str]]:
    from web.dashboard.views import reader

    wanted = days()
    return Stats(reader(), token, wanted), wanted


def _answer(stats: Stats, wanted: list[str], results) -> Response:
    meta = {
        "from": wanted[0],
        "to": wanted[-1],
        "days_without_results": sorted(stats.missing),
        "visitors": "unique per day; over several days summed per day (user-days), as on the dashboard",
    }
    return jsonify({"results": results, "meta": meta})


@bp.get("/stats/aggregate")
def aggregate() -> Response:
    token = authorise()
    stats, wanted = _stats(token)
    metrics = parse_metrics(request.args.get("metrics", ""))
    conditions = parse_filters(request.args.get("filters", ""))
    return _answer(stats, wanted, stats.aggregate(metrics, conditions))


@bp.get("/stats/timeseries")
def timeseries() -> Response:
    token = authorise()
    interval = request.args.get("interval", "date")
    if interval not in ("date", "day"):
        raise ApiError(400, "interval", "only date (one point per UTC day) is available")
    stats, wanted = _stats(token)
    metrics = parse_metrics(request.args.get("metrics", ""))
    conditions = parse_filters(request.args.get("filters", ""))
    return _answer(stats, wanted, stats.timeseries(metrics, conditions))


@bp.get("/stats/breakdown")
def breakdown() -> Response:
    token = authorise()
    stats, wanted = _stats(token)
    prop = parse_property(request.args.get("property", ""))
    metrics = parse_metrics(request.args.get("metrics", ""))
    conditions = parse_filters(request.args.get("filters", ""))
    limit = _int("limit", LIMIT_DEFAULT, LIMIT_MAX)
    page = _int("page", 1, 10**6)
    rows = stats.breakdown(prop, metrics, conditions)
    return _answer(stats, wanted, rows[(page - 1) * limit : page * limit])


@bp.get("/stats/realtime/visitors")
def realtime_visitors() -> Response:
    token = authorise()
    return jsonify(live(ctx()["redis"], token, ctx()["clock"]())["visitors_5m"])


@bp.get("/live")
def live_figures() -> Response:
    token = authorise()
    return jsonify(live(ctx()["redis"], token, ctx()["clock"]()))

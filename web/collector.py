"""The collector API: POST /logs, the deployment check, health, readiness and metrics."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import generate_latest
from redis.exceptions import RedisError

from logdig.config import Settings
from logdig.events import MAX_EXPLAINED, ClientError, Event, StoredLines, read_events, received_at, user_agent
from logdig.live import LiveCounts
from logdig.queue import QueueFull, RateLimited, Site
from web.metrics import registry_for

bp = Blueprint("collector", __name__)
log = logging.getLogger("logdig.web")

CONTENT_TYPES = ("application/json", "text/plain")
# A known token is trusted for this long without asking Redis again, so a valid
# request costs one round trip. Deleting a token takes effect within this time.
SITE_CACHE_SECONDS = 10.0


def ctx() -> dict[str, Any]:
    return current_app.extensions["logdig"]


def _error(e: ClientError) -> Response:
    response = jsonify({**e.body(), "status": e.status})
    response.status_code = e.status
    if e.status in (429, 503):
        response.headers["Retry-After"] = str(e.extra.get("retry_after", 30))
    return response


def _cors(response: Response, origin: str | None) -> Response:
    """Let the page that sent the events read the answer (and the tracker learn which it took)."""
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Vary"] = "Origin"
    return response


def _sites(tokens: set[str]) -> dict[str, Site | None]:
    """The sites of a request's tokens; uncached ones looked up in one round trip."""
    cache: dict[str, tuple[Site, float]] = ctx().setdefault("site_cache", {})
    now = time.monotonic()
    found = {t: hit[0] for t in tokens if (hit := cache.get(t)) and hit[1] > now}
    missing = sorted(tokens - found.keys())
    for token, site in ctx()["sites"].get_many(missing).items():
        found[token] = site
        if site:
            cache[token] = (site, now + SITE_CACHE_SECONDS)
    return found


@bp.get("/")
def deployment_check() -> str:
    return "Success"


@bp.route("/logs", methods=["OPTIONS"])
def preflight() -> Response:
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    return _cors(response, request.headers.get("Origin"))


@bp.post("/logs")
def collect() -> Response:
    origin = request.headers.get("Origin")
    try:
        return _cors(_collect(origin), origin)
    except ClientError as e:
        counts = e.extra.pop("counts", {e.kind: 1})
        if counts:  # the client's answer matters more than the counter
            with contextlib.suppress(RedisError, RateLimited):
                ctx()["queue"].push([], ctx()["limits"], rejected=counts, client=request.remote_addr or "-")
        # A refused origin learns nothing from the answer: no CORS header for it.
        return _error(e) if e.kind == "origin" else _cors(_error(e), origin)


def _read_body(max_body: int) -> bytes:
    """The body, however it is framed: more than max_body bytes is a 413, never a cut."""
    if request.mimetype not in CONTENT_TYPES:
        got = request.mimetype or "none"
        raise ClientError(415, "Content-Type", f"must be application/json or text/plain, got {got!r}", "content_type")
    too_large = ClientError(413, "body", f"larger than {max_body} bytes", "too_large")
    length = request.content_length
    if length is not None and length > max_body:  # declared: refused before a byte is read
        raise too_large
    environ = request.environ
    # A server that ends the stream itself (gunicorn always, werkzeug for chunked bodies)
    # is read directly: werkzeug's own wrapper stops at max_body without saying there was
    # more. Otherwise request.stream, bounded by Content-Length.
    stream = environ["wsgi.input"] if environ.get("wsgi.input_terminated") else request.stream
    want = max_body + 1 if length is None else length
    parts, size = [], 0
    while size < want:  # a chunked stream may return one chunk per read
        part = stream.read(want - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > max_body:
        raise too_large
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _problem(site: Site | None, origin: str | None, event: Event, settings: Settings) -> tuple[str, str, str] | None:
    """(metric reason, field, message) when a valid event must still be refused."""
    if site is None:
        return "unknown_token", "token", "unknown token"
    if not site.allows(origin):
        return "origin", "token", f"origin {origin!r} is not allowed for this token"
    if settings.drop_bots == "on" and user_agent(event.user_agent)["bot"]:
        return "bot", "user_agent", "a known crawler; LOGDIG_DROP_BOTS is on"
    return None


def _rate_limited(retry_after: int) -> ClientError:
    return ClientError(
        429,
        "rate",
        f"too many requests; retry after {retry_after} s",
        "rate_limited",
        counts={},  # counted by the queue, once per answer
        retry_after=retry_after,
    )


def _listed(rejected: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """The answer's rejections: the first MAX_EXPLAINED by index, and how many in all when cut."""
    rejected.sort(key=lambda r: r["index"])
    if total <= MAX_EXPLAINED:
        return {"rejected": rejected}
    return {"rejected": rejected[:MAX_EXPLAINED], "rejected_count": total}


def _collect(origin: str | None) -> Response:
    app = ctx()  # looked up once: this is the hot path
    settings = app["settings"]
    client = request.remote_addr or "-"
    # The per-IP request limit is charged before the body is read: a flood of bodies,
    # valid or not, from one address costs one small Redis call each once it is over.
    limits = app["limits"]
    if limits.ip_limit and (wait := app["queue"].charge_ip(client, limits.ip_limit, limits.rate_window)):
        raise _rate_limited(wait)
    checked = read_events(_read_body(settings.max_body), settings.max_events)
    if checked.invalid > MAX_EXPLAINED and limits.ip_limit:
        # Checking bad events costs more than taking good ones: every MAX_EXPLAINED of them
        # count as one more request, so a flood of invalid bodies reaches its 429 early.
        app["queue"].charge_ip_extra(client, checked.invalid // MAX_EXPLAINED, limits.rate_window)
    reasons = Counter({"invalid": checked.invalid})
    sites = _sites({event.token for _, event in checked.valid})

    clock = app["clock"]()
    country = app["countries"](client)
    stored = StoredLines(received_at(datetime.fromtimestamp(clock, UTC)), app["privacy"], client, country)
    lines = []
    live: dict[str, LiveCounts] = {}  # by token: what the live layer adds (logdig.live)
    problems: dict[tuple[str, str], tuple[str, str, str] | None] = {}  # they depend on these two only
    for index, event in checked.valid:
        key = (event.token, event.user_agent)
        if key not in problems:
            problems[key] = _problem(sites[event.token], origin, event, settings)
        if problem := problems[key]:
            reasons[problem[0]] += 1
            checked.rejected.append({"index": index, "errors": [{"field": problem[1], "reason": problem[2]}]})
        else:
            line, source = stored.encode(event)
            lines.append((event.token, event.event_id, line))
            counts = live.get(event.token) or live.setdefault(event.token, LiveCounts())
            counts.add(event.type, event.user_key, event.current_page, source.source, country)
    listed = _listed(checked.rejected, sum(reasons.values())) if checked.rejected else {"rejected": []}

    if not lines:
        # Nothing to take: the first problem names the field; the first 20 are listed.
        first = listed["rejected"][0]["errors"][0]
        kind = max(reasons, key=lambda k: reasons[k])
        status = 403 if kind in ("unknown_token", "origin") else 400
        raise ClientError(status, first["field"], first["reason"], kind, **listed, counts=reasons)

    try:
        accepted, duplicates = app["queue"].push(lines, limits, reasons, client, clock, live)
    except QueueFull:
        raise ClientError(
            503, "queue", "the collector is over capacity, retry later", "queue_full", counts={}
        ) from None
    except RateLimited as e:
        raise _rate_limited(e.retry_after) from None
    answer = {"accepted": accepted, "duplicates": duplicates, **listed}
    return Response(orjson.dumps(answer), status=202, mimetype="application/json")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    settings = ctx()["settings"]
    try:
        length = ctx()["queue"].state().length
    except RedisError as e:
        # The detail (address, socket path) is for the operator's log, not for anyone asking.
        log.warning("readyz: redis unavailable: %s", e)
        response = jsonify({"status": "unavailable", "redis": "unavailable"})
        response.status_code = 503
        return response
    if length >= settings.queue_max:
        response = jsonify({"status": "over capacity", "queue": length, "queue_max": settings.queue_max})
        response.status_code = 503
        return response
    return jsonify({"status": "ready", "queue": length, "queue_max": settings.queue_max})


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(registry_for(ctx()["queue"])), mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi_spec() -> Response:
    from web.openapi import openapi

    return jsonify(openapi())

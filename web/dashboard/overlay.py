"""The on-page heat-map overlay: a signed, expiring link and the data behind it.

1. The page view links to the real page with ``?logdig_overlay=<signed>``. The signed
   value names the site token, the page, the date range and the view's filter, and
   expires after ``OVERLAY_TTL`` seconds. It is an HMAC (itsdangerous) keyed by the
   dashboard's shared secret, with a salt of its own so no other signed value can pass for it.
2. The tracker sees the parameter and adds ``<script src="COLLECTOR/overlay.js">``.
3. overlay.js reads the parameter and fetches ``/overlay/data?sig=...`` (CORS, no
   cookies). A valid, unexpired signature gets the page's layers
   (``web.dashboard.overlaydata``: clicks with users per cell, movement, attention,
   scroll reach, the click map with dead clicks); anything else gets 403 and the
   overlay says so.

Segments, from the overlay's pickers: ``viewport`` (desktop|tablet|mobile: a layout class),
``variant`` (``experiment:variant``: the A/B heat maps kept with the experiments' results)
and every filter of the dashboard (``analysis.filters``: ``device``, ``visitor``, ``source``,
``utm_source`` ...; not ``page``, which the link names), with the same names and checks: a
bad value gets 400 naming the parameter. A filter is answered by
``web.dashboard.segments.overlay_reader``: computed on demand (the page view's jobs, so an
overlay opened from a filtered page view reads what that view computed) and cached. The
request waits for it up to ``segments.WAIT_SECONDS`` (20 s); past that it gets **202**
``{"status": "computing", "retry_after": s}`` with ``Retry-After``, and overlay.js says
"computing" and asks again until the data is there.

The filter of the dashboard view the link is made on travels *inside the signed value*
rather than as plain query parameters of the page: the host page's address then carries
one parameter of ours, which its own code (routers, forms, analytics) has no reason to
read or drop, and the tracker needs to look for that one only. The signature adds no
right (any segment of the signed page may be asked for); it just keeps the link whole.
A request that names any segment parameter (an empty one meaning "all visitors") uses
the request's; one that names none, such as overlay.js's first, uses the link's, and the
answer's ``segment`` tells the pickers what was used.

These two routes are open to any browser, since the page is another site's: the
signature is the credential, and it only ever grants one page's heat map.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import BadRequest, ServiceUnavailable

from analysis import filters as segment_filters
from logdig.queue import OVERLAY_SEGMENTS, shared_secret
from web.dashboard import guard, results, segments
from web.dashboard.overlaydata import VIEWPORT_CLASSES, overlay_data

log = logging.getLogger("logdig.dashboard")
OVERLAY_TTL = 2 * 3600  # seconds a link works: long enough to look, short enough to leak little
# Distinct segments one link may ask for: each new one is a computation of the site's events
# (3-11 s at 1M events, one at a time per site), and a link can leak (it is in the page's URL).
LINK_SEGMENTS = 40
PARAM = "logdig_overlay"
# The filters the overlay answers: the dashboard's, but the page is the link's own.
SEGMENT = tuple(p for p in segment_filters.PARAMS if p != "page")
RETRY_SECONDS = 3  # while a segment is computed: when overlay.js asks again (after a wait of up to 20 s)
SALT = "logdig-overlay"
STATIC = Path(__file__).resolve().parent / "static"
# overlay.js (fetching, the panel), overlay-segments.js (the segment pickers),
# overlay-region.js (the rectangle tool) and
# overlay-layers.js (drawing) served as one script, inside one function: their
# declarations stay private, the page gets no global.
PARTS = tuple(STATIC / f"overlay{part}.js" for part in ("-layers", "-segments", "-region", ""))

public = Blueprint("overlay", __name__)


class OverlayRefused(Exception):
    """A forged, malformed or expired signature."""


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def sign(
    secret: bytes, token: str, page: str, start: str, end: str, now: float, segment: dict[str, str] | None = None
) -> str:
    """The signed value; ``segment``: the filter the overlay opens with (``Filter.args()``)."""
    return _serializer(secret).dumps([token, page, start, end, int(now) + OVERLAY_TTL, dict(segment or {})])


def verify(secret: bytes, value: str, now: float) -> tuple[str, str, str, str, dict[str, str]]:
    """(token, page, start, end, segment), or OverlayRefused."""
    try:
        token, page, start, end, expires, *rest = _serializer(secret).loads(value)
        segment = rest[0] if rest else {}  # links signed before segments travelled in them
        if not isinstance(segment, dict) or len(rest) > 1:
            raise ValueError(segment)
    except (BadSignature, ValueError, TypeError):
        raise OverlayRefused("invalid signature") from None
    if now > expires:
        raise OverlayRefused("this overlay link has expired; open it again from the dashboard")
    return token, page, start, end, segment


def _secret() -> bytes:
    return shared_secret(current_app.extensions["logdig"]["redis"])


def overlay_link(f) -> str | None:
    """The page's own URL with the signed parameter (pages are stored without a query); the
    view's filter (``f.segment``) goes inside the signed value. None for a page that is not
    on one of the site's origins: any client may send events naming another host's page
    (the Origin header is its own to write), and the link must not take the admin there."""
    site = current_app.extensions["logdig"]["sites"].get(f.token)
    if site is None or not site.allows(_origin(f.page).lower()):
        return None
    value = sign(
        _secret(),
        f.token,
        f.page,
        f.start.isoformat(),
        f.end.isoformat(),
        current_app.extensions["logdig"]["clock"](),
        f.segment.without("page").args(),
    )
    return f"{f.page}{'&' if '?' in f.page else '?'}{PARAM}={value}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _segment(args: Any, signed: dict[str, str]) -> tuple[str | None, segment_filters.Filter]:
    """(viewport class, filter) from the query, the filter from the link when the query
    names none; ValueError(field, reason) on a bad value."""
    viewport = args.get("viewport") or None
    if viewport is not None and viewport not in VIEWPORT_CLASSES:
        raise ValueError("viewport", f"must be one of {', '.join(VIEWPORT_CLASSES)}")
    asked = {p: args.get(p, "") for p in SEGMENT} if any(p in args for p in SEGMENT) else signed
    try:
        return viewport, segment_filters.parse(asked, skip=("page",))
    except segment_filters.FilterError as e:
        raise ValueError(e.param, e.reason) from None


def _segment_allowed(sig: str, args: dict[str, str]) -> bool:
    """True when ``args`` is a segment this link asked for before, or one of its first
    :data:`LINK_SEGMENTS` (kept in Redis as long as a link can live)."""
    redis = current_app.extensions["logdig"]["redis"]
    key = OVERLAY_SEGMENTS + hashlib.sha256(sig.encode()).hexdigest()
    member = json.dumps(args, sort_keys=True)
    pipe = redis.pipeline()
    pipe.sismember(key, member)
    pipe.scard(key)
    known, count = pipe.execute()
    if known:
        return True
    if count >= LINK_SEGMENTS:
        return False
    pipe.sadd(key, member)
    pipe.expire(key, OVERLAY_TTL)
    pipe.execute()
    return True


def _answer(body: dict, status: int, origin: str) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(field: str, reason: str, status: int, origin: str) -> Response:
    return _answer({"error": f"{field}: {reason}", "field": field, "status": status}, status, origin)


@public.get("/overlay/data")
def data() -> Response:
    from web.dashboard.views import reader

    now = current_app.extensions["logdig"]["clock"]()
    try:
        token, page, start, end, signed = verify(_secret(), request.args.get("sig", ""), now)
    except OverlayRefused as e:
        return _answer({"error": str(e), "field": "sig", "status": 403}, 403, "*")
    origin = _origin(page)
    try:
        viewport, f = _segment(request.args, signed)
    except ValueError as e:
        return _refused(*e.args, 400, origin)
    days = results.day_range(date.fromisoformat(start), date.fromisoformat(end))
    # the A/B heat maps are kept with the experiments' results: a variant alone needs no computation
    narrowed = f.without("variant")
    if not narrowed.empty:
        days = days[-segments.MAX_DAYS :]
        if not _segment_allowed(request.args.get("sig", ""), narrowed.args()):
            reason = f"this link has asked for {LINK_SEGMENTS} segments; open the overlay again from the dashboard"
            return _refused("segment", reason, 429, origin)
    try:
        found = segments.overlay_reader(reader(), token, days, narrowed.args())
    except segments.Computing:
        response = _answer(
            {"status": "computing", "retry_after": RETRY_SECONDS, "segment": f.args(), "field": "segment"},
            202,
            origin,
        )
        response.headers["Retry-After"] = str(RETRY_SECONDS)
        return response
    except BadRequest as e:  # too many events in the range
        field, _, reason = str(e.description).partition(": ")
        return _refused(field or "from", reason, 400, origin)
    except ServiceUnavailable as e:  # the computation failed: another try starts it again
        response = _refused("segment", e.description, 503, origin)
        response.headers["Retry-After"] = str(RETRY_SECONDS)
        return response
    try:
        body = overlay_data(found, token, page, days, viewport=viewport, variant=f.variant)
    except guard.SHAPE_ERRORS:  # results edited, another tool's or damaged: say which, not a 500
        log.exception("overlay data of %s from %s to %s", token, days[0], days[-1])
        said = guard.note(days[0], days[-1], token)
        return _refused("results", said, 409, origin)
    extra = {"computed_seconds": found.meta.get("seconds")} if isinstance(found, segments.FilteredResults) else {}
    return _answer({"page": page, "from": days[0], "to": days[-1], "segment": f.args(), **extra, **body}, 200, origin)


@public.get("/overlay.js")
def script() -> Response:
    body = b"".join(part.read_bytes() for part in PARTS)
    response = Response(
        b"(function (w, d) {\n'use strict';\n" + body + b"})(window, document);\n", mimetype="text/javascript"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.add_etag()
    return response.make_conditional(request)

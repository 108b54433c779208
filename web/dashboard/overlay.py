"""The on-page heat-map overlay: a signed, expiring link and the data behind it.

1. The page view links to the real page with ``?logdig_overlay=<signed>``. The signed
   value names the site token, the page and the date range, and expires after
   ``OVERLAY_TTL`` seconds. It is an HMAC (itsdangerous) keyed by the dashboard's
   shared secret, with a salt of its own so no other signed value can pass for it.
2. The tracker sees the parameter and adds ``<script src="COLLECTOR/overlay.js">``.
3. overlay.js reads the parameter and fetches ``/overlay/data?sig=...`` (CORS, no
   cookies). A valid, unexpired signature gets the page's layers
   (``web.dashboard.overlaydata``: clicks with users per cell, movement, attention,
   scroll reach, the click map with dead clicks); anything else gets 403 and the
   overlay says so. ``viewport`` (desktop|tablet|mobile: a layout class) and ``variant``
   (``experiment:variant``) restrict it, from the overlay's pickers; a bad value, or a
   segment the stored results cannot answer, gets 400 naming the parameter.

These two routes are open to any browser, since the page is another site's: the
signature is the credential, and it only ever grants one page's heat map.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer

from logdig.queue import shared_secret
from web.dashboard import results
from web.dashboard.overlaydata import VIEWPORT_CLASSES, overlay_data

OVERLAY_TTL = 2 * 3600  # seconds a link works: long enough to look, short enough to leak little
PARAM = "logdig_overlay"
# Segments the stored results cannot answer yet (they need a filtered computation).
UNANSWERED = ("device", "visitor", "source", "utm_source", "utm_campaign", "channel", "country", "browser")
SALT = "logdig-overlay"
STATIC = Path(__file__).resolve().parent / "static"
# overlay.js (fetching, the panel) and overlay-layers.js (drawing) served as one script,
# inside one function: their declarations stay private, the page gets no global.
PARTS = (STATIC / "overlay-layers.js", STATIC / "overlay.js")

public = Blueprint("overlay", __name__)


class OverlayRefused(Exception):
    """A forged, malformed or expired signature."""


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def sign(secret: bytes, token: str, page: str, start: str, end: str, now: float) -> str:
    return _serializer(secret).dumps([token, page, start, end, int(now) + OVERLAY_TTL])


def verify(secret: bytes, value: str, now: float) -> tuple[str, str, str, str]:
    """(token, page, start, end), or OverlayRefused."""
    try:
        token, page, start, end, expires = _serializer(secret).loads(value)
    except (BadSignature, ValueError, TypeError):
        raise OverlayRefused("invalid signature") from None
    if now > expires:
        raise OverlayRefused("this overlay link has expired; open it again from the dashboard")
    return token, page, start, end


def _secret() -> bytes:
    return shared_secret(current_app.extensions["logdig"]["redis"])


def overlay_link(f) -> str:
    """The page's own URL with the signed parameter (pages are stored without a query)."""
    value = sign(
        _secret(), f.token, f.page, f.start.isoformat(), f.end.isoformat(), current_app.extensions["logdig"]["clock"]()
    )
    return f"{f.page}{'&' if '?' in f.page else '?'}{PARAM}={value}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _segment(args) -> tuple[str | None, str | None]:
    """(viewport class, variant) from the query, or ValueError(field, reason)."""
    viewport = args.get("viewport") or None
    if viewport is not None and viewport not in VIEWPORT_CLASSES:
        raise ValueError("viewport", f"must be one of {', '.join(VIEWPORT_CLASSES)}")
    variant = args.get("variant") or None
    if variant is not None:
        name, _, arm = variant.partition(":")
        if not name or not arm or len(variant) > 400:
            raise ValueError("variant", "must be experiment:variant")
    for name in UNANSWERED:
        if args.get(name):
            raise ValueError(name, "the overlay cannot restrict to this segment yet (only viewport and variant)")
    return viewport, variant


def _answer(body: dict, status: int, origin: str) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@public.get("/overlay/data")
def data() -> Response:
    from datetime import date

    from web.dashboard.views import reader

    now = current_app.extensions["logdig"]["clock"]()
    try:
        token, page, start, end = verify(_secret(), request.args.get("sig", ""), now)
    except OverlayRefused as e:
        return _answer({"error": str(e), "field": "sig", "status": 403}, 403, "*")
    try:
        viewport, variant = _segment(request.args)
    except ValueError as e:
        field, reason = e.args
        return _answer({"error": f"{field}: {reason}", "field": field, "status": 400}, 400, _origin(page))
    days = results.day_range(date.fromisoformat(start), date.fromisoformat(end))
    body = overlay_data(reader(), token, page, days, viewport=viewport, variant=variant)
    return _answer({"page": page, "from": start, "to": end, **body}, 200, _origin(page))


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

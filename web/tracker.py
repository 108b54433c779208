"""The tracker file and the demo site.

- `GET /clicktracker.js`: the built tracker (clicktracker/dist/clicktracker.js), with a
  strong ETag, conditional GET (304) and a short public cache, since its URL carries no
  version.
- `GET /clicktracker-heatmap.js`: the opt-in heat-map module (mouse movement, attention,
  dead clicks) that the tracker loads when its tag has `data-heatmap`; the same headers.
- `GET /demo/...`: a small site with the tracker installed (the HTML fixtures that the
  browser tests use), so a newcomer sees events arrive without a site of their own.
  It exists only when the app has a demo token (`logdig dev` and the tests set
  `LOGDIG_DEMO_TOKEN`); elsewhere `/demo/` is a 404.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request

bp = Blueprint("tracker", __name__)

CLICKTRACKER = Path(__file__).resolve().parent.parent / "clicktracker"
TRACKER_FILE = CLICKTRACKER / "dist" / "clicktracker.js"
HEATMAP_FILE = CLICKTRACKER / "dist" / "clicktracker-heatmap.js"
DEMO_DIR = CLICKTRACKER / "fixtures"
# The URL has no version in it, so caches keep it briefly and then revalidate (ETag).
TRACKER_CACHE = "public, max-age=3600, stale-while-revalidate=86400"
# What a demo page shows of the stored events, newest first.
RECENT_EVENTS = 30
RECENT_OBJECTS = 200

_cache: dict[str, tuple[float, bytes, str]] = {}


def _read(path: Path) -> tuple[bytes, str]:
    """File bytes and their ETag, re-read only when the file changes."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        abort(404, f"{path.name} is not built: run `npm ci && npm run build` in clicktracker/")
    cached = _cache.get(str(path))
    if cached is None or cached[0] != mtime:
        data = path.read_bytes()
        cached = (mtime, data, hashlib.sha256(data).hexdigest()[:32])
        _cache[str(path)] = cached
    return cached[1], cached[2]


@bp.get("/clicktracker.js")
def clicktracker() -> Response:
    return _script(TRACKER_FILE)


@bp.get("/clicktracker-heatmap.js")
def clicktracker_heatmap() -> Response:
    return _script(HEATMAP_FILE)


def _script(path: Path) -> Response:
    data, etag = _read(path)
    response = Response(data, mimetype="text/javascript")
    response.set_etag(etag)
    response.headers["Cache-Control"] = TRACKER_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Pages that require CORP for their subresources (COEP) may still load it.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


def install_tag(token: str, src: str = "/clicktracker.js", **options: str) -> str:
    """The one-line install snippet; options become data- attributes (endpoint, track...)."""
    attrs = "".join(f' data-{k.replace("_", "-")}="{html.escape(v)}"' for k, v in options.items())
    return f'<script async src="{html.escape(src)}" data-token="{html.escape(token)}"{attrs}></script>'


def render_page(name: str, tag: str) -> str:
    """A demo/fixture page with its `{{tracker}}` placeholder replaced by the install tag."""
    return (DEMO_DIR / name).read_text(encoding="utf-8").replace("{{tracker}}", tag)


def _demo_token() -> str:
    token = current_app.config.get("LOGDIG_DEMO_TOKEN")
    if not token:
        abort(404, "the demo site runs with `logdig dev`")
    return token


def _page(name: str) -> Response:
    tag = install_tag(_demo_token(), track=".tile", heatmap="") + '\n<script defer src="/demo/panel.js"></script>'
    response = Response(render_page(name, tag), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/demo/")
def demo_index() -> Response:
    return _page("index.html")


@bp.get("/demo/<name>.html")
def demo_page(name: str) -> Response:
    if not (DEMO_DIR / f"{name}.html").is_file() or "/" in name:
        abort(404, f"no demo page {name}.html")
    return _page(f"{name}.html")


@bp.get("/demo/spa/")
@bp.get("/demo/spa/<path:route>")
def demo_spa(route: str = "") -> Response:
    # A pushState app: every route of it is the same page, which renders the URL.
    return _page("spa.html")


@bp.get("/demo/panel.js")
def demo_panel() -> Response:
    _demo_token()
    data, etag = _read(DEMO_DIR / "panel.js")
    response = Response(data, mimetype="text/javascript")
    response.set_etag(etag)
    return response.make_conditional(request)


@bp.get("/demo/recent")
def demo_recent() -> Response:
    """The demo site's newest stored events (today's and yesterday's objects), for the
    panel on the demo pages: what the pipeline wrote, not what the browser sent."""
    token = _demo_token()
    ext = current_app.extensions["logdig"]
    store = ext["store"] or ext["store_factory"]()
    today = datetime.now(UTC).date()
    events = []
    for day in (today, today - timedelta(days=1)):
        for n, key in enumerate(store.list(f"{day.isoformat()}/")):
            if n >= RECENT_OBJECTS:
                break
            for line in store.get(key).splitlines():
                event = json.loads(line)
                if event.get("token") == token:
                    events.append(event)
    events.sort(key=lambda e: e.get("received_at", ""), reverse=True)
    keep = ("type", "received_at", "current_page", "link", "name", "variant", "x", "y", "rage", "scroll_depth")
    recent = [{k: e.get(k) for k in keep if e.get(k) is not None} for e in events[:RECENT_EVENTS]]
    return jsonify({"events": recent, "stored": len(events), "where": store.description})

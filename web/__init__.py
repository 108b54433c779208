"""The collector: a Flask application factory.

No module-level clients: create_app() builds the Redis client, queue and store from
Settings (or takes them injected, as tests and `logdig dev` do).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable

from flask import Flask, jsonify
from redis import Redis
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from logdig.config import Settings
from logdig.events import Privacy, user_agent
from logdig.geo import countries
from logdig.queue import EventQueue, IngestLimits, Sites, connect
from logdig.storage import ObjectStore, open_store

log = logging.getLogger("logdig.web")

# Blueprints that other parts of LogDig add when present (tracker, dashboard, Stats API).
OPTIONAL_BLUEPRINTS = ("web.tracker", "web.dashboard", "web.api")


def create_app(
    settings: Settings | None = None,
    redis: Redis | None = None,
    store: ObjectStore | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # Never the debugger or tracebacks, whatever FLASK_DEBUG says: errors are JSON.
    app.config.update(DEBUG=False, PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)
    redis = redis if redis is not None else connect(settings.redis_url)
    app.extensions["logdig"] = {
        "settings": settings,
        "redis": redis,
        "queue": EventQueue(redis),
        "sites": Sites(redis),
        "store": store,
        "store_factory": lambda: open_store(settings),
        "clock": clock,
        # Built once: the collector's hot path reads them for every request.
        "privacy": Privacy(settings.store_ip, settings.url_query),
        "countries": countries(settings.geoip_db),  # client IP -> country code, cached
        "limits": IngestLimits(
            settings.queue_max,
            settings.dedupe_window,
            settings.rate_ip,
            settings.rate_token,
            # one client IP's share of a token's events; at least 1 when the share is on
            token_ip_limit=max(1, settings.rate_token * settings.rate_token_ip_share // 100)
            if settings.rate_token and settings.rate_token_ip_share
            else 0,
        ),
    }
    # Flask/werkzeug refuse larger bodies before we read them (413).
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    if settings.proxy_hops:
        # Behind N trusted proxies, the client IP is the Nth X-Forwarded-For from the right.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)

    from web.collector import bp as collector

    # Compile the user-agent rules now, not on a visitor's first request.
    user_agent("Mozilla/5.0")

    app.register_blueprint(collector)
    for name in OPTIONAL_BLUEPRINTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        app.register_blueprint(module.bp)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        response = jsonify({"error": e.description, "field": "request", "status": e.code})
        return response, e.code

    @app.errorhandler(RedisError)
    def redis_down(e: RedisError):
        log.error("redis unavailable: %s", e)
        response = jsonify({"error": "queue unavailable, retry later", "field": "queue", "status": 503})
        response.headers["Retry-After"] = "5"
        return response, 503

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        # A bug on our side: log it, answer JSON, never a traceback to the client.
        log.exception("unhandled error")
        return jsonify({"error": "internal error", "field": "server", "status": 500}), 500

    return app

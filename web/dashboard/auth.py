"""The admin login, the session cookie, CSRF tokens and the security headers.

- One password, ``LOGDIG_ADMIN_PASSWORD``. Empty, short or a known default
  (``logdig.config.weak_password``): nobody can log in, the log says why once at start
  and the login page says why (with no form). The collector is not affected.
- The cookie is Flask's signed session, keyed by ``logdig.queue.shared_secret`` (one
  random key in Redis, so every gunicorn worker accepts every other's cookies). It
  holds only a random session id and the CSRF token, nothing derived from the
  password; the session itself is in Redis (``logdig.sessions``): 12 h from login
  however active, ended by logout, a password change and ``logdig sessions revoke``.
  The cookie is HttpOnly, SameSite=Lax, limited to ``/dashboard``, and Secure unless
  turned off for plain http (``cookie_secure``; web/dashboard/README.md).
- Redis down: every dashboard page answers 503 saying so (and the log has the detail).
- Every POST under /dashboard must carry the session's CSRF token (``csrf_token``).
- Login attempts are counted per client IP with ``logdig.locks.RateLimits``:
  ``LOGIN_LIMIT`` per ``LOGIN_WINDOW`` seconds, then 429 with Retry-After; a
  successful login clears the count.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import posixpath
import secrets
import unicodedata
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import NullSession, SecureCookieSessionInterface
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from logdig.config import ADMIN_PASSWORD_MIN, weak_password
from logdig.locks import RateLimits
from logdig.queue import shared_secret
from logdig.sessions import LIFETIME, SessionStore

log = logging.getLogger("logdig.dashboard")

LOGIN_LIMIT = 5  # login attempts per client IP per window, before 429
LOGIN_WINDOW = 300  # seconds
OPEN_ENDPOINTS = {"dashboard.ui.login", "dashboard.ui.static"}
REDIS_DOWN = (
    "Right now the dashboard's database (Redis) is unreachable, so nobody can log in or see data. "
    "Check that Redis is running and that LOGDIG_REDIS_URL points at it; the dashboard works again "
    "as soon as Redis answers. The details are in the web service's log."
)

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def ctx() -> dict:
    return current_app.extensions["logdig"]


class SharedSecretSession(SecureCookieSessionInterface):
    """Flask's signed-cookie session, keyed lazily by the secret shared in Redis, so the
    collector starts (and answers 503) even while Redis is down."""

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:
            try:
                app.secret_key = shared_secret(app.extensions["logdig"]["redis"])
            except RedisError as e:
                g.redis_error = e  # before() answers 503 with it
                return None
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request):
        # Browsers send the cookie to the dashboard's path only. Elsewhere (the collector's
        # POST /logs above all) a null session: no signing serializer, nothing to save.
        if not request.path.startswith(self.get_cookie_path(app)):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookie_secure(app)


def cookie_secure(app: Flask) -> bool:
    """app.config["LOGDIG_COOKIE_SECURE"] when set, else the setting LOGDIG_COOKIE_SECURE
    ("off" for plain http other than localhost) once Settings has it, else on."""
    configured = app.config.get("LOGDIG_COOKIE_SECURE")
    if configured is not None:
        return bool(configured)
    return str(getattr(app.extensions["logdig"]["settings"], "cookie_secure", "on")).lower() != "off"


def init_app(state) -> None:
    app = state.app
    app.session_interface = SharedSecretSession()
    app.config.update(
        SESSION_COOKIE_NAME="logdig_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/dashboard",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=LIFETIME),  # the server's limit is the one that counts
    )
    shared = app.extensions["logdig"]
    shared["sessions"] = SessionStore(shared["redis"], clock=shared["clock"])
    shared["sessions_synced"] = False
    shared["locked"] = weak_password(shared["settings"].admin_password)
    if shared["locked"]:
        log.warning(
            "the dashboard is locked: %s (it needs %d or more characters and not a known default); "
            "nobody can log in until it is set and the web service restarted. The collector keeps working.",
            shared["locked"],
            ADMIN_PASSWORD_MIN,
        )


def _password() -> str:
    return ctx()["settings"].admin_password


def _sessions() -> SessionStore:
    return ctx()["sessions"]


def logged_in() -> bool:
    if "logged_in" not in g:
        g.logged_in = not ctx()["locked"] and _sessions().valid(session.get("sid", ""), _password())
    return g.logged_in


def logged_in_page() -> bool:
    """``logged_in`` for templates: an error page drawn while Redis is down must not fail."""
    try:
        return logged_in()
    except RedisError as e:
        log.error("dashboard: Redis is unreachable (%s)", e)
        g.logged_in = False
        return False


def _sync_once() -> None:
    """On this process' first dashboard request: if the sessions in Redis were made under
    another password, end them all (the password changed, and the process restarted)."""
    if not ctx()["sessions_synced"]:
        ended = _sessions().sync(_password())
        ctx()["sessions_synced"] = True
        if ended:
            log.warning("the admin password changed: ended %d dashboard sessions", ended)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "The form expired or did not come from this dashboard (CSRF check). Reload the page and retry.")


def before() -> object | None:
    if request.endpoint == "dashboard.ui.static":
        return None
    if isinstance(session, NullSession):  # no signing key: Redis was unreachable
        raise g.get("redis_error") or ServiceUnavailable(REDIS_DOWN)
    _sync_once()
    if request.method == "POST":
        _check_csrf()
    if request.endpoint in OPEN_ENDPOINTS or logged_in():
        return None
    return redirect(url_for("dashboard.ui.login", next=request.full_path if request.method == "GET" else None))


def security_headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "dashboard.ui.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _unsafe_char(text: str) -> bool:
    return "\\" in text or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a normalised path inside the dashboard, else None: never an
    open redirect, a header injection (a 500) or a path that climbs out with ``..``."""
    if not target or _unsafe_char(target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    path = unquote(parts.path)
    if parts.scheme or parts.netloc or not path.startswith("/dashboard/") or "//" in path or _unsafe_char(path):
        return None
    normal = posixpath.normpath(path)
    return target if path in (normal, normal + "/") else None


def _matches(given: str, password: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(password.encode()).digest())


def login():
    password, locked = _password(), ctx()["locked"]
    status, error, retry = 200, None, 0
    if request.method == "GET":
        ctx()["redis"].ping()  # Redis down: say so now (503), not after the password is typed
        if logged_in():
            return redirect(_safe_next(request.args.get("next")) or url_for("dashboard.ui.overview"))
    if request.method == "POST":
        who = request.remote_addr or "-"
        limits = RateLimits(ctx()["redis"])
        retry = limits.hit("login", who, LOGIN_LIMIT, LOGIN_WINDOW)
        if retry:
            status, error = 429, f"Too many login attempts. Try again in {retry} seconds."
        elif locked:
            status, error = 403, "Logging in is disabled: the admin password is not safe to use."
        elif _matches(request.form.get("password", ""), password):
            limits.reset("login", who)
            session.clear()
            session.permanent = True
            session["sid"] = _sessions().start(password)
            session["csrf"] = secrets.token_urlsafe(32)
            return redirect(_safe_next(request.form.get("next")) or url_for("dashboard.ui.overview"))
        else:
            status, error = 403, "Wrong password."
    page = render_template(
        "dashboard/login.html",
        locked=locked,
        minimum=ADMIN_PASSWORD_MIN,
        error=error,
        next=_safe_next(request.values.get("next")) or "",
    )
    return page, status, {"Retry-After": str(retry)} if retry else {}


def logout():
    _sessions().end(session.get("sid", ""))
    session.clear()
    return redirect(url_for("dashboard.ui.login"))


def error_page(e: HTTPException):
    """The dashboard's error page, with the exception's own headers (Retry-After of a view
    still being computed, Allow of a 405)."""
    headers = [(k, v) for k, v in e.get_headers() if k.lower() != "content-type"]
    return render_template("dashboard/error.html", error=e), e.code or 500, headers


def redis_down(e: RedisError):
    log.error("dashboard: Redis is unreachable (%s); answering 503", e)
    g.logged_in = False  # the page itself must not ask Redis again
    page = render_template("dashboard/error.html", error=ServiceUnavailable(REDIS_DOWN))
    return page, 503, {"Retry-After": "5"}


def init(bp: Blueprint) -> None:
    bp.before_request(before)
    bp.after_request(security_headers)
    bp.context_processor(lambda: {"csrf_token": csrf_token, "logged_in": logged_in_page})
    bp.register_error_handler(HTTPException, error_page)
    bp.register_error_handler(RedisError, redis_down)
    bp.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])

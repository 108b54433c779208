"""The admin login, the session cookie, CSRF tokens and the security headers.

- One password, ``LOGDIG_ADMIN_PASSWORD``. Empty: nobody can log in, and the login
  page says how to set it.
- The session is Flask's signed cookie, keyed by ``logdig.queue.shared_secret`` (one
  random key in Redis, so every gunicorn worker accepts every other's cookies). It is
  HttpOnly, SameSite=Lax, limited to ``/dashboard``, valid ``SESSION_HOURS``, and
  Secure unless turned off for plain http (``cookie_secure``; web/dashboard/README.md). It also holds a fingerprint of the password, so changing
  the password logs every session out.
- Every POST under /dashboard must carry the session's CSRF token (``csrf_token``).
- Login attempts are counted per client IP with ``logdig.queue.RateLimits``:
  ``LOGIN_LIMIT`` per ``LOGIN_WINDOW`` seconds, then 429 with Retry-After; a
  successful login clears the count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from logdig.queue import RateLimits, shared_secret

LOGIN_LIMIT = 5  # login attempts per client IP per window, before 429
LOGIN_WINDOW = 300  # seconds
SESSION_HOURS = 12  # a login lasts a working day
OPEN_ENDPOINTS = {"dashboard.ui.login", "dashboard.ui.static"}

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
            except RedisError:
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
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )


def _password() -> str:
    return ctx()["settings"].admin_password


def _fingerprint(password: str) -> str:
    return hashlib.sha256(b"logdig-admin:" + password.encode()).hexdigest()[:24]


def logged_in() -> bool:
    password = _password()
    return bool(password) and hmac.compare_digest(session.get("admin", ""), _fingerprint(password))


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


def _safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect."""
    if target and target.startswith("/dashboard/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.ui.overview")


def _matches(given: str, password: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(password.encode()).digest())


def login():
    password = _password()
    status, error, retry = 200, None, 0
    if request.method == "POST":
        who = request.remote_addr or "-"
        limits = RateLimits(ctx()["redis"])
        retry = limits.hit("login", who, LOGIN_LIMIT, LOGIN_WINDOW)
        if retry:
            status, error = 429, f"Too many login attempts. Try again in {retry} seconds."
        elif not password:
            status, error = 403, "Logging in is disabled until LOGDIG_ADMIN_PASSWORD is set."
        elif _matches(request.form.get("password", ""), password):
            limits.reset("login", who)
            session.clear()
            session.permanent = True
            session["admin"] = _fingerprint(password)
            return redirect(_safe_next(request.form.get("next")))
        else:
            status, error = 403, "Wrong password."
    page = render_template(
        "dashboard/login.html", locked=not password, error=error, next=request.values.get("next", "")
    )
    return page, status, {"Retry-After": str(retry)} if retry else {}


def logout():
    session.clear()
    return redirect(url_for("dashboard.ui.login"))


def error_page(e: HTTPException):
    return render_template("dashboard/error.html", error=e), e.code or 500


def init(bp: Blueprint) -> None:
    bp.before_request(before)
    bp.after_request(security_headers)
    bp.context_processor(lambda: {"csrf_token": csrf_token, "logged_in": logged_in})
    bp.register_error_handler(HTTPException, error_page)
    bp.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])

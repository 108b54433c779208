"""Login rules that need no browser: Flask's test client against a real redis-server.

A redis-server of their own: a new password ends every session in its Redis, and the
browser tests' logged-in session lives in the shared one."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from logdig.config import Settings
from logdig.queue import connect
from tests.helpers import private_redis
from web import create_app

CLIENT = {"REMOTE_ADDR": "192.0.2.1"}  # not the browser tests' 127.0.0.1, whose limit they count
PW = "a strong admin password"  # 12 or more characters, or the dashboard stays locked


@pytest.fixture(scope="module")
def redis_server() -> Iterator[str]:
    with private_redis() as server:
        yield server.url


def _app(redis_server: str, password: str, **config):
    app = create_app(Settings(redis_url=redis_server, admin_password=password), redis=connect(redis_server))
    app.config.update(config)
    return app


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _login(client, password: str):
    csrf = _csrf(client.get("/dashboard/login", environ_base=CLIENT))
    return client.post("/dashboard/login", data={"password": password, "csrf_token": csrf}, environ_base=CLIENT)


def test_no_password_set_means_nobody_logs_in(redis_server):
    client = _app(redis_server, "").test_client()
    page = client.get("/dashboard/login")
    assert page.status_code == 200 and "LOGDIG_ADMIN_PASSWORD is not set" in page.text
    assert "<form" not in page.text  # nothing to fill in
    assert client.post("/dashboard/login", data={"password": ""}, environ_base=CLIENT).status_code in (400, 403)
    assert client.get("/dashboard/").status_code == 302


def test_the_session_cookie_is_secure_httponly_and_samesite(redis_server):
    client = _app(redis_server, PW).test_client()
    answer = _login(client, PW)
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/dashboard"):
        assert flag in cookie, cookie
    assert client.get("/dashboard/health", environ_base=CLIENT).status_code == 200


def test_plain_http_can_turn_the_secure_flag_off(redis_server):
    client = _app(redis_server, PW, LOGDIG_COOKIE_SECURE=False).test_client()
    cookie = _login(client, PW).headers["Set-Cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_a_new_password_ends_old_sessions(redis_server):
    old = _app(redis_server, "old admin password")
    client = old.test_client()
    assert _login(client, "old admin password").status_code == 302
    cookie = client.get_cookie("logdig_session", path="/dashboard")
    # Another process with the same Redis (so the same signing secret) takes the cookie...
    for password, status in (("old admin password", 200), ("new admin password", 302)):
        other = _app(redis_server, password).test_client()
        other.set_cookie("logdig_session", cookie.value, path="/dashboard")
        assert other.get("/dashboard/health", environ_base=CLIENT).status_code == status, password


def test_login_redirects_only_inside_the_dashboard(redis_server):
    client = _app(redis_server, PW).test_client()
    csrf = _csrf(client.get("/dashboard/login", environ_base=CLIENT))
    for target, expected in [
        ("/dashboard/health", "/dashboard/health"),
        ("https://evil.example/", "/dashboard/"),
        ("//evil.example/dashboard/", "/dashboard/"),
    ]:
        client.post("/dashboard/logout", data={"csrf_token": csrf}, environ_base=CLIENT)
        csrf = _csrf(client.get("/dashboard/login", environ_base=CLIENT))
        answer = client.post(
            "/dashboard/login", data={"password": PW, "csrf_token": csrf, "next": target}, environ_base=CLIENT
        )
        assert answer.headers["Location"] == expected, target
        csrf = _csrf(client.get("/dashboard/definitions", environ_base=CLIENT))

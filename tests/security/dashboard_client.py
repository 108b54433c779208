"""Helpers for the dashboard's security tests: an app on a real redis-server, a login
through the real form, and a look inside the session cookie as an attacker sees it."""

from __future__ import annotations

import base64
import json
import re
import zlib

from logdig.config import Settings
from logdig.queue import connect
from web import create_app

STRONG = "a long and strong admin password"
CLIENT = {"REMOTE_ADDR": "192.0.2.44"}  # its own login rate-limit bucket
COOKIE = "logdig_session"


def make_app(redis_url: str, password: str = STRONG, **create):
    return create_app(Settings(redis_url=redis_url, admin_password=password), redis=connect(redis_url), **create)


def csrf(page) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF token on the page ({page.status_code}):\n{page.text[:500]}"
    return found.group(1)


def login(client, password: str = STRONG, next_: str | None = None):
    token = csrf(client.get("/dashboard/login", environ_base=CLIENT))
    data = {"password": password, "csrf_token": token, **({"next": next_} if next_ is not None else {})}
    return client.post("/dashboard/login", data=data, environ_base=CLIENT)


def saved_cookie(client) -> str:
    cookie = client.get_cookie(COOKIE, path="/dashboard")
    assert cookie is not None, "no session cookie"
    return cookie.value


def replay(app, cookie: str, path: str = "/dashboard/"):
    """A fresh client (another browser, an attacker) that presents a saved cookie."""
    client = app.test_client()
    client.set_cookie(COOKIE, cookie, path="/dashboard")
    return client.get(path, environ_base=CLIENT)


def decode_cookie(value: str) -> object:
    """What anyone holding the cookie can read: Flask's signed cookie is base64 JSON
    (zlib-compressed when it starts with a dot) followed by a timestamp and a signature."""
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)

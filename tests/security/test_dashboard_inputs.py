"""The dashboard's login page and CSV export against hostile input, a weak admin
password and a Redis that is down: a clear answer every time, never a 500."""

from __future__ import annotations

import csv
import html
import io
import logging
import re
import socket
from urllib.parse import quote, unquote

import pytest
from click.testing import CliRunner

from logdig.cli import main
from logdig.queue import Sites, connect
from tests.helpers import make_event, private_redis
from tests.security.dashboard_client import CLIENT, STRONG, csrf, login, make_app, replay, saved_cookie

# --- CSV cells a spreadsheet would run as a formula -----------------------------------

DISGUISED = [
    " =1+1",
    "  +cmd|' /C calc'!A0",
    '\n=HYPERLINK("https://evil.example")',
    "\r\n-2+3",
    "\t@SUM(1)",
    "\u3000=1+1",  # ideographic space
    "\u00a0=1+1",  # no-break space
    '\uff1dHYPERLINK("https://evil.example")',  # full-width =
    "\uff0b1",  # full-width +
    "\uff0d1",  # full-width -
    "\uff20SUM(1)",  # full-width @
    " \uff1d1",
]
HARMLESS = ["plain shop", "a=b", "shop - east", " indented name"]


def test_csv_export_neutralises_disguised_formulas(redis_server, redis, tmp_path):
    sites = Sites(connect(redis_server))
    for name in DISGUISED + HARMLESS:
        sites.create(name)
    app = make_app(redis_server)
    client = app.test_client()
    assert login(client).status_code == 302
    answer = client.get("/dashboard/export/health/sites.csv", environ_base=CLIENT)
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.text, newline="")))
    names = {row[0] for row in rows[1:]}
    for name in DISGUISED:
        assert "'" + name in names, f"{name!r} left as is: {sorted(names)}"
    for name in HARMLESS:
        assert name in names, f"{name!r} was changed: {sorted(names)}"


# --- next= on the login page ------------------------------------------------------------

NASTY_NEXT = [
    "/dashboard/\r\nSet-Cookie: x=1",
    "/dashboard/health\r\n",
    "/dashboard/../logs",
    "/dashboard/%2e%2e/logs",
    "/dashboard/./health",
    "/dashboard//evil.example/",
    "/dashboard/\\evil.example",
    "/dashboard/\x00",
    "/dashboard/\u2028x",
    "/logs",
    "https://evil.example/dashboard/",
    "//evil.example/dashboard/",
    "javascript:alert(1)//dashboard/",
    "/dashboard",
]
GOOD_NEXT = ["/dashboard/health", "/dashboard/", "/dashboard/page?page=https%3A%2F%2Fshop.example%2Fa&vc=desktop"]


@pytest.mark.parametrize("target", NASTY_NEXT)
def test_login_next_goes_only_to_a_dashboard_page(redis_server, redis, target):
    app = make_app(redis_server)
    answer = login(app.test_client(), next_=target)
    assert answer.status_code == 302, answer.status_code
    assert answer.headers["Location"] == "/dashboard/", answer.headers["Location"]
    page = app.test_client().get("/dashboard/login?next=" + quote(target, safe=""), environ_base=CLIENT)
    assert page.status_code == 200
    hidden = re.search(r'name="next" value="([^"]*)"', page.text).group(1)
    assert hidden in ("", "/dashboard/"), f"login page kept next={hidden!r}"


def test_login_next_keeps_real_dashboard_pages(redis_server, redis):
    client = make_app(redis_server).test_client()
    for target in GOOD_NEXT:
        page = client.get("/dashboard/login?next=" + quote(target, safe=""), environ_base=CLIENT)
        assert re.search(r'name="next" value="([^"]*)"', page.text).group(1).replace("&amp;", "&") == target
        assert login(client, next_=target).headers["Location"] == target
        token = csrf(client.get("/dashboard/health", environ_base=CLIENT))
        client.post("/dashboard/logout", data={"csrf_token": token}, environ_base=CLIENT)
    # A page asked for while logged out comes back after the login.
    asked = client.get("/dashboard/health?token=abc", environ_base=CLIENT)
    back = asked.headers["Location"].split("next=", 1)[1]
    assert login(client, next_=unquote(back)).headers["Location"] == "/dashboard/health?token=abc"


# --- a weak admin password locks the dashboard, not the collector -----------------------

WEAK = ["", "abc123", "eleven-char", "changeme", "CHANGEME", "minioadmin"]


@pytest.mark.parametrize("password", WEAK)
def test_a_weak_admin_password_locks_the_dashboard_only(redis_server, redis, caplog, password):
    from logdig.config import weak_password

    token = Sites(connect(redis_server)).create("site").token
    with caplog.at_level(logging.WARNING):
        app = make_app(redis_server, password)
    reason = weak_password(password)
    assert reason, password
    warned = [r for r in caplog.records if "LOGDIG_ADMIN_PASSWORD" in r.getMessage()]
    assert len(warned) == 1 and reason in warned[0].getMessage(), [r.getMessage() for r in caplog.records]
    assert not password or password not in warned[0].getMessage()
    client = app.test_client()
    page = client.get("/dashboard/login", environ_base=CLIENT)
    assert page.status_code == 200 and reason in page.text
    assert 'type="password"' not in page.text and "<form" not in page.text
    # Even a correct-looking POST gets no session.
    token_field = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    data = {"password": password, "csrf_token": token_field.group(1) if token_field else ""}
    refused = client.post("/dashboard/login", data=data, environ_base=CLIENT)
    assert refused.status_code in (400, 403)
    assert client.get("/dashboard/health", environ_base=CLIENT).status_code == 302
    assert len([r for r in caplog.records if "LOGDIG_ADMIN_PASSWORD" in r.getMessage()]) == 1  # once
    # The collector keeps working.
    assert client.post("/logs", json=[make_event(token)]).status_code == 202
    assert client.get("/healthz").status_code == 200
    assert client.get("/clicktracker.js").status_code == 200


def test_one_password_rule_for_the_dashboard_setup_and_dev():
    import secrets

    from logdig.config import weak_password

    assert weak_password("a long and strong admin password") is None
    assert weak_password(secrets.token_urlsafe(12)) is None  # what `logdig dev` generates
    for value in WEAK:
        assert weak_password(value)
    result = CliRunner().invoke(main, ["setup"], env={"LOGDIG_ADMIN_PASSWORD": "eleven-char", "LOGDIG_REDIS_URL": ""})
    assert result.exit_code == 1 and "LOGDIG_ADMIN_PASSWORD" in result.output and "12" in result.output
    assert "eleven-char" not in result.output


# --- Redis down: 503 with a page that says so --------------------------------------------

DOWN = "the dashboard's database (Redis) is unreachable"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_dashboard_answers_503_when_redis_was_never_there(caplog):
    app = make_app(f"redis://127.0.0.1:{_closed_port()}/0")
    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        for method, path in [("GET", "/dashboard/login"), ("POST", "/dashboard/login"), ("GET", "/dashboard/")]:
            answer = client.open(path, method=method, data={"password": STRONG}, environ_base=CLIENT)
            assert answer.status_code == 503, (method, path, answer.status_code)
            assert DOWN in html.unescape(answer.text) and "Traceback" not in answer.text
            assert answer.mimetype == "text/html"
    assert any("Redis" in r.getMessage() and "127.0.0.1" in r.getMessage() for r in caplog.records)
    assert client.get("/healthz").status_code == 200


def test_the_dashboard_answers_503_when_redis_stops(caplog):
    with private_redis() as server:
        app = make_app(server.url)
        client = app.test_client()
        assert login(client).status_code == 302
        cookie = saved_cookie(client)
        token = csrf(client.get("/dashboard/health", environ_base=CLIENT))
        server.proc.terminate()
        server.proc.wait(10)
        with caplog.at_level(logging.ERROR):
            for path in ("/dashboard/", "/dashboard/health", "/dashboard/login"):
                answer = replay(app, cookie, path)
                assert answer.status_code == 503, (path, answer.status_code)
                assert DOWN in html.unescape(answer.text) and "Traceback" not in answer.text
            answer = client.post("/dashboard/logout", data={"csrf_token": token}, environ_base=CLIENT)
            assert answer.status_code == 503 and DOWN in html.unescape(answer.text)
            forged = client.post("/dashboard/logout", data={"csrf_token": "x"}, environ_base=CLIENT)
            assert forged.status_code == 400 and "CSRF" in forged.text
        assert any("Redis" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


# --- dates at the ends of the calendar ---------------------------------------------------

CALENDAR_EDGE = [
    ("to=0001-01-01", "to"),  # the default from, 6 days before, overflowed the date type
    ("from=0001-01-01&to=0001-01-01", "to"),  # so did the 92-day cap's arithmetic
    ("from=0001-03-01&to=0001-03-01&device=mobile", "to"),  # and the previous period's
    ("from=0001-01-01&to=2026-01-01", "from"),
]
DATED_VIEWS = [
    "/dashboard/",
    "/dashboard/page?page=https%3A%2F%2Fshop.example%2F",
    "/dashboard/goals",
    "/dashboard/health",
    "/dashboard/export/overview/per_day.csv",
]


def test_a_day_at_the_start_of_the_calendar_is_a_400_naming_it(redis_server, redis):
    client = make_app(redis_server).test_client()
    assert login(client).status_code == 302
    for query, field in CALENDAR_EDGE:
        for view in DATED_VIEWS:
            answer = client.get(f"{view}{'&' if '?' in view else '?'}{query}", environ_base=CLIENT)
            assert answer.status_code == 400, (view, query, answer.status_code)
            assert f"{field} must be a day from 1970-01-01" in html.unescape(answer.text), (view, query)
    last = client.get("/dashboard/?from=9999-12-30&to=9999-12-31", environ_base=CLIENT)
    assert last.status_code == 200


def test_the_overlay_link_opens_only_pages_on_the_sites_origins(redis_server, redis):
    """Any client can send events naming a page on another host (the Origin header is its
    own to write): the dashboard must not send the admin there with a signed link."""
    token = Sites(connect(redis_server)).create("shop", ["https://shop.example"]).token
    client = make_app(redis_server).test_client()
    assert login(client).status_code == 302
    for page, linked in [
        ("https://shop.example/pricing", True),
        ("https://SHOP.example/pricing", True),
        ("https://evil.example/login-to-logdig", False),
        ("https://shop.example.evil.example/", False),
    ]:
        answer = client.get("/dashboard/page", query_string={"token": token, "page": page}, environ_base=CLIENT)
        assert answer.status_code == 200, page
        assert ('id="overlay-link"' in answer.text) is linked, page
        if not linked:
            assert "logdig_overlay" not in answer.text
            assert "not on one of the site's origins" in html.unescape(answer.text), page

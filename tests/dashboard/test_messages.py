"""What the dashboard says, without a browser: Flask's test client on a real redis-server,
over results the real analysis (DuckDB) computed from raw objects written here.

The visits are hand-built so every expected number is known: a funnel typed with the
address bar's trailing slash, a step that never matches, an experiment, one visitor who
follows a link once, rage clicks on a phone only, Windows and Mac desktops.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from analysis.definitions import Definitions, parse_experiment, parse_funnel
from logdig.config import Settings
from logdig.queue import Sites, connect
from logdig.storage import LocalStore
from web import create_app

PASSWORD = "messages test password"
CLIENT = {"REMOTE_ADDR": "192.0.2.13"}  # its own login rate limit
DAY = "2026-11-25"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SITE = "https://shop.example"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


class Events:
    """Raw events as the collector stores them (server fields included)."""

    def __init__(self, token: str):
        self.token, self.items, self.n = token, [], 0

    def add(self, user: str, type_: str, page: str, second: int, ua: str = WINDOWS, **fields) -> None:
        from logdig.events import user_agent

        self.n += 1
        at = (NOW - timedelta(hours=2) + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        event = {
            "event_id": f"e{self.n}",
            "token": self.token,
            "user_key": user,
            "type": type_,
            "timestamp": at,
            "received_at": at,
            "current_page": page,
            "link": None,
            "x": None,
            "y": None,
            "spent_milli_sec": 0,
            "user_agent": ua,
            "load_count": 1,
            **user_agent(ua),
        }
        event.update(fields)
        self.items.append(event)

    def write(self, store: LocalStore) -> None:
        body = "".join(json.dumps(e) + "\n" for e in self.items).encode()
        store.put(f"{DAY}/{hashlib.sha256(body).hexdigest()}.jsonl", body)


def visits(token: str) -> Events:
    ev = Events(token)
    # the funnel: /demo/ then /demo/spa/ (as the address bar shows them)
    for i, user in enumerate(("u1", "u2", "u3")):
        ev.add(user, "pageview", f"{SITE}/demo/", 10 * i, viewport_w=1280)
        ev.add(user, "exposure", f"{SITE}/demo/", 10 * i, name="hero", variant="control" if i else "bold")
    ev.add("u1", "pageview", f"{SITE}/demo/spa/", 100, viewport_w=1280)
    # one visitor follows one link once
    ev.add("u2", "click", f"{SITE}/demo/", 200, ua=MAC, link=f"{SITE}/demo/products.html", x=10.0, y=20.0,
           viewport_w=1280, selector="#nav-products", text="Products")  # fmt: skip
    # rage clicks on a phone only
    for k in range(4):
        ev.add("u3", "click", f"{SITE}/demo/", 300 + k, ua=IPHONE, link="button;primary;buy;buy;", x=50.0, y=60.0,
               viewport_w=390, selector="body>main:nth-child(2)>button", text="Buy now", rage=k >= 2)  # fmt: skip
    ev.add("u2", "pageview", f"{SITE}/demo/products.html", 210, ua=MAC, viewport_w=1280)
    return ev


@pytest.fixture(scope="module")
def site(redis_server, tmp_path_factory):
    from analysis.engines import duckdb_engine
    from analysis.run import analyze

    redis = connect(redis_server)
    redis.flushall()
    token = Sites(redis).create("shop").token
    defs = Definitions(redis)
    defs.put("funnel", parse_funnel({"name": "spa", "steps": ["url:*/demo/", "url:*/demo/spa/"], "token": token}))
    defs.put("funnel", parse_funnel({"name": "typo", "steps": ["url:*/demo/", "url:*/chekout"], "token": token}))
    defs.put("experiment", parse_experiment({"name": "hero", "goal": "url:*/demo/products.html", "token": token}))
    root = tmp_path_factory.mktemp("messages-data")
    store = LocalStore(root)
    visits(token).write(store)
    settings = Settings(redis_url=redis_server, data_dir=str(root), admin_password=PASSWORD)
    engine = duckdb_engine()
    try:
        analyze(engine, settings, store, [DAY], funnels=defs.funnels(), experiments=defs.experiments())
    finally:
        engine.close()
    app = create_app(settings, redis=redis, store=store, clock=NOW.timestamp)
    app.config["LOGDIG_COOKIE_SECURE"] = False
    yield app, token, store
    redis.flushall()


@pytest.fixture
def client(site):
    app, _token, _store = site
    c = app.test_client()
    login = c.get("/dashboard/login", environ_base=CLIENT)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    answer = c.post("/dashboard/login", data={"password": PASSWORD, "csrf_token": csrf}, environ_base=CLIENT)
    assert answer.status_code == 302, answer.text
    return c


def get(client, path: str, **args) -> str:
    answer = client.get(path, query_string=args, environ_base=CLIENT)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def text_of(html: str) -> str:
    """The page's text with tags dropped and white space squeezed."""
    import html as html_lib

    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))


# ---------------------------------------------------------------- item 4: funnel steps


def test_a_funnel_typed_with_the_trailing_slash_matches_and_a_dead_step_is_named(site, client):
    _app, token, _store = site
    page = text_of(get(client, "/dashboard/definitions", token=token, **{"from": DAY, "to": DAY}))
    spa = page[page.index("Funnel spa") :]
    # step 1: three users on /demo/, step 2: u1 on /demo/spa/ (typed with its slash)
    assert re.search(r"2 url \*/demo/spa 1 ", spa), spa[:300]
    assert "Step 2 (url */chekout) matched nothing in this range" in page
    assert "Step 2 (url */demo/spa) matched nothing" not in page

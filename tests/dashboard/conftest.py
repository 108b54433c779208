"""The dashboard's browser tests: real Chromium over data that went through the real
pipeline, set up once for the package.

A customer site (its own origin: the fixture pages here, with the tracker pointing at
the collector) gets visits from several browser contexts that click known elements.
Then the tracker's events are flushed from Redis into objects, the funnel and
experiment are defined through the dashboard's own forms, and the scheduled analysis
writes its results. Every expectation in the tests is derived from ``TRAFFIC``, what
the visits did, never typed in.

Screenshots go to $LOGDIG_ARTIFACTS (default: a temp folder), never into the repo.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from logdig.config import Settings
from logdig.locks import RateLimits
from logdig.queue import EventQueue, Sites, connect
from logdig.storage import LocalStore
from tests.conftest import LiveCollector, start_collector
from tests.helpers import StaticSite, make_event, post, private_redis
from web.tracker import CLICKTRACKER, TRACKER_FILE, install_tag

PASSWORD = "correct horse battery staple"
FIXTURES = Path(__file__).parent / "fixtures"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EXTERNAL_REFERRER = "https://search.example/?q=shop"
XSS_LINK = "<script>window.__xss=1</script>"
XSS_TEXT = '"><img src=x onerror="window.__xss=1">'
LONG_WORD = "W" * 8192


def tracker_source() -> bytes:
    """The real built tracker, unchanged: it loads the overlay itself on ?logdig_overlay=."""
    built = TRACKER_FILE.read_bytes()
    name = TRACKER_FILE.relative_to(CLICKTRACKER.parent)
    assert b"logdig_overlay" in built, f"{name} has no overlay hook: run `npm run build` in clicktracker/"
    return built


def artifacts() -> Path:
    path = Path(os.environ.get("LOGDIG_ARTIFACTS") or Path(tempfile.gettempdir()) / "logdig-artifacts") / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


class SiteServer(StaticSite):
    """The customer's site on its own origin: fixture pages with the tracker installed."""

    def __init__(self, token: str, collector: str):
        self.tag = install_tag(token, src="/clicktracker.js", endpoint=f"{collector}/logs")
        self.tracker = tracker_source()
        super().__init__()

    def route(self, path: str) -> tuple[bytes, str] | None:
        name = path.lstrip("/")
        if name == "clicktracker.js":
            return self.tracker, "text/javascript"
        if "/" in name or not (FIXTURES / name).is_file():
            return None
        page = (FIXTURES / name).read_text(encoding="utf-8").replace("{{tracker}}", self.tag)
        return page.encode(), "text/html; charset=utf-8"


@dataclass
class Visit:
    viewport: dict
    hot: int  # clicks on #hot, fast (they count as rage clicks)
    cold: int
    buy: bool
    scroll: bool
    referrer: str | None = None


# What the visitors do. The tests derive every expected number from this.
TRAFFIC = [
    Visit(DESKTOP, hot=5, cold=1, buy=True, scroll=True, referrer=EXTERNAL_REFERRER),
    Visit(DESKTOP, hot=5, cold=2, buy=False, scroll=True, referrer=EXTERNAL_REFERRER),
    Visit(DESKTOP, hot=4, cold=1, buy=True, scroll=False),
    Visit(DESKTOP, hot=3, cold=0, buy=False, scroll=False),
    Visit(PHONE, hot=3, cold=0, buy=True, scroll=True),
]


@dataclass
class World:
    settings: Settings
    collector: LiveCollector
    site: SiteServer
    token: str
    admin_state: dict
    boxes: dict[str, dict] = field(default_factory=dict)  # element id -> page box at 1280 px

    @property
    def dashboard(self) -> str:
        return f"{self.collector.url}/dashboard"

    def page_url(self, name: str = "shop.html") -> str:
        return f"{self.site.url}/{name}"

    def reset_login_limit(self) -> None:
        RateLimits(connect(self.settings.redis_url)).reset("login", "127.0.0.1")


class Tab:
    """A page that records console errors and page errors, to print when a test fails."""

    def __init__(self, page):
        self.page, self.errors = page, []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


def wait_sent(page, timeout: float = 15) -> None:
    """Until the tracker's outbox is empty: everything reached the collector. The tracker
    keeps new events in memory for up to 300 ms before its stored outbox shows them, so
    wait past that first."""
    page.wait_for_function("() => window.logdig && window.logdig.track", timeout=timeout * 1000)
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => JSON.parse(localStorage.getItem('logdig_q') || '[]').length === 0", timeout=timeout * 1000
    )


def visit(browser, world: World, v: Visit) -> None:
    context = browser.new_context(viewport=v.viewport)
    page = context.new_page()
    page.goto(world.page_url(), referer=v.referrer) if v.referrer else page.goto(world.page_url())
    wait_sent(page)
    for _ in range(v.hot):
        page.click("#hot", delay=10)
    for _ in range(v.cold):
        page.click("#cold")
    if v.buy:
        page.click("#buy")
    if v.scroll:
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_timeout(100)
    page.click("#next")
    page.wait_for_url("**/checkout.html")
    wait_sent(page)
    context.close()


def xss_visit(browser, world: World) -> None:
    """A visitor who clicks an element whose class and text are markup."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(world.page_url())
    wait_sent(page)
    page.evaluate(
        """([cls, text]) => { const b = document.createElement('button'); b.className = cls;
        b.textContent = text; b.id = 'evil'; b.style.position = 'absolute'; b.style.left = '700px';
        b.style.top = '300px'; document.body.append(b); }""",
        [XSS_TEXT, XSS_LINK],
    )
    page.click("#evil")
    wait_sent(page)
    context.close()
    # And one sent by hand, as an attacker would: markup in the link, selector and referrer,
    # and the longest text and URL the schema takes (each one table cell, not a page of it).
    page, referrer = world.page_url(), f"https://evil.example/{XSS_TEXT}/{LONG_WORD[:8000]}"
    events = [
        make_event(
            world.token,
            current_page=page,
            link=XSS_LINK,
            selector=XSS_TEXT,
            text=f"{XSS_LINK} {LONG_WORD[:2000]}",
            viewport_w=1280,
        ),
        make_event(world.token, current_page=page, type="pageview", link=None, x=None, y=None, referrer=referrer),
    ]
    status, _headers, body = post(f"{world.collector.url}/logs", events, headers={"Origin": world.site.url})
    assert status == 202 and body["accepted"] == 2, body


def login_state(browser, world: World) -> dict:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{world.dashboard}/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.dashboard}/")
    state = context.storage_state()
    context.close()
    return state


def define(browser, world: World) -> None:
    """The funnel and the experiment, through the dashboard's forms."""
    context = browser.new_context(viewport=DESKTOP, storage_state=world.admin_state)
    page = context.new_page()
    page.goto(f"{world.dashboard}/definitions?token={world.token}")
    page.fill("#add-funnel input[name=name]", "checkout")
    page.fill("#add-funnel textarea[name=steps]", "url:*/shop.html\nevent:purchase")
    page.click("#add-funnel button[type=submit]")
    page.wait_for_selector(".flash.ok")
    page.fill("#add-experiment input[name=name]", "hero")
    page.fill("#add-experiment input[name=goal]", "event:purchase")
    page.click("#add-experiment button[type=submit]")
    page.wait_for_selector(".flash.ok >> text=experiment hero")
    context.close()


def element_boxes(browser, world: World) -> dict[str, dict]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.route("**/clicktracker.js", lambda route: route.abort())  # look only, record nothing
    page.goto(world.page_url())
    boxes = {name: page.locator(f"#{name}").bounding_box() for name in ("hot", "cold", "buy")}
    context.close()
    return boxes


@pytest.fixture(scope="package")
def world_redis() -> Iterator[str]:
    """The world's own redis-server: the admin session in ``admin_state`` lives there, and
    a test that empties the shared Redis (or logs in there with another password, which
    ends every session) must not log the browser tests out."""
    with private_redis() as server:
        yield server.url


@pytest.fixture(scope="package")
def world(chromium, world_redis: str, tmp_path_factory) -> Iterator[World]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    redis_server = world_redis
    redis = connect(redis_server)
    redis.flushall()
    settings = Settings(
        redis_url=redis_server, data_dir=str(tmp_path_factory.mktemp("dashboard-data")), admin_password=PASSWORD
    )
    token = Sites(redis).create("test-shop").token
    collector = start_collector(settings, token=token)
    # The session cookie stays Secure, as in production: Chromium takes Secure cookies
    # from http://127.0.0.1 (a potentially trustworthy origin).
    site = SiteServer(token, collector.url)
    Sites(redis).create("test-shop", [site.url], token=token)
    world = World(settings, collector, site, token, admin_state={})
    try:
        world.admin_state = login_state(chromium, world)
        define(chromium, world)
        for v in TRAFFIC:
            visit(chromium, world, v)
        xss_visit(chromium, world)
        world.boxes = element_boxes(chromium, world)
        flushed = _flush_and_analyse(settings, redis)
        assert flushed > 0, "nothing reached the objects"
        yield world
    finally:
        collector.stop()
        site.close()
        redis.flushall()


def _flush_and_analyse(settings: Settings, redis) -> int:
    from analysis.scheduled import run_scheduled
    from worker.flush import Flusher

    store = LocalStore(settings.data_dir)
    report = Flusher(EventQueue(redis), store, settings).flush(force=True)
    run_scheduled(settings, redis=redis, store=store)
    return report.events


def wait_until(check, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)

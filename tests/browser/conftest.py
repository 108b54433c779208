"""Browser tests: system Chromium driven by Playwright, against a real collector and a
real redis-server; events are read back from the objects a forced flush writes.

Two origins take part, as on a real deployment:
- the "site" (a plain HTTP server on its own port) serves the fixture pages of
  clicktracker/fixtures/ and a self-hosted copy of the tracker, with data-endpoint
  pointing at the collector (cross-origin, text/plain, no preflight);
- the collector (create_app on werkzeug in a thread) takes /logs and also serves
  /clicktracker.js and the demo site itself.

Each test gets a fresh browser context (so a fresh localStorage and user_key) and
finds its own events by user_key. `Tab` collects every request, console message and
page error of its pages and prints them when the test fails.
"""

from __future__ import annotations

import glob
import json
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from logdig.config import Settings
from logdig.queue import EventQueue, Sites, connect
from logdig.storage import LocalStore
from tests.conftest import LiveCollector, start_collector
from tests.helpers import StaticSite
from web.tracker import DEMO_DIR, TRACKER_FILE, install_tag, render_page
from worker.flush import Flusher

EXTERNAL = "https://example.org/"


# -- the site that installs the tracker ---------------------------------------------------


class Site(StaticSite):
    """A customer's site on its own origin: the fixture pages plus a self-hosted tracker."""

    def __init__(self) -> None:
        self.token = ""
        self.endpoint = ""
        self.attrs: dict[str, str] = {}
        super().__init__()

    def route(self, path: str) -> tuple[bytes, str] | None:
        if path == "/clicktracker.js":
            return TRACKER_FILE.read_bytes(), "text/javascript"
        name = self.page_for(path)
        if name is None:
            return None
        tag = install_tag(self.token, endpoint=self.endpoint, track=".tile", **self.attrs)
        return render_page(name, tag).encode(), "text/html"

    @staticmethod
    def page_for(path: str) -> str | None:
        """The same layout as the collector's demo site."""
        if path in ("/demo/", "/demo/index.html"):
            return "index.html"
        if path.startswith("/demo/spa/"):
            return "spa.html"
        name = path.removeprefix("/demo/")
        if path.startswith("/demo/") and "/" not in name and (DEMO_DIR / name).is_file() and name.endswith(".html"):
            return name
        return None


# -- the collector, its queue and the objects ---------------------------------------------


@dataclass
class Pipeline:
    """The real collector, plus a way to flush and read what it stored."""

    settings: Settings
    token: str
    site: Site
    collector: LiveCollector
    port: int = 0
    seen_objects: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.collector.url

    def register(self) -> None:
        # Idempotent; done per test so that another test's flushall cannot lose it.
        origins = [self.site.url, self.url]
        Sites(connect(self.settings.redis_url)).create("browser-tests", origins, token=self.token)

    def stop_collector(self) -> None:
        self.collector.stop()
        self.collector.server.server_close()

    def start_collector(self) -> None:
        self.collector = start_collector(self.settings, port=self.port, token=self.token)

    def flush(self) -> None:
        redis = connect(self.settings.redis_url)
        Flusher(EventQueue(redis), LocalStore(self.settings.data_dir), self.settings).flush(force=True)

    def stored(self) -> list[dict]:
        """Every event in every object written so far, in object order."""
        events = []
        for path in sorted(glob.glob(f"{self.settings.data_dir}/*/*.jsonl")):
            if path not in self.seen_objects:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
                self.seen_objects[path] = [json.loads(line) for line in lines]
            events.extend(self.seen_objects[path])
        return events

    def events(self, user_key: str) -> list[dict]:
        self.flush()
        found = [e for e in self.stored() if e["user_key"] == user_key]
        return sorted(found, key=lambda e: (e["received_at"], e["timestamp"]))

    def wait_for(
        self, user_key: str, done: Callable[[list[dict]], bool], timeout: float = 15, what: str = ""
    ) -> list[dict]:
        """Flush and read until done(events) holds; fails with what was stored."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(user_key)
            if done(events):
                return events
            if time.monotonic() > deadline:
                summary = "\n".join(f"  {e['type']:9} {e['current_page']} {e.get('link')}" for e in events)
                pytest.fail(f"timed out waiting for {what or 'events'}; stored for {user_key}:\n{summary}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def pipeline(redis_server: str) -> Iterator[Pipeline]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    data_dir = tempfile.mkdtemp(prefix="logdig-browser-data-")
    settings = Settings(redis_url=redis_server, data_dir=data_dir)
    token = "browser-" + secrets.token_urlsafe(12)
    site = Site()
    collector = start_collector(settings, token=token)
    site.token = token
    site.endpoint = f"{collector.url}/logs"
    pipe = Pipeline(settings, token, site, collector, port=collector.server.server_port)
    yield pipe
    pipe.collector.stop()
    site.close()
    shutil.rmtree(data_dir, ignore_errors=True)


# -- pages, with everything they did recorded ---------------------------------------------


class Tab:
    """A browser context with its pages' requests, console and page errors recorded."""

    def __init__(self, context: object) -> None:
        self.context = context
        self.log: list[str] = []
        self.page_errors: list[str] = []
        self.pages: list[object] = []

    def new_page(self) -> object:
        page = self.context.new_page()
        n = len(self.pages)
        page.on("request", lambda r: self.log.append(f"[{n}] -> {r.method} {r.url} {_body(r)}"))
        page.on("response", lambda r: self.log.append(f"[{n}] <- {r.status} {r.url}"))
        page.on("requestfailed", lambda r: self.log.append(f"[{n}] !! {r.url} {r.failure}"))
        page.on("console", lambda m: self.log.append(f"[{n}] console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: (self.page_errors.append(str(e)), self.log.append(f"[{n}] PAGE ERROR {e}")))
        self.pages.append(page)
        return page

    def open(self, url: str, page: object | None = None) -> object:
        """Load url and wait until the tracker replaced the queue array with its API."""
        page = page or self.new_page()
        page.goto(url)
        # (!! because waiting on an expression that yields a function would call it.)
        page.wait_for_function("!!(window.logdig && window.logdig.track)")
        return page

    def user_key(self, page: object) -> str:
        key = page.evaluate("localStorage.getItem('logdig_uk')")
        assert key, "the tracker stored no user_key"
        return key

    def report(self) -> str:
        return "\n".join(self.log[-400:])


def _body(request: object) -> str:
    data = request.post_data
    if not data:
        return ""
    try:
        events = json.loads(data)
        return f"({len(events)} events: {', '.join(e.get('type', '?') for e in events)})"
    except (ValueError, AttributeError, TypeError):
        return f"({len(data)} bytes)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def tab(chromium: object, pipeline: Pipeline, request: pytest.FixtureRequest) -> Iterator[Tab]:
    pipeline.register()
    pipeline.site.attrs = {}
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    # The link that leaves the site goes nowhere real: the browser answers it itself.
    context.route(EXTERNAL + "**", lambda route: route.fulfill(body="<h1>elsewhere</h1>", content_type="text/html"))
    tab = Tab(context)
    yield tab
    failed = getattr(request.node, "report_call", None)
    # Route handlers still pending (a beacon to the external link as the pages close) must
    # not hold the close: one CI run waited 300 s in context.close() here.
    context.unroute_all(behavior="ignoreErrors")
    context.close()
    if failed is not None and failed.failed:
        print(f"--- requests, console and page errors ---\n{tab.report()}")
    elif failed is not None and tab.page_errors:
        pytest.fail(f"page errors: {tab.page_errors}\n{tab.report()}")

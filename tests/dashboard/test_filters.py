"""Filtered views (web/dashboard/segments.py): the real app over a real redis-server and
results the analysis computed (DuckDB). Every expected number is counted here from the
generated events themselves, never read back from the code under test."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from analysis import run
from analysis.definitions import Definitions, parse_funnel
from analysis.devices import device_type
from analysis.engines import duckdb_engine
from analysis.jobs.pages import HOST_RE
from analysis.jobs.visits import VISIT_GAP_MS
from analysis.schema import normalise_page
from analysis.testdata import SITE, generate_events, write_objects
from logdig.config import Settings
from logdig.locks import SegmentLocks
from logdig.queue import Sites, connect, shared_secret
from logdig.storage import LocalStore
from tests.helpers import private_redis
from tests.security.dashboard_client import STRONG, login
from web import create_app
from web.dashboard import overlay, segments

TODAY = datetime.now(UTC).date()
DAYS = [(TODAY - timedelta(days=n)).isoformat() for n in (3, 2)]
TOKEN = "tokFilters"
RANGE = f"token={TOKEN}&from={DAYS[0]}&to={DAYS[1]}"
PAGE = SITE + "/products"


def _day(e: dict) -> str:
    return e["received_at"][:10]


def _device(e: dict) -> str:
    return device_type(e["user_agent"], e.get("os"), e.get("device"), e.get("viewport_w"), e.get("bot"))


class World:
    def __init__(self, settings: Settings, events: list[dict], client, store: LocalStore):
        self.settings, self.events, self.client, self.store = settings, events, client, store

    def counted(self, **where) -> list[dict]:
        """The range's non-bot events for which every ``where`` test holds."""
        return [
            e for e in self.events if _day(e) in DAYS and not e.get("bot") and all(test(e) for test in where.values())
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with private_redis() as server:
        root = tmp_path_factory.mktemp("filters-data")
        settings = Settings(redis_url=server.url, data_dir=str(root), admin_password=STRONG)
        store = LocalStore(root)
        events = generate_events(DAYS, [TOKEN], users_per_day=30, seed=5)
        write_objects(store, events)
        engine = duckdb_engine()
        try:
            run.analyze(engine, settings, store, DAYS)
        finally:
            engine.close()
        redis = connect(server.url)
        Sites(redis).create("filter-shop", token=TOKEN)
        funnel = {"name": "buy", "token": TOKEN, "steps": ["url:*/pricing", "event:purchase"]}
        Definitions(redis).put("funnel", parse_funnel(funnel))
        client = create_app(settings, redis=redis).test_client()
        assert login(client).status_code == 302
        yield World(settings, events, client, store)


def figure(html: str, key: str) -> int:
    return int(re.search(rf'id="figure-{key}">([^<]*)<', html).group(1).replace(",", ""))


def csv_total(client, url: str, column: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    return sum(int(r[column].replace(",", "") or 0) for r in rows)


def test_overview_with_a_device_filter_counts_only_that_device(world):
    html = world.client.get(f"/dashboard/?{RANGE}&device=mobile").get_data(as_text=True)
    mobile = world.counted(pv=lambda e: e["type"] == "pageview", dev=lambda e: _device(e) == "mobile")
    everyone = world.counted(pv=lambda e: e["type"] == "pageview")
    assert 0 < len(mobile) < len(everyone)
    assert figure(html, "pageviews") == len(mobile)
    # the filter is shown as a removable chip, kept in the links between views
    assert 'class="chip" data-param="device"' in html and "Device: mobile" in html
    assert re.search(r'href="/dashboard/goals\?[^"]*device=mobile', html)
    assert re.search(r'href="/dashboard/definitions\?[^"]*device=mobile', html)
    unfiltered = world.client.get(f"/dashboard/?{RANGE}").get_data(as_text=True)
    assert figure(unfiltered, "pageviews") == len(everyone) and "segment-chips" not in unfiltered


def test_page_heat_map_tables_honour_the_filter(world):
    on_page = {
        "click": lambda e: e["type"] == "click" and e.get("selector"),
        "page": lambda e: normalise_page(e["current_page"]) == PAGE,
    }
    mobile = world.counted(**on_page, dev=lambda e: _device(e) == "mobile")
    assert 0 < len(mobile) < len(world.counted(**on_page))
    url = f"/dashboard/export/page/click_map.csv?{RANGE}&page={PAGE}&device=mobile"
    assert csv_total(world.client, url, "Clicks") == len(mobile)
    html = world.client.get(f"/dashboard/page?{RANGE}&page={PAGE}&device=mobile").get_data(as_text=True)
    assert 'id="heatmap"' in html and "Device: mobile" in html
    # the viewport-class links of the heat map keep the filter
    assert re.search(r'href="/dashboard/page\?[^"]*device=mobile[^"]*vc=', html)


def test_overlay_reader_gives_the_overlay_the_same_filter(world):
    from werkzeug.datastructures import MultiDict

    from analysis.filters import FilterError
    from web.dashboard import views

    mobile = world.counted(
        click=lambda e: e["type"] == "click" and e.get("selector"),
        page=lambda e: normalise_page(e["current_page"]) == PAGE,
        dev=lambda e: _device(e) == "mobile",
    )
    with world.client.application.test_request_context("/overlay/data"):
        base = views.reader()
        assert segments.overlay_reader(base, TOKEN, DAYS, MultiDict()) is base
        found = segments.overlay_reader(base, TOKEN, DAYS, MultiDict({"device": "mobile"}))
        clicks = sum(
            r["clicks"]
            for _d, data in found.data("heatmap", TOKEN, DAYS)
            for r in data["click_map"]
            if r["page"] == PAGE
        )
        assert clicks == len(mobile)
        with pytest.raises(FilterError) as e:
            segments.overlay_reader(base, TOKEN, DAYS, MultiDict({"visitor": "maybe"}))
        assert e.value.param == "visitor"


def _visits(events: list[dict]) -> list[list[dict]]:
    """``events`` split into visits as the visits job does: a user's events of a day, in client
    time, a new visit after a gap of over 30 minutes."""

    def ms(e: dict) -> float:
        return datetime.fromisoformat(e["timestamp"]).timestamp() * 1000

    by_user: dict[tuple, list[dict]] = defaultdict(list)
    for e in events:
        by_user[(_day(e), e["user_key"])].append(e)
    out = []
    for evs in by_user.values():
        visit: list[dict] = []
        for e in sorted(evs, key=lambda e: (ms(e), e["event_id"])):
            if visit and ms(e) - ms(visit[-1]) > VISIT_GAP_MS:
                out.append(visit)
                visit = []
            visit.append(e)
        out.append(visit)
    return out


def _source(e: dict) -> str:
    """The visit's source as the filter reads it from its first event."""

    def host(url: str | None) -> str:
        found = re.match(HOST_RE, url or "")
        return re.sub(r"^www\.", "", found.group(1).lower()) if found else ""

    ref = host(e.get("referrer"))
    return "(none)" if not ref or ref == host(e["current_page"]) else ref


def _overlay(world, sig: str, query: str = ""):
    response = world.client.get(f"/overlay/data?sig={sig}{query}")
    return response.status_code, response.get_json(), response.headers


def _overlay_clicks(body: dict) -> int:
    return sum(r["clicks"] for r in body["click_map"])


def test_the_overlay_opens_with_the_page_views_filter_and_answers_device_visitor_and_source(world):
    on_page = {
        "click": lambda e: e["type"] == "click" and e.get("selector"),
        "page": lambda e: normalise_page(e["current_page"]) == PAGE,
    }
    html = world.client.get(f"/dashboard/page?{RANGE}&page={PAGE}&device=mobile").get_data(as_text=True)
    query = parse_qs(urlsplit(unescape(re.search(r'id="overlay-link" href="([^"]+)"', html).group(1))).query)
    assert list(query) == [overlay.PARAM]  # the filter travels inside the signed value
    sig = query[overlay.PARAM][0]
    status, body, headers = _overlay(world, sig)  # as overlay.js's first request: no segment named
    mobile = world.counted(**on_page, dev=lambda e: _device(e) == "mobile")
    assert status == 200 and body["segment"] == {"device": "mobile"}, body
    assert _overlay_clicks(body) == len(mobile) and headers["Access-Control-Allow-Origin"] == SITE
    # a request that names the parameters gets its own; an empty one means every visitor
    status, body, _ = _overlay(world, sig, "&device=&visitor=")
    assert status == 200 and body["segment"] == {} and _overlay_clicks(body) == len(world.counted(**on_page))
    # visitor and source (one computation for both: whole visits that match both)
    status, body, _ = _overlay(world, sig, "&visitor=new&source=www.Google.com")
    assert status == 200 and body["segment"] == {"source": "google.com", "visitor": "new"}, body
    kept = [
        e
        for v in _visits(world.counted())
        if min(e.get("load_count") or 0 for e in v) <= 1 and _source(v[0]) == "google.com"
        for e in v
        if all(test(e) for test in on_page.values())
    ]
    assert 0 < len(kept) < len(world.counted(**on_page)) and _overlay_clicks(body) == len(kept)


def test_the_overlay_names_a_bad_segment_and_says_while_one_is_being_computed(world, monkeypatch):
    sig = overlay.sign(shared_secret(connect(world.settings.redis_url)), TOKEN, PAGE, DAYS[0], DAYS[1], time.time())
    for query, param in (
        ("device=fridge", "device"),
        ("visitor=sometimes", "visitor"),
        ("source=a%20b", "source"),
        ("variant=nocolon", "variant"),
        ("viewport=watch", "viewport"),
    ):
        status, body, headers = _overlay(world, sig, f"&{query}")
        assert status == 400 and body["field"] == param and body["error"].startswith(f"{param}:"), (query, body)
        assert headers["Access-Control-Allow-Origin"] == SITE
    monkeypatch.setattr(segments, "WAIT_SECONDS", 0)
    locks = SegmentLocks(connect(world.settings.redis_url))
    holder = locks.acquire(TOKEN, 30)  # another computation for the site runs
    try:
        status, body, headers = _overlay(world, sig, "&device=tablet&country=de")
    finally:
        locks.release(TOKEN, holder)
    assert status == 202 and body["status"] == "computing" and body["retry_after"] == overlay.RETRY_SECONDS, body
    assert headers["Retry-After"] == str(overlay.RETRY_SECONDS) and headers["Access-Control-Allow-Origin"] == SITE
    assert body["segment"] == {"device": "tablet", "country": "DE"}


def test_goals_with_a_country_filter_count_only_that_country(world):
    custom_us = world.counted(custom=lambda e: e["type"] == "custom", us=lambda e: e.get("country") == "US")
    assert custom_us
    url = f"/dashboard/export/goals/custom_events.csv?{RANGE}&country=us"
    assert csv_total(world.client, url, "Count") == len(custom_us)


def test_funnels_with_a_device_filter_start_with_that_device_users(world):
    at_pricing = world.counted(
        pv=lambda e: e["type"] == "pageview",
        page=lambda e: normalise_page(e["current_page"]).endswith("/pricing"),
        dev=lambda e: _device(e) == "mobile",
    )
    users = {(_day(e), e["user_key"]) for e in at_pricing}
    assert users
    response = world.client.get(f"/dashboard/export/funnels/funnel_0.csv?{RANGE}&device=mobile")
    assert response.status_code == 200, response.text[:300]
    first = next(csv.DictReader(io.StringIO(response.text)))
    assert int(first["Users"]) == len(users)


@pytest.mark.parametrize(
    ("query", "param"),
    [("device=fridge", "device"), ("visitor=sometimes", "visitor"), ("variant=nocolon", "variant")],
)
def test_a_bad_filter_value_is_400_naming_the_parameter(world, query, param):
    response = world.client.get(f"/dashboard/?{RANGE}&{query}")
    assert response.status_code == 400
    assert f"{param}:" in response.get_data(as_text=True)


def test_a_range_with_too_many_events_is_400_naming_from(world, monkeypatch):
    monkeypatch.setattr(segments, "MAX_EVENTS", 10)
    response = world.client.get(f"/dashboard/goals?{RANGE}&browser=Firefox")
    assert response.status_code == 400 and "from: a filtered view computes at most 10 events" in response.text


def test_a_computation_running_for_the_site_gives_503_not_a_wait_forever(world, monkeypatch):
    monkeypatch.setattr(segments, "WAIT_SECONDS", 0.3)
    locks = SegmentLocks(connect(world.settings.redis_url))
    holder = locks.acquire(TOKEN, 30)
    try:
        response = world.client.get(f"/dashboard/goals?{RANGE}&browser=Safari")
    finally:
        locks.release(TOKEN, holder)
    assert response.status_code == 503 and "being computed" in response.text
    assert response.headers["Retry-After"] == "5"  # the page's own reload, for other clients too


def test_a_slow_computation_answers_a_page_that_reloads_then_the_view(world, monkeypatch):
    calls = []
    real = segments._compute
    monkeypatch.setattr(segments, "_compute", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setattr(segments, "WAIT_SECONDS", 0)
    url = f"/dashboard/goals?{RANGE}&browser=Chrome"
    first = world.client.get(url)
    assert first.status_code == 503 and "being computed" in first.text
    assert '<meta http-equiv="refresh" content="5">' in first.text
    monkeypatch.setattr(segments, "WAIT_SECONDS", 120)
    again = world.client.get(url)  # the reload: waits for the running computation, starts none
    assert again.status_code == 200 and "Browser: Chrome" in again.text
    assert len(calls) == 1


def test_computing_a_filtered_view_sweeps_the_sites_cache_of_days_before_yesterday(world):
    from logdig.storage import segment_key

    old, recent = segment_key(TOKEN, "old", "2000-01-01"), segment_key(TOKEN, "recent", segments._today())
    for key in (old, recent):
        world.store.put(key, b"{}")
    url = f"/dashboard/export/goals/custom_events.csv?{RANGE}&country=fr&device=mobile"  # not asked elsewhere
    assert world.client.get(url).status_code == 200
    cached = list(world.store.list(f"results/_segments/{TOKEN}/"))
    assert old not in cached and recent in cached
    assert any(k.startswith(f"results/_segments/{TOKEN}/{segments._today()}/") and k != recent for k in cached)


def test_a_filtered_view_is_cached_and_computed_again_after_a_new_analysis(world, monkeypatch):
    calls = []
    real = segments._compute
    monkeypatch.setattr(segments, "_compute", lambda *a: calls.append(a) or real(*a))
    url = f"/dashboard/export/goals/custom_events.csv?{RANGE}&country=us"  # as an earlier test may have
    assert world.client.get(url).status_code == 200
    before = len(calls)
    assert before <= 1 and world.client.get(url).status_code == 200 and len(calls) == before
    world.client.application.extensions.pop("logdig_segments", None)  # another worker: the object cache
    assert world.client.get(url).status_code == 200 and len(calls) == before
    # a new analysis run rewrites the stored results (a later generated_at)
    key = f"results/pages/{TOKEN}/{DAYS[0]}.json"
    stored = world.store.get(key)
    doc = json.loads(stored)
    doc["generated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    world.store.put(key, json.dumps(doc).encode())
    try:
        world.client.application.extensions.pop("logdig_dashboard", None)  # past the results' 30 s cache
        assert world.client.get(url).status_code == 200 and len(calls) == before + 1
    finally:  # as analysed: the other tests' cached views stay current
        world.store.put(key, stored)
        world.client.application.extensions.pop("logdig_dashboard", None)


@pytest.mark.browser
def test_filter_bar_and_chips_in_chromium(chromium, world):
    """Screenshots of the overview and the heat map with a filter, 1280 and 390 px wide."""
    from tests.conftest import start_collector

    stack = start_collector(world.settings.replace(cookie_secure="off"), token=TOKEN)
    shots = Path("/tmp/shots")
    shots.mkdir(exist_ok=True)
    try:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{stack.url}/dashboard/?{RANGE}")
        page.fill("input[name=password]", STRONG)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/?*")
        page.click("#segment-bar summary")
        page.select_option("select[name=device]", "mobile")
        page.click(".filters button[type=submit]")
        page.wait_for_url("**device=mobile**")
        assert "Device: mobile" in page.locator("#segment-chips").inner_text()
        page.screenshot(path=str(shots / "filters-overview-1280.png"), full_page=False)
        page.click(f"#table-pages a[href*='{PAGE.replace('https://', '')}']")
        page.wait_for_url("**/dashboard/page?**device=mobile**")
        page.screenshot(path=str(shots / "filters-heatmap-1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(shots / "filters-heatmap-390.png"), full_page=False)
        page.click("#segment-chips a.chip[data-param=device]")  # removing the chip removes the filter
        page.wait_for_url(re.compile(r"^(?!.*device=).*/dashboard/page\?.*"))
        assert page.locator("#segment-chips").count() == 0
        page.goto(f"{stack.url}/dashboard/?{RANGE}&device=mobile")  # computed above: read from the cache
        page.screenshot(path=str(shots / "filters-overview-390.png"), full_page=False)
        assert not problems, problems
        context.close()
    finally:
        stack.stop()

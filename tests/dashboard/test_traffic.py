"""Where visitors come from and their visits, on the overview: the real app over a real
redis-server, with results the analysis computed (DuckDB) from generated raw objects."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from analysis import run
from analysis.engines import duckdb_engine
from analysis.testdata import generate_events, write_objects
from logdig.queue import Sites, connect
from logdig.storage import LocalStore
from tests.security.dashboard_client import STRONG, login
from web import create_app
from web.dashboard.traffic import country_name

DAY = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
TOKEN = "tokTraffic"


@pytest.fixture
def analysed(local_settings):
    store = LocalStore(local_settings.data_dir)
    write_objects(store, generate_events([DAY], [TOKEN], users_per_day=60, seed=5))
    engine = duckdb_engine()
    try:
        run.analyze(engine, local_settings, store, [DAY])
    finally:
        engine.close()
    Sites(connect(local_settings.redis_url)).create("traffic-shop", token=TOKEN)
    settings = local_settings.replace(admin_password=STRONG)
    client = create_app(settings, redis=connect(settings.redis_url)).test_client()
    assert login(client).status_code == 302
    doc = run.io.read_json(store, f"results/visits/{TOKEN}/{DAY}.json")
    return client, doc["data"]


def section(html: str, name: str) -> list[list[str]]:
    """The rows (header first) of the table ``#table-<name>`` as text."""
    found = re.search(rf'<section class="table" id="table-{name}".*?</section>', html, re.S)
    assert found, f"no table {name}"
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(0), re.S)
    return [
        [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
        for r in rows
    ]


def test_overview_shows_channels_referrers_utm_and_countries(analysed):
    client, data = analysed
    html = client.get(f"/dashboard/?token={TOKEN}&from={DAY}&to={DAY}").get_data(as_text=True)
    expected = {(r["kind"], r["name"]): r for r in data["sources"]}
    channels = section(html, "sources_channel")
    assert channels[0] == ["Channel", "Visitors", "Visits", "Page views", "Share of visits"]
    shown = {r[0]: r for r in channels[1:]}
    assert {"Direct", "Email", "Paid", "Social"} <= set(shown)
    for name, row in shown.items():
        want = expected[("channel", name)]
        assert row[1:4] == [str(want["visitors"]), str(want["visits"]), str(want["pageviews"])]
    assert "Direct / none" in {r[0] for r in section(html, "sources_referrer")[1:]}
    for kind in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        assert len(section(html, f"sources_{kind}")) > 1, kind
    countries = section(html, "sources_country")
    assert countries[0][:2] == ["Country", "Name"]
    names = {r[0]: r[1] for r in countries[1:]}
    assert names["DE"] == "Germany" and names["US"] == "United States" and names["unknown"] == ""
    assert 'id="chart-countries"' in html


def test_overview_shows_visits_bounce_rate_and_devices(analysed):
    client, data = analysed
    html = client.get(f"/dashboard/?token={TOKEN}&from={DAY}&to={DAY}").get_data(as_text=True)
    totals = data["totals"]
    figure = re.search(r'id="figure-bounce_rate">([^<]*)<', html).group(1)
    assert figure == f"{totals['bounces'] / totals['visits'] * 100:.1f}%"
    assert re.search(r'id="figure-visits">([^<]*)<', html).group(1) == str(totals["visits"])
    devices = {r[0]: r for r in section(html, "visit_devices")[1:]}
    assert {"desktop", "mobile", "tablet"} <= set(devices)
    assert sum(int(r[1]) for r in devices.values()) == totals["visits"]
    assert len(section(html, "entry_pages")) > 1 and len(section(html, "exit_pages")) > 1


def test_source_tables_export_as_csv_like_the_screen(analysed):
    client, _ = analysed
    query = f"token={TOKEN}&from={DAY}&to={DAY}"
    html = client.get(f"/dashboard/?{query}").get_data(as_text=True)
    for name in ("sources_channel", "sources_country", "sources_utm_campaign", "visit_devices", "entry_pages"):
        answer = client.get(f"/dashboard/export/overview/{name}.csv?{query}")
        assert answer.status_code == 200, name
        assert list(csv.reader(io.StringIO(answer.get_data(as_text=True)))) == section(html, name), name


def test_country_names():
    assert country_name("JP") == "Japan"
    assert country_name("unknown") == "" and country_name("ZZ") == ""


@pytest.mark.browser
def test_overview_in_chromium_without_console_errors(chromium, analysed, local_settings):
    from pathlib import Path

    from tests.conftest import start_collector

    stack = start_collector(local_settings.replace(admin_password=STRONG, cookie_secure="off"), token=TOKEN)
    try:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        url = f"{stack.url}/dashboard/?token={TOKEN}&from={DAY}&to={DAY}"
        page.goto(url)
        page.fill("input[name=password]", STRONG)
        page.click("button[type=submit]")
        page.wait_for_url(url)
        assert page.locator("#figure-visits").inner_text().isdigit()
        assert page.locator("#table-sources_channel tbody tr").count() >= 4
        assert page.locator("#chart-countries").is_visible()
        shots = Path("/tmp/shots")
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "overview.png"), full_page=True)
        page.locator("#sources").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "overview-sources.png"))
        assert not problems, problems
        context.close()
    finally:
        stack.stop()

"""The overview against the previous period of the same length: the deltas' arithmetic, and
the real app over a real redis-server with results the analysis computed (DuckDB) for
both periods, its chart drawn with the previous period's line."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from analysis import run
from analysis.engines import duckdb_engine
from analysis.testdata import generate_events, write_objects
from logdig.queue import Sites, connect
from logdig.storage import LocalStore
from tests.security.dashboard_client import STRONG, login
from web import create_app
from web.dashboard import charts, compare, views

TODAY = datetime.now(UTC).date()
PREVIOUS = [(TODAY - timedelta(days=n)).isoformat() for n in (6, 5)]
CURRENT = [(TODAY - timedelta(days=n)).isoformat() for n in (4, 3)]
TOKEN = "tokCompare"
QUERY = f"token={TOKEN}&from={CURRENT[0]}&to={CURRENT[1]}"


def test_delta_of_counts_is_the_relative_change():
    assert compare.delta(112, 100, "int", 7) == {"text": "+12% vs previous 7 days", "direction": "up"}
    assert compare.delta(90, 120, "int", 7) == {"text": "-25% vs previous 7 days", "direction": "down"}
    assert compare.delta(100, 100, "int", 1)["text"] == "no change vs previous 1 day"
    assert compare.delta(1500.0, 1000.0, "ms", 3)["text"] == "+50% vs previous 3 days"


def test_delta_from_nothing_is_new_and_without_a_previous_result_is_absent():
    assert compare.delta(5, 0, "int", 7) == {"text": "new vs previous 7 days", "direction": "new"}
    assert compare.delta(0, 0, "int", 7)["direction"] == "same"
    assert compare.delta(5, None, "int", 7) is None and compare.delta(None, 5, "int", 7) is None


def test_delta_of_a_rate_is_in_percentage_points():
    assert compare.delta(0.55, 0.5, "pct", 7) == {"text": "+5.0 pts vs previous 7 days", "direction": "up"}
    assert compare.delta(0.4, 0.5, "pct", 7)["text"] == "-10.0 pts vs previous 7 days"
    assert compare.delta(0.5, 0, "pct", 7)["text"] == "+50.0 pts vs previous 7 days"  # a share: never "new"


def test_previous_period_is_the_same_length_just_before():
    assert compare.previous_days(date(2026, 3, 1), 3) == ["2026-02-26", "2026-02-27", "2026-02-28"]


@pytest.fixture
def analysed(local_settings):
    store = LocalStore(local_settings.data_dir)
    # more visitors in the current period than in the previous one
    write_objects(store, generate_events(PREVIOUS, [TOKEN], users_per_day=40, seed=3))
    write_objects(store, generate_events(CURRENT, [TOKEN], users_per_day=70, seed=4))
    engine = duckdb_engine()
    try:
        run.analyze(engine, local_settings, store, PREVIOUS + CURRENT)
    finally:
        engine.close()
    redis = connect(local_settings.redis_url)
    Sites(redis).create("compare-shop", token=TOKEN)
    client = create_app(local_settings.replace(admin_password=STRONG), redis=redis).test_client()
    assert login(client).status_code == 302

    def docs(job: str, days: list[str]) -> list[dict]:
        return [json.loads(store.get(f"results/{job}/{TOKEN}/{day}.json")) for day in days]

    return client, docs


@pytest.fixture
def chart_calls(monkeypatch):
    calls = []
    real = charts.daily_chart

    def spy(*args, **kwargs):
        svg = real(*args, **kwargs)
        calls.append((args, kwargs, svg))
        return svg

    monkeypatch.setattr(views.charts, "daily_chart", spy)
    return calls


def shown(html: str, key: str) -> str:
    return re.search(rf'id="delta-{key}">([^<]*)<', html).group(1)


def test_overview_shows_deltas_against_the_previous_period(analysed, chart_calls):
    client, docs = analysed
    html = client.get(f"/dashboard/?{QUERY}").get_data(as_text=True)
    events = [sum(d["quality"]["events"] for d in docs("pages", days)) for days in (CURRENT, PREVIOUS)]
    assert events[0] > events[1] > 0
    assert shown(html, "events") == f"{(events[0] - events[1]) / events[1]:+.0%} vs previous 2 days"
    visits = [
        [sum(d["data"]["totals"][k] for d in docs("visits", days)) for k in ("visits", "bounces")]
        for days in (CURRENT, PREVIOUS)
    ]
    assert shown(html, "visits") == f"{(visits[0][0] - visits[1][0]) / visits[1][0]:+.0%} vs previous 2 days"
    points = (visits[0][1] / visits[0][0] - visits[1][1] / visits[1][0]) * 100
    assert shown(html, "bounce_rate") == f"{points:+.1f} pts vs previous 2 days"
    for key in ("pageviews", "users", "pages_per_visit", "mean_duration_ms"):
        assert "vs previous 2 days" in shown(html, key), key
    assert f"Compared with the previous 2 day(s), {PREVIOUS[0]} to {PREVIOUS[1]}." in html


def test_overview_chart_gets_both_periods_and_draws_the_previous_dashed(analysed, chart_calls):
    client, docs = analysed
    client.get(f"/dashboard/?{QUERY}")
    ((args, kwargs, svg),) = chart_calls
    per_day, previous = args[0], kwargs["previous"]
    assert [d["day"] for d in per_day] == CURRENT and [d["day"] for d in previous] == PREVIOUS
    assert [d["events"] for d in previous] == [d["quality"]["events"] for d in docs("pages", PREVIOUS)]
    assert [d["events"] for d in per_day] == [d["quality"]["events"] for d in docs("pages", CURRENT)]
    drawn = base64.b64decode(svg.split(",", 1)[1]).decode()
    without = base64.b64decode(charts.daily_chart(per_day, args[1], args[2]).split(",", 1)[1]).decode()
    assert "stroke-dasharray" in drawn and "stroke-dasharray" not in without


def test_without_previous_results_the_overview_says_so_and_draws_no_line(analysed, chart_calls):
    client, _ = analysed
    html = client.get(f"/dashboard/?token={TOKEN}&from={PREVIOUS[0]}&to={PREVIOUS[1]}").get_data(as_text=True)
    assert "No analysis results for the previous 2 day(s)" in html
    assert 'id="delta-events"' not in html and re.search(r'id="figure-events">\d+<', html)
    ((_args, kwargs, _svg),) = chart_calls
    assert kwargs["previous"] is None


@pytest.mark.browser
def test_overview_comparison_in_chromium(chromium, analysed, local_settings):
    from tests.conftest import start_collector

    stack = start_collector(local_settings.replace(admin_password=STRONG, cookie_secure="off"), token=TOKEN)
    try:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        url = f"{stack.url}/dashboard/?{QUERY}"
        page.goto(url)
        page.fill("input[name=password]", STRONG)
        page.click("button[type=submit]")
        page.wait_for_url(url)
        assert "vs previous 2 days" in page.locator("#delta-events").inner_text()
        assert page.locator("#chart-per-day").is_visible()
        shots = Path("/tmp/shots")
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "overview-compare.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 900})
        assert not problems, problems
        context.close()
    finally:
        stack.stop()

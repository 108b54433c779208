"""The Live page and /dashboard/api/live: real collector over HTTP, real redis-server,
real Chromium. Figures must show seconds after the 202, without a flush or an analysis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import start_collector
from tests.dashboard.conftest import artifacts
from tests.helpers import make_event, post
from tests.security.dashboard_client import STRONG, login, make_app

XSS_PAGE = 'https://a.example/"><img src=x onerror="window.__xss=1">'
SPOOFED_PAGE = "https://a.example/\u202egnp.exe"  # reads as https://a.example/exe.png


@pytest.fixture
def stack(local_settings, redis):
    collector = start_collector(local_settings.replace(admin_password=STRONG, cookie_secure="off"))
    yield collector
    collector.stop()


def pageviews(token: str, n: int, users: int, **fields) -> list[dict]:
    return [make_event(token, type="pageview", user_key=f"u{i % users}", **fields) for i in range(n)]


def test_live_json_needs_a_dashboard_session(stack):
    client = make_app(stack.settings.redis_url).test_client()
    answer = client.get(f"/dashboard/api/live?token={stack.token}")
    assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]


def test_live_json_counts_an_event_right_after_its_202(stack):
    client = make_app(stack.settings.redis_url).test_client()
    assert login(client).status_code == 302
    events = pageviews(stack.token, 6, 3, current_page="https://a.example/x?utm_source=news", referrer=None)
    assert post(stack.url + "/logs", events)[0] == 202
    data = client.get(f"/dashboard/api/live?token={stack.token}").get_json()
    assert (data["events_30m"], data["pageviews_30m"], data["visitors_5m"]) == (6, 6, 3)
    assert data["pages"] == [{"page": "https://a.example/x", "views": 6}]
    assert data["sources"] == [{"source": "news", "views": 6}]
    assert len(data["per_minute"]) == 30 and data["per_minute"][-1]["pageviews"] == 6
    assert client.get("/dashboard/api/live?token=nope").status_code == 404
    assert client.get("/dashboard/api/live").get_json()["field"] == "token"


def test_live_page_updates_by_itself_in_chromium(chromium, stack):
    dashboard = stack.url + "/dashboard"
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []

    def console(message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{dashboard}/live?token={stack.token}")
    page.fill("input[name=password]", STRONG)
    page.click("button[type=submit]")
    page.wait_for_url(f"{dashboard}/live?token={stack.token}")
    assert page.locator("#live-visitors").inner_text() == "0"
    assert page.locator("nav a[aria-current=page]").inner_text() == "Live"

    # Traffic arrives while the page is open: no reload, no flush, no analysis.
    google = "https://www.google.com/search?q=shoes"
    assert post(stack.url + "/logs", pageviews(stack.token, 12, 4, referrer=google))[0] == 202
    posted = time.monotonic()
    events = [make_event(stack.token, type="pageview", current_page="https://a.example/pricing", user_key="z")] * 3
    events = [{**e, "event_id": f"pricing-{i}"} for i, e in enumerate(events)]
    events.append(make_event(stack.token, type="pageview", current_page=XSS_PAGE))
    events.append(make_event(stack.token, type="pageview", current_page=SPOOFED_PAGE, user_key="y"))
    assert post(stack.url + "/logs", events)[0] == 202
    expect(page.locator("#live-visitors")).to_have_text("7", timeout=15_000)
    assert time.monotonic() - posted < 12  # one poll (5 s) and some slack
    assert page.locator("#live-pageviews").inner_text() == "17"
    assert page.locator("#live-sources li .name").first.inner_text() == "google.com"
    assert page.locator("#live-countries li .name").first.inner_text() == "Unknown"  # 127.0.0.1
    names = page.locator("#live-pages li .name").all_inner_texts()
    assert names[:2] == ["http://site.example/index.html", "https://a.example/pricing"]
    assert XSS_PAGE in names  # shown as text, never run
    # A direction control shown as itself: the spoofed URL cannot read as ".../exe.png".
    assert "https://a.example/\\u202egnp.exe" in names and SPOOFED_PAGE not in names
    assert page.evaluate("window.__xss") is None
    assert page.locator("#live-chart rect.views").count() == 30
    assert not problems, problems  # no CSP violation, no script error
    shot = Path(artifacts()) / "live.png"
    page.screenshot(path=str(shot), full_page=True)
    context.close()

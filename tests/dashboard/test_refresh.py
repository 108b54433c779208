"""The dashboard's "Refresh now" (issue 16, item 2): real collector over HTTP, real
redis-server, a real `logdig worker` process running the job the button enqueues, and
Chromium for a look at the button."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from rq import Queue, Worker

from logdig.queue import JOBS, connect
from logdig.refresh import Refreshes
from tests.conftest import start_collector
from tests.dashboard.conftest import artifacts
from tests.helpers import make_event, post
from tests.security.dashboard_client import STRONG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(local_settings, redis):
    collector = start_collector(local_settings.replace(admin_password=STRONG, cookie_secure="off"))
    yield collector
    collector.stop()


@pytest.fixture
def worker(stack):
    """`logdig worker`, as compose runs it, on the test's Redis and folder."""
    env = {**os.environ, "LOGDIG_REDIS_URL": stack.settings.redis_url, "LOGDIG_DATA_DIR": stack.settings.data_dir}
    process = subprocess.Popen([sys.executable, "-m", "logdig.cli", "worker"], cwd=ROOT, env=env)
    queue = Queue(JOBS, connection=connect(stack.settings.redis_url))
    deadline = time.monotonic() + 30
    while not Worker.count(queue=queue):
        assert process.poll() is None and time.monotonic() < deadline, "logdig worker did not start"
        time.sleep(0.05)
    yield process
    process.terminate()
    process.wait(20)


def session(stack) -> requests.Session:
    """A browser-like session logged in through the real form."""
    s = requests.Session()
    page = s.get(f"{stack.url}/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = s.post(f"{stack.url}/dashboard/login", data={"password": STRONG, "csrf_token": token})
    assert answer.status_code == 200 and "Log out" in answer.text
    return s


def csrf(page: requests.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def today_events(s: requests.Session, stack) -> str:
    """Today's events in the overview's per-day table (its CSV), '' before any analysis."""
    day = datetime.now(UTC).date().isoformat()
    answer = s.get(f"{stack.url}/dashboard/export/overview/per_day.csv", params={"token": stack.token, "from": day})
    rows = {r["Day"]: r for r in csv.DictReader(io.StringIO(answer.text))}
    return rows[day]["Events"]


def click(stack, n: int = 1) -> None:
    events = [make_event(stack.token, type="pageview", current_page="https://a.example/") for _ in range(n)]
    assert post(stack.url + "/logs", events)[0] == 202


def test_refresh_now_shows_a_click_sent_a_second_ago_and_a_second_click_is_refused(stack, worker, chromium):
    s = session(stack)
    overview = s.get(f"{stack.url}/dashboard/", params={"token": stack.token})
    assert 'id="refresh-now"' in overview.text
    click(stack, 3)  # queued in Redis: below LOGDIG_BATCH_MIN and younger than LOGDIG_MAX_WAIT
    assert today_events(s, stack) == ""
    form = {"csrf_token": csrf(overview), "token": stack.token, "next": f"/dashboard/?token={stack.token}"}

    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(answer=s.post(f"{stack.url}/dashboard/refresh", data=form)))
    thread.start()
    runs = Refreshes(connect(stack.settings.redis_url))
    deadline = time.monotonic() + 10
    while runs.running(stack.token) is None and thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = s.post(f"{stack.url}/dashboard/refresh", data=form, allow_redirects=False)
    thread.join(60)

    assert second.status_code == 409, second.text[:300]
    assert "already running" in second.text and "Back to the page" in second.text
    answer = first["answer"]
    assert answer.status_code == 200 and answer.url.endswith(f"/dashboard/?token={stack.token}")
    assert "Refreshed test-site" in answer.text and "3 queued events written out first" in answer.text
    assert today_events(s, stack) == "3"  # the per-day table, in this process and any other
    assert runs.running(stack.token) is None

    # the button where a user sees it: the overview after the refresh, in Chromium
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": c.name, "value": c.value, "url": stack.url + c.path} for c in s.cookies])
    page = context.new_page()
    page.goto(f"{stack.url}/dashboard/?token={stack.token}")
    assert page.locator("#refresh-now").is_visible()
    assert "Last refreshed at" in page.locator("#refresh-hint").inner_text()
    page.screenshot(path=str(artifacts() / "refresh-now.png"), full_page=False)
    context.close()


def test_refresh_refused_without_csrf_or_site_or_worker_and_while_one_runs(stack):
    s = session(stack)
    overview = s.get(f"{stack.url}/dashboard/", params={"token": stack.token})
    runs = Refreshes(connect(stack.settings.redis_url))
    url = f"{stack.url}/dashboard/refresh"

    no_csrf = s.post(url, data={"token": stack.token}, allow_redirects=False)
    assert no_csrf.status_code == 400 and "CSRF check" in no_csrf.text
    unknown = s.post(url, data={"csrf_token": csrf(overview), "token": "nope"}, allow_redirects=False)
    assert unknown.status_code == 400 and "token: no site has this token" in unknown.text
    assert runs.running(stack.token) is None

    form = {"csrf_token": csrf(overview), "token": stack.token, "next": "https://evil.example/"}
    no_worker = s.post(url, data=form)  # nothing runs jobs: refused at once, not queued for ever
    assert no_worker.status_code == 200 and urlpath(no_worker.url) == "/dashboard/"
    assert "Not refreshed: no logdig worker is running" in no_worker.text
    assert runs.running(stack.token) is None and runs.last(stack.token)["ok"] is False

    held = runs.start(stack.token)  # a run in progress (another user's click)
    busy = s.post(url, data=form, allow_redirects=False)
    assert busy.status_code == 409 and "A refresh of test-site is already running, started" in busy.text
    assert runs.running(stack.token)["id"] == held


def urlpath(url: str) -> str:
    return requests.utils.urlparse(url).path


def test_refresh_in_dev_mode_runs_in_process_without_a_worker(local_settings, redis):
    """`logdig dev` has no rq worker: its runner (devmode.run.refresh_runner) does the same job."""
    from devmode.run import refresh_runner
    from logdig.storage import open_store

    settings = local_settings.replace(admin_password=STRONG, cookie_secure="off")
    stack = start_collector(settings)
    try:
        store = open_store(settings)
        stack.server.app.extensions["logdig"]["refresh_runner"] = refresh_runner(settings, redis, store)
        s = session(stack)
        overview = s.get(f"{stack.url}/dashboard/", params={"token": stack.token})
        click(stack, 2)
        form = {"csrf_token": csrf(overview), "token": stack.token}
        answer = s.post(f"{stack.url}/dashboard/refresh", data=form)
        assert "Refreshed test-site" in answer.text, answer.text[:500]
        assert today_events(s, stack) == "2"
    finally:
        stack.stop()

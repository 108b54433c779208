"""The dashboard reads results from an S3 API server as it does from a folder."""

from __future__ import annotations

import re

import pytest

from logdig.queue import EventQueue, Sites, connect
from logdig.storage import open_store
from tests.helpers import make_event
from web import create_app
from worker.flush import Flusher

pytestmark = pytest.mark.integration


def test_overview_and_page_read_results_from_s3(s3_settings):
    from analysis.scheduled import run_scheduled

    settings = s3_settings.replace(admin_password="an admin password for s3")
    redis = connect(settings.redis_url)
    token = Sites(redis).create("s3-site").token
    app = create_app(settings, redis=redis)  # no store injected: the app opens S3 itself
    client = app.test_client()
    page = "https://s3-site.example/pricing"
    events = [
        make_event(token, user_key=f"user{i:016d}", current_page=page, selector="#plan", viewport_w=1280)
        for i in range(3)
    ] + [make_event(token, type="pageview", current_page=page, link=None, x=None, y=None, referrer=None)]
    assert client.post("/logs", json=events).json["accepted"] == len(events)
    Flusher(EventQueue(redis), open_store(settings), settings).flush(force=True)
    run_scheduled(settings, redis=redis)

    environ = {"REMOTE_ADDR": "192.0.2.7"}
    login = client.get("/dashboard/login", environ_base=environ)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    client.post(
        "/dashboard/login", data={"password": "an admin password for s3", "csrf_token": csrf}, environ_base=environ
    )
    overview = client.get(f"/dashboard/?token={token}", environ_base=environ)
    assert overview.status_code == 200 and page in overview.text
    detail = client.get(f"/dashboard/page?token={token}&page={page}", environ_base=environ)
    assert detail.status_code == 200 and "#plan" in detail.text
    csv = client.get(f"/dashboard/export/page/click_map.csv?token={token}&page={page}", environ_base=environ)
    # The element's text comes first (these clicks carry none), then its selector.
    assert csv.text.splitlines()[1] == ",#plan,3,3,0"

"""The scheduled run: today and yesterday always, an older day only when its objects changed."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis

from analysis.definitions import Definitions, parse_funnel
from analysis.scheduled import run_scheduled
from logdig.config import Settings
from logdig.storage import LocalStore

from .conftest import event, store_lines

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def at(day: str, eid: str) -> dict:
    return event(event_id=eid, type="pageview", timestamp=f"{day}T10:00:00Z", received_at=f"{day}T10:00:01.000Z")


def test_recomputes_only_changed_past_days(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    redis = fakeredis.FakeRedis()
    Definitions(redis).put("funnel", parse_funnel({"name": "f", "steps": ["url:*", "url:*"]}))
    for day in ("2026-11-22", "2026-11-24", "2026-11-26", "2026-11-27"):
        store_lines(tmp_path, day, [at(day, f"{day}-1")])
    store = LocalStore(tmp_path)

    first = run_scheduled(settings, redis=redis, store=store, now=NOW)
    assert first["days"] == ["2026-11-22", "2026-11-24", "2026-11-26", "2026-11-27"]  # never analysed yet
    assert store.get("results/funnels/tok/2026-11-22.json")

    second = run_scheduled(settings, redis=redis, store=store, now=NOW)
    assert second["days"] == ["2026-11-26", "2026-11-27"]

    store_lines(tmp_path, "2026-11-24", [at("2026-11-24", "late")])  # a late object
    third = run_scheduled(settings, redis=redis, store=store, now=NOW)
    assert third["days"] == ["2026-11-24", "2026-11-26", "2026-11-27"]
    assert '"events": 2' in store.get("results/pages/tok/2026-11-24.json").decode()

"""Fresher history (issue 16, item 2): with the production defaults a click reaches the day
tables within 10 minutes; today's analysis between full runs only when its objects changed;
one site's analysis on demand."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import fakeredis
from rq.cron import CronScheduler

from analysis.scheduled import FRESH_TARGET, fresh_days, freshness_bound, refresh_site, run_fresh, run_scheduled
from devmode.run import dev_settings
from logdig.config import Settings
from logdig.storage import LocalStore

from .conftest import event, store_lines

NOW = datetime(2026, 11, 27, 0, 4, tzinfo=UTC)  # just after midnight: yesterday still gets objects
TODAY, YESTERDAY = "2026-11-27", "2026-11-26"
ONE_RUN = 120  # seconds one analysis of today may take within the target (bench_fresh: ~1-3 s at 10^5 events)


def at(day: str, eid: str, token: str = "tok") -> dict:
    return event(
        event_id=eid, token=token, type="pageview", timestamp=f"{day}T10:00:00Z", received_at=f"{day}T10:00:01.000Z"
    )


def scheduled_intervals(monkeypatch) -> dict[str, int]:
    """The real scheduler/cron.py, loaded as `logdig scheduler` loads it, under the defaults."""
    for name in list(__import__("os").environ):
        if name.startswith("LOGDIG_"):
            monkeypatch.delenv(name)
    cron = CronScheduler(connection=fakeredis.FakeRedis())
    cron.load_config_from_file("scheduler.cron")
    return {job.name: job.interval for job in cron.get_jobs()}


def test_default_schedule_puts_a_click_in_the_day_tables_within_ten_minutes(monkeypatch):
    intervals = scheduled_intervals(monkeypatch)
    defaults = Settings()
    assert intervals["flush"] == defaults.flush_interval
    assert intervals["analyze-today"] == defaults.analyze_today_interval
    worst = freshness_bound(defaults, run_seconds=ONE_RUN)
    assert worst <= FRESH_TARGET, f"{worst} s from a 202 to the day tables"
    # before: no analysis of today between the 15-minute full runs
    assert freshness_bound(defaults.replace(analyze_today_interval=0), run_seconds=0) > FRESH_TARGET
    # `logdig dev` runs the same jobs, faster: under a minute besides the run itself
    assert freshness_bound(dev_settings(defaults, environ={}), run_seconds=0) <= 60


def test_today_is_analysed_again_only_when_its_objects_changed_and_one_site_on_demand(tmp_path):
    settings, redis, store = Settings(data_dir=str(tmp_path)), fakeredis.FakeRedis(), LocalStore(tmp_path)
    store_lines(tmp_path, YESTERDAY, [at(YESTERDAY, "y1")])
    store_lines(tmp_path, TODAY, [at(TODAY, "t1")])
    assert run_scheduled(settings, redis=redis, store=store, now=NOW)["days"] == [YESTERDAY, TODAY]

    assert run_fresh(settings, redis=redis, store=store, now=NOW)["days"] == []  # nothing new: two listings

    store_lines(tmp_path, TODAY, [at(TODAY, "t2"), at(TODAY, "b1", "siteB")])
    store_lines(tmp_path, YESTERDAY, [at(YESTERDAY, "y2")])  # 23:59's click, flushed at 00:04
    assert run_fresh(settings, redis=redis, store=store, now=NOW)["days"] == [YESTERDAY, TODAY]
    assert json.loads(store.get(f"results/pages/tok/{TODAY}.json"))["quality"]["events"] == 2
    assert json.loads(store.get(f"results/pages/tok/{YESTERDAY}.json"))["quality"]["events"] == 2
    assert run_fresh(settings, redis=redis, store=store, now=NOW)["days"] == []

    # "Refresh now": today, one site; the other site's results are left as they were
    store_lines(tmp_path, TODAY, [at(TODAY, "t3"), at(TODAY, "b2", "siteB")])
    assert refresh_site("tok", settings, redis=redis, store=store, now=NOW)["days"] == [TODAY]
    assert json.loads(store.get(f"results/pages/tok/{TODAY}.json"))["quality"]["events"] == 3
    assert json.loads(store.get(f"results/pages/siteB/{TODAY}.json"))["quality"]["events"] == 1
    # the day report is a full run's: the next fresh check still redoes the day for every site
    assert fresh_days(store, NOW.date()) == [TODAY]

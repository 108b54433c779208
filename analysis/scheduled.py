"""The scheduled analysis: today and yesterday (UTC) on the embedded engine, every
``LOGDIG_ANALYZE_INTERVAL`` seconds, plus any of the ``RECHECK_DAYS`` days before
whose raw objects changed since they were last analysed.

Raw object keys are SHA-256 names of their content, so a day's list of keys changes
exactly when its data does; each full run records the list in the day report
(``analysis.run.DAY_REPORT``). A past day whose list matches is left alone. Changed
funnel or experiment definitions apply from the next run to today and yesterday; run
``logdig analyze --from DAY`` to apply them further back.

Between full runs, ``run_fresh`` (every ``LOGDIG_ANALYZE_TODAY_INTERVAL`` seconds) analyses
today and yesterday again only when their objects changed since their last full analysis:
cheap when nothing arrived (two listings), and a click reaches the day tables within
max wait + flush interval + this interval + one run (README, bench_fresh.py).
``refresh_site`` is the dashboard's "Refresh now": today (and any day given) for one site.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from analysis import io
from analysis.definitions import Definitions
from analysis.engines import duckdb_engine
from analysis.run import DAY_REPORT, analyze
from logdig.storage import open_store, results_key

RECHECK_DAYS = 7  # how far back a late or restored object still triggers a recompute
log = logging.getLogger(__name__)


def days_to_run(store: Any, today: date) -> list[str]:
    """Today, yesterday, and each earlier checked day whose objects changed."""
    days = [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    for back in range(RECHECK_DAYS, 1, -1):
        day = (today - timedelta(days=back)).isoformat()
        keys = io.day_objects(store, day)
        if not keys:
            continue
        report = io.read_json(store, results_key(DAY_REPORT, "all", day))
        if report is None or report.get("objects") != keys:
            days.insert(0, day)
    return sorted(days)


FRESH_TARGET = 600  # seconds from a 202 to the day tables with the production defaults (issue 16)


def freshness_bound(settings: Any, run_seconds: float, busy_seconds: float = 0.0) -> float:
    """The worst case, in seconds, from a 202 to the click in the day tables: a quiet site's
    event waits ``LOGDIG_MAX_WAIT`` in Redis, the flush that writes it comes at most
    ``LOGDIG_FLUSH_INTERVAL`` later, the next analysis of today starts at most one
    ``LOGDIG_ANALYZE_TODAY_INTERVAL`` after that (``LOGDIG_ANALYZE_INTERVAL`` when it is 0)
    and takes ``run_seconds``; ``busy_seconds`` is what the worker may be busy with first
    (one worker runs one job at a time: a full scheduled run)."""
    every = settings.analyze_today_interval or settings.analyze_interval
    return settings.max_wait + settings.flush_interval + every + run_seconds + busy_seconds


def fresh_days(store: Any, today: date) -> list[str]:
    """Yesterday and today, each only if its objects changed since its last full analysis
    (yesterday's last objects arrive just after midnight: the flush waits)."""
    days = []
    for day in ((today - timedelta(days=1)).isoformat(), today.isoformat()):
        keys = io.day_objects(store, day)
        report = io.read_json(store, results_key(DAY_REPORT, "all", day))
        if keys and (report is None or report.get("objects") != keys):
            days.append(day)
    return days


def _setup(settings: Any, redis: Any, store: Any) -> tuple[Any, Any, Any]:
    if settings is None:
        from logdig.config import Settings

        settings = Settings.from_env()
    store = store or open_store(settings)
    if redis is None and settings.redis_url:
        from logdig.queue import connect

        redis = connect(settings.redis_url)
    return settings, redis, store


def _analyze(settings: Any, redis: Any, store: Any, days: list[str], token: str | None = None) -> dict:
    definitions = Definitions(redis) if redis is not None else None
    funnels = definitions.funnels() if definitions else []
    experiments = definitions.experiments() if definitions else []
    goals = definitions.goals() if definitions else []
    engine = duckdb_engine()
    try:
        summary = analyze(
            engine, settings, store, days, token=token, funnels=funnels, experiments=experiments, goals=goals
        )
    finally:
        engine.close()
    bad = sum(sum(q["bad"].values()) for q in summary.quality.values() if q)
    site = f" for {token}" if token else ""
    log.info(
        "analysed %s%s: %d results, %d bad rows, %.1fs",
        ", ".join(days),
        site,
        len(summary.written),
        bad,
        summary.seconds,
    )
    for warning in summary.warnings:
        log.warning("%s", warning)
    return {
        "days": days,
        "results": len(summary.written),
        "bad_rows": bad,
        "seconds": round(summary.seconds, 3),
        "warnings": summary.warnings,
    }


def _today(now: datetime | None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def run_scheduled(
    settings: Any = None,
    redis: Any = None,
    store: Any = None,
    now: datetime | None = None,
) -> dict:
    """One scheduled run; returns a short summary for the job log."""
    settings, redis, store = _setup(settings, redis, store)
    return _analyze(settings, redis, store, days_to_run(store, _today(now)))


def run_fresh(settings: Any = None, redis: Any = None, store: Any = None, now: datetime | None = None) -> dict:
    """Today and yesterday again where their objects changed; nothing when none did."""
    settings, redis, store = _setup(settings, redis, store)
    days = fresh_days(store, _today(now))
    if not days:
        return {"days": [], "results": 0, "seconds": 0.0, "skipped": "no new objects"}
    return _analyze(settings, redis, store, days)


def refresh_site(
    token: str,
    settings: Any = None,
    redis: Any = None,
    store: Any = None,
    now: datetime | None = None,
    days: list[str] = (),
) -> dict:
    """Today's analysis (and ``days``') for one site, now: every job, that site's results
    only. The day report is left alone (it is a full run's), so the next ``run_fresh``
    still redoes the day for every site."""
    settings, redis, store = _setup(settings, redis, store)
    return _analyze(settings, redis, store, sorted({_today(now).isoformat(), *days}), token=token)

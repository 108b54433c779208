"""The scheduled analysis: today and yesterday (UTC) on the embedded engine, every
``LOGDIG_ANALYZE_INTERVAL`` seconds, plus any of the ``RECHECK_DAYS`` days before
whose raw objects changed since they were last analysed.

Raw object keys are SHA-256 names of their content, so a day's list of keys changes
exactly when its data does; each full run records the list in the day report
(``analysis.run.DAY_REPORT``). A past day whose list matches is left alone. Changed
funnel or experiment definitions apply from the next run to today and yesterday; run
``logdig analyze --from DAY`` to apply them further back.
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


def run_scheduled(
    settings: Any = None,
    redis: Any = None,
    store: Any = None,
    now: datetime | None = None,
) -> dict:
    """One scheduled run; returns a short summary for the job log."""
    if settings is None:
        from logdig.config import Settings

        settings = Settings.from_env()
    store = store or open_store(settings)
    if redis is None and settings.redis_url:
        from logdig.queue import connect

        redis = connect(settings.redis_url)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    days = days_to_run(store, today)
    definitions = Definitions(redis) if redis is not None else None
    funnels = definitions.funnels() if definitions else []
    experiments = definitions.experiments() if definitions else []
    goals = definitions.goals() if definitions else []
    engine = duckdb_engine()
    try:
        summary = analyze(engine, settings, store, days, funnels=funnels, experiments=experiments, goals=goals)
    finally:
        engine.close()
    bad = sum(sum(q["bad"].values()) for q in summary.quality.values() if q)
    log.info("analysed %s: %d results, %d bad rows, %.1fs", ", ".join(days), len(summary.written), bad, summary.seconds)
    for warning in summary.warnings:
        log.warning("%s", warning)
    return {
        "days": days,
        "results": len(summary.written),
        "bad_rows": bad,
        "seconds": round(summary.seconds, 3),
        "warnings": summary.warnings,
    }

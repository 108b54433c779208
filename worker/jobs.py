"""The functions rq runs. Each builds what it needs from the environment, so a job
enqueued by `rq cron` in one process runs the same in any worker."""

from __future__ import annotations

import importlib.util
import logging
import time
from typing import Any

from logdig.config import Settings
from logdig.queue import JOBS, EventQueue, connect
from logdig.refresh import Refreshes
from logdig.storage import RAW_KEY, open_store
from worker.flush import Flusher, FlushReport

QUEUE_NAME = JOBS

log = logging.getLogger("logdig.worker")


def flush(force: bool = False, settings: Settings | None = None) -> FlushReport:
    settings = settings or Settings.from_env()
    flusher = Flusher(EventQueue(connect(settings.redis_url)), open_store(settings), settings)
    report = flusher.flush(force=force)
    log.info("flush: %s", report.summary())
    return report


def flush_job() -> str:
    """What the scheduler enqueues every LOGDIG_FLUSH_INTERVAL seconds."""
    return flush().summary()


def analysis_available() -> bool:
    return importlib.util.find_spec("analysis.scheduled") is not None


def preload() -> None:
    """Import the analysis (DuckDB, sqlframe: about 1.5 s) and build the jobs' queries
    (``analysis.run.warm``: about 5 s of CPU) in the worker's main process, so the fork that
    runs each job has both already; "Refresh now" is waited for in a browser."""
    if analysis_available():
        import analysis.scheduled  # noqa: F401
        from analysis.run import warm

        warm()


def analyze_job() -> str:
    """What the scheduler enqueues every LOGDIG_ANALYZE_INTERVAL seconds: today's and
    yesterday's analysis on the embedded engine."""
    from analysis.scheduled import run_scheduled

    return str(run_scheduled(Settings.from_env()))


def fresh_job() -> str:
    """What the scheduler enqueues every LOGDIG_ANALYZE_TODAY_INTERVAL seconds: today and
    yesterday again, each only if its objects changed since its last full analysis."""
    from analysis.scheduled import run_fresh

    return str(run_fresh(Settings.from_env()))


def refresh(token: str, run_id: str, settings: Settings, redis: Any, store: Any) -> dict:
    """The dashboard's "Refresh now" for one site: write out every queued event (a forced
    flush, so a click sent a second ago is in), analyse today for ``token`` (and any day
    the flush wrote to: just after midnight, yesterday), record the outcome and free the
    site's lock (logdig.refresh). Never raises: a failure is the outcome."""
    started, cpu = time.perf_counter(), time.process_time()  # CPU: this process, every thread
    outcome: dict[str, Any]
    try:
        from analysis.scheduled import refresh_site  # in the try: without it, the outcome says so

        report = Flusher(EventQueue(redis), store, settings).flush(force=True)
        days = sorted({m.group(1) for m in map(RAW_KEY.match, report.objects) if m})
        flushed = time.perf_counter() - started
        done = refresh_site(token, settings, redis, store, days=days)
        outcome = {
            "ok": True,
            "days": done["days"],
            "flushed_events": report.events,
            "flush_seconds": round(flushed, 3),
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3),
        }
    except Exception as e:  # noqa: BLE001 - the dashboard shows it; the log has the traceback
        log.exception("refresh of %s failed", token)
        outcome = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300], "seconds": time.perf_counter() - started}
    Refreshes(redis).finish(token, run_id, outcome)
    return outcome


def refresh_job(token: str, run_id: str) -> str:
    """What the dashboard enqueues (by name, "worker.jobs.refresh_job") for "Refresh now"."""
    settings = Settings.from_env()
    return str(refresh(token, run_id, settings, connect(settings.redis_url), open_store(settings)))

"""The functions rq runs. Each builds what it needs from the environment, so a job
enqueued by `rq cron` in one process runs the same in any worker."""

from __future__ import annotations

import importlib.util
import logging

from logdig.config import Settings
from logdig.queue import EventQueue, connect
from logdig.storage import open_store
from worker.flush import Flusher, FlushReport

QUEUE_NAME = "logdig"

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


def analyze_job() -> str:
    """What the scheduler enqueues every LOGDIG_ANALYZE_INTERVAL seconds: today's and
    yesterday's analysis on the embedded engine."""
    from analysis.scheduled import run_scheduled

    return str(run_scheduled(Settings.from_env()))

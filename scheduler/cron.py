"""The schedule, as an `rq cron` configuration file.

`logdig scheduler` loads it; so does `rq cron scheduler/cron.py --url $LOGDIG_REDIS_URL`.
Run exactly one scheduler: rq's cron has no leader lock, so two would enqueue twice
(harmless for the flush, which is idempotent, but wasted work).
"""

from rq import cron

from logdig.config import Settings
from worker.jobs import QUEUE_NAME, analysis_available, analyze_job, flush_job, fresh_job

settings = Settings.from_env()

# A flush that finds too little to write returns at once, so a short interval is cheap;
# LOGDIG_MAX_WAIT, not this, bounds how long a quiet site's events wait.
cron.register(flush_job, QUEUE_NAME, interval=settings.flush_interval, job_timeout=600, name="flush")

if analysis_available():
    from worker.compact import COMPACT_INTERVAL, compact_job

    cron.register(analyze_job, QUEUE_NAME, interval=settings.analyze_interval, job_timeout=3600, name="analyze")
    if settings.analyze_today_interval:
        # today (and yesterday) again when their objects changed: a click reaches the day
        # tables within LOGDIG_MAX_WAIT + LOGDIG_FLUSH_INTERVAL + this + one run (README).
        # ttl: a copy still queued when the next is due (the worker was busy) is dropped.
        cron.register(
            fresh_job,
            QUEUE_NAME,
            interval=settings.analyze_today_interval,
            job_timeout=900,
            ttl=settings.analyze_today_interval,
            name="analyze-today",
        )
    # closed days into the Parquet lake, once each and again when their raw objects change
    cron.register(compact_job, QUEUE_NAME, interval=COMPACT_INTERVAL, job_timeout=3600, name="compact")

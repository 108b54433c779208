"""`logdig dev`: the whole pipeline in one process, for a first look.

collector (werkzeug, threaded) + a schedule thread (flush, analysis) + the demo site.
With no LOGDIG_REDIS_URL the queue lives in an in-process stand-in (fakeredis), so
it is flushed on shutdown; with no LOGDIG_S3_ENDPOINT objects go to LOGDIG_DATA_DIR.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import click
from werkzeug.serving import make_server

from logdig.config import Settings, redact_url
from logdig.queue import EventQueue, Sites, connect
from logdig.storage import LocalStore, open_store
from web import create_app
from worker.flush import Flusher
from worker.jobs import analysis_available

log = logging.getLogger("logdig.dev")

# A first look should show data within seconds, not the production 60 s / 300 s.
DEV_DEFAULTS = {"flush_interval": 5, "max_wait": 10}
DEMO_TOKEN_FILE = ".logdig-dev-demo-token"


def dev_settings(settings: Settings, environ: Mapping[str, str] = os.environ) -> Settings:
    from logdig.config import SETTINGS

    return settings.replace(**{k: v for k, v in DEV_DEFAULTS.items() if not environ.get(SETTINGS[k].env)})


def demo_token(sites: Sites, data_dir: str, in_process: bool) -> str:
    """The `demo` site's token, kept across restarts so old and new events share it."""
    saved = Path(data_dir) / DEMO_TOKEN_FILE
    site = sites.by_name("demo")
    if site is None and in_process and saved.is_file():
        site = sites.create("demo", token=saved.read_text().strip())
    if site is None:
        site = sites.create("demo")
    if in_process:
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(site.token)
    return site.token


class Schedule(threading.Thread):
    """Flush every LOGDIG_FLUSH_INTERVAL, analyse every LOGDIG_ANALYZE_INTERVAL."""

    def __init__(self, flusher: Flusher, settings: Settings):
        super().__init__(name="logdig-schedule", daemon=True)
        self.flusher, self.settings = flusher, settings
        self.stopping = threading.Event()

    def run(self) -> None:
        next_analysis = time.monotonic() + self.settings.flush_interval
        while not self.stopping.wait(self.settings.flush_interval):
            try:
                report = self.flusher.flush()
                if report.objects:
                    log.info("flush: %s", report.summary())
            except Exception:  # keep the loop alive; the events stay queued
                log.exception("flush failed; the events stay queued")
            if analysis_available() and time.monotonic() >= next_analysis:
                next_analysis = time.monotonic() + self.settings.analyze_interval
                try:
                    from analysis.scheduled import run_scheduled

                    run_scheduled(self.settings, redis=self.flusher.queue.redis, store=self.flusher.store)
                except Exception:
                    log.exception("analysis failed")


def run_dev(settings: Settings, host: str, port: int) -> None:
    settings = dev_settings(settings)
    generated = None
    if not settings.admin_password:
        # A first look should include the dashboard; this password lives as long as the process.
        generated = secrets.token_urlsafe(12)
        settings = settings.replace(admin_password=generated)
    in_process = not settings.redis_url
    redis = connect(settings.redis_url)
    store = open_store(settings)
    store.ensure_bucket()
    token = demo_token(Sites(redis), settings.data_dir, in_process)

    app = create_app(settings, redis=redis, store=store)
    app.config["LOGDIG_DEMO_TOKEN"] = token
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host}:{server.server_port}"
    flusher = Flusher(EventQueue(redis), store, settings)
    schedule = Schedule(flusher, settings)

    where = store.root if isinstance(store, LocalStore) else store.description
    password = f"  password: {generated}  (generated; set LOGDIG_ADMIN_PASSWORD to choose one)" if generated else ""
    click.echo(
        f"LogDig dev is running at {base}\n"
        f"  queue:   {'in-process (flushed on shutdown)' if in_process else redact_url(settings.redis_url)}\n"
        f"  objects: {where}  (every {settings.flush_interval} s once {settings.batch_min} events "
        f"are queued or the oldest waited {settings.max_wait} s)\n"
        f"  demo site: {base}/demo/\n"
        f"  dashboard: {base}/dashboard/{password}\n"
        f"  token 'demo': {token}\n"
        f"  paste into your pages:\n"
        f'    <script async src="{base}/clicktracker.js" data-token="{token}"></script>\n'
        f"Press Ctrl+C to stop.",
    )

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    schedule.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        schedule.stopping.set()
        schedule.join(timeout=30)
        server.server_close()
        report = flusher.flush(force=True)
        click.echo(f"Stopped. Final flush: {report.summary()}")

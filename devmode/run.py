"""`logdig dev`: the whole pipeline in one process, for a first look.

collector (werkzeug, threaded) + a schedule thread (flush, analysis) + the demo site.
With no LOGDIG_REDIS_URL the queue lives in an in-process stand-in (fakeredis), which
is also served on a private unix socket so that every other `logdig` command finds it
(logdig.devstate); it is flushed on shutdown, and what the user defines there (sites,
funnels, experiments) is saved in the data folder and loaded again on the next start.
With no LOGDIG_S3_ENDPOINT objects go to LOGDIG_DATA_DIR.
"""

from __future__ import annotations

import itertools
import logging
import os
import select
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import click
from werkzeug.serving import make_server

from logdig import devstate
from logdig.config import ADMIN_PASSWORD_MIN, Settings, redact_url, weak_password
from logdig.queue import EventQueue, Sites, connect
from logdig.storage import LocalStore, open_store
from web import create_app
from worker.flush import Flusher
from worker.jobs import analysis_available

log = logging.getLogger("logdig.dev")

# A first look should show data within seconds, not the production 60 s / 300 s / 120 s:
# a click is in the day tables within 10 + 5 + 10 s and one analysis.
DEV_DEFAULTS = {"flush_interval": 5, "max_wait": 10, "analyze_today_interval": 10}
SAVE_EVERY = 1.0  # seconds between checks for changed definitions


def dev_settings(settings: Settings, environ: Mapping[str, str] = os.environ) -> Settings:
    from logdig.config import SETTINGS

    return settings.replace(**{k: v for k, v in DEV_DEFAULTS.items() if not environ.get(SETTINGS[k].env)})


def demo_token(sites: Sites, data_dir: str) -> str:
    """The `demo` site's token. Restored with the saved state; a token an older dev
    kept in its own file is taken over, so old and new events share it."""
    site = sites.by_name("demo")
    old = Path(data_dir) / devstate.OLD_DEMO_TOKEN_FILE
    if site is None and old.is_file():
        site = sites.create("demo", token=old.read_text().strip())
    return (site or sites.create("demo")).token


class Schedule(threading.Thread):
    """Flush every LOGDIG_FLUSH_INTERVAL; compact closed days and analyse every LOGDIG_ANALYZE_INTERVAL;
    between those, today and yesterday again every LOGDIG_ANALYZE_TODAY_INTERVAL when their objects changed
    (scheduler/cron.py, the same jobs)."""

    def __init__(self, flusher: Flusher, settings: Settings):
        super().__init__(name="logdig-schedule", daemon=True)
        self.flusher, self.settings = flusher, settings
        self.stopping = threading.Event()

    def run(self) -> None:
        next_analysis = time.monotonic() + self.settings.flush_interval
        next_fresh = next_analysis
        while not self.stopping.wait(self.settings.flush_interval):
            try:
                report = self.flusher.flush()
                if report.objects:
                    log.info("flush: %s", report.summary())
            except Exception:  # keep the loop alive; the events stay queued
                log.exception("flush failed; the events stay queued")
            if analysis_available() and time.monotonic() >= next_analysis:
                next_analysis = time.monotonic() + self.settings.analyze_interval
                try:  # closed days into the lake first, so the analysis reads them from there
                    from worker.compact import COMPACT_SLICE, Compactor

                    # a slice at a time, so a long history does not hold the flushes back
                    compacted = Compactor(self.flusher.store, self.settings).run(budget=COMPACT_SLICE)
                    if compacted.days:
                        log.info("compact: %s", compacted.summary())
                except Exception:
                    log.exception("compaction failed; the raw objects are read instead")
                try:
                    from analysis.scheduled import run_scheduled

                    run_scheduled(self.settings, redis=self.flusher.queue.redis, store=self.flusher.store)
                except Exception:
                    log.exception("analysis failed")
            elif analysis_available() and self.settings.analyze_today_interval and time.monotonic() >= next_fresh:
                next_fresh = time.monotonic() + self.settings.analyze_today_interval
                try:
                    from analysis.scheduled import run_fresh

                    run_fresh(self.settings, redis=self.flusher.queue.redis, store=self.flusher.store)
                except Exception:
                    log.exception("analysis of today failed")


def refresh_runner(settings: Settings, redis, store):
    """What the dashboard calls for "Refresh now" when there is no rq worker: the worker's
    own job (worker.jobs.refresh), in a thread; it records its outcome and frees the lock."""
    from worker.jobs import refresh

    def run(token: str, run_id: str) -> None:
        threading.Thread(
            target=refresh, args=(token, run_id, settings, redis, store), name="logdig-refresh", daemon=True
        ).start()

    return run


class Keeper(threading.Thread):
    """Saves the user's definitions to the data folder whenever they change."""

    def __init__(self, redis, data_dir: str):
        super().__init__(name="logdig-keeper", daemon=True)
        self.redis, self.data_dir = redis, data_dir
        self.stopping = threading.Event()
        self.saved: dict | None = None

    def save(self) -> None:
        state = devstate.snapshot(self.redis)
        if state != self.saved:
            devstate.save(self.data_dir, state)
            self.saved = state

    def run(self) -> None:
        while not self.stopping.wait(SAVE_EVERY):
            try:
                self.save()
            except OSError:
                log.exception("could not save the definitions in %s", self.data_dir)


def _unix_server():
    """fakeredis's socket server, on a unix socket instead of a port: a socket in a folder
    only this account can open (mkdtemp makes it 0700), where a loopback port was open to
    every local user (who could read the dashboard's signing key and forge a session;
    the stand-in has no working AUTH). Each connection gets its own client address."""
    import fakeredis

    class UnixServer(fakeredis.TcpFakeServer):
        address_family = socket.AF_UNIX
        connections = itertools.count()

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)

            class Handler(self.RequestHandlerClass):
                def setup(self):
                    super().setup()
                    self.writer.writer = _WholeReplies(self.connection)

            self.RequestHandlerClass = Handler

        def get_request(self):
            conn, _ = self.socket.accept()
            return conn, (f"unix-{next(self.connections)}", 0)

    return UnixServer


class _WholeReplies:
    """fakeredis makes its server's sockets non-blocking and writes each reply with one
    sendall, which fails half written (BlockingIOError) once the reply outgrows the
    socket's buffer: `logdig flush --force` with 5,000 queued events (2.9 MB) said "Redis
    is unreachable". This writes the whole reply, waiting while the buffer is full (a
    client that reads nothing for WRITE_STALL seconds is dropped)."""

    WRITE_STALL = 30.0

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                _r, writable, _x = select.select([], [self.sock], [], self.WRITE_STALL)
                if not writable:
                    raise ConnectionError("the client read nothing for 30 s") from None
        return len(data)

    def flush(self) -> None:
        pass


class StandIn:
    """The in-process Redis stand-in, also served on a private unix socket for the CLI."""

    def __init__(self, data_dir: str):
        import fakeredis

        self.folder = tempfile.mkdtemp(prefix="logdig-dev-")
        path = os.path.join(self.folder, "redis.sock")
        self.server = _unix_server()(path)
        self.server.daemon_threads = True
        self.url = f"unix://{path}"
        self.redis = fakeredis.FakeRedis(server=self.server.fake_server)
        try:
            saved = devstate.load(data_dir)
        except ValueError as e:
            self.server.server_close()  # never served: shutdown() would wait for ever
            shutil.rmtree(self.folder, ignore_errors=True)
            raise click.ClickException(f"{e}; move it away to start afresh") from None
        if saved:
            devstate.restore(self.redis, saved)
        threading.Thread(target=self.server.serve_forever, name="logdig-standin", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)


def run_dev(settings: Settings, host: str, port: int) -> None:
    settings = dev_settings(settings)
    settings = settings.replace(data_dir=os.path.abspath(settings.data_dir))
    generated = None
    if not settings.admin_password:
        # A first look should include the dashboard: a password kept in the data folder.
        generated = devstate.dev_password(settings.data_dir)
        settings = settings.replace(admin_password=generated)
    store = open_store(settings)
    store.ensure_bucket()
    standin = StandIn(settings.data_dir) if not settings.redis_url else None
    redis = standin.redis if standin else connect(settings.redis_url)
    token = demo_token(Sites(redis), settings.data_dir)
    keeper = Keeper(redis, settings.data_dir) if standin else None
    if keeper:
        keeper.save()

    app = create_app(settings, redis=redis, store=store)
    app.config["LOGDIG_DEMO_TOKEN"] = token
    # no rq worker here: the dashboard's "Refresh now" runs in a thread of this process
    app.extensions["logdig"]["refresh_runner"] = refresh_runner(settings, redis, store)
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host}:{server.server_port}"
    flusher = Flusher(EventQueue(redis), store, settings)
    schedule = Schedule(flusher, settings)
    pointer = devstate.announce(
        devstate.DevInfo(os.getpid(), standin.url if standin else settings.redis_url, settings.data_dir, base)
    )

    where = store.root if isinstance(store, LocalStore) else store.description
    queue = f"in-process, also at {standin.url} (flushed on shutdown)" if standin else redact_url(settings.redis_url)
    password = (
        f"  password: {generated}  (generated once, kept in "
        f"{os.path.join(settings.data_dir, devstate.PASSWORD_FILE)}; set LOGDIG_ADMIN_PASSWORD to choose one)"
        if generated
        else ""
    )
    if weak := weak_password(settings.admin_password):
        password = f"  locked: {weak} (at least {ADMIN_PASSWORD_MIN} characters, not a known default)"
    banner = (
        f"LogDig dev is running at {base}\n"
        f"  queue:   {queue}\n"
        f"  objects: {where}  (every {settings.flush_interval} s once {settings.batch_min} events "
        f"are queued or the oldest waited {settings.max_wait} s)\n"
        f"  demo site: {base}/demo/\n"
        f"  dashboard: {base}/dashboard/{password}\n"
        f"  token 'demo': {token}\n"
        f"  paste into your pages:\n"
        f'    <script async src="{base}/clicktracker.js" data-token="{token}"></script>\n'
        f"  other `logdig` commands in this account use this queue and folder ({pointer})\n"
        f"Press Ctrl+C to stop."
    )

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:  # from the banner on, Ctrl+C always ends with the final flush
        schedule.start()
        if keeper:
            keeper.start()
        click.echo(banner)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        schedule.stopping.set()
        schedule.join(timeout=30)
        server.server_close()
        report = flusher.flush(force=True)
        if keeper:
            keeper.stopping.set()
            keeper.save()
        devstate.withdraw(os.getpid())
        if standin:
            standin.close()
        click.echo(f"Stopped. Final flush: {report.summary()}")

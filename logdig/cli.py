"""The `logdig` command. Each sub-command reads the same LOGDIG_* / AWS_* settings.

Errors are translated here, at the edge: a setting or service problem becomes a
one-line message and exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from logdig import devstate
from logdig.config import ADMIN_PASSWORD_MIN, SETTINGS, WEAK_SECRETS, ConfigError, Settings, redact_url, weak_password
from logdig.queue import EventQueue, Sites, connect
from logdig.storage import StorageError, open_store

SETTINGS_HELP = "Settings come from the environment: " + ", ".join(s.env for s in SETTINGS.values()) + "."


class Refused(click.ClickException):
    """An argument that makes no sense: one line, exit 2 (a usage error)."""

    exit_code = 2


def settings(dev: bool = True) -> Settings:
    """The settings from the environment. With ``dev`` (every command a user types, not
    the services), a running `logdig dev` fills in what is not set: its queue when
    LOGDIG_REDIS_URL is empty, and its data folder when LOGDIG_DATA_DIR is."""
    try:
        s = Settings.from_env()
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    found = devstate.running_dev() if dev else None
    if found is None or (s.redis_url and s.redis_url != found.redis_url):
        return s
    changes = {"redis_url": found.redis_url}
    if not os.environ.get("LOGDIG_DATA_DIR") and not s.s3_endpoint:
        changes["data_dir"] = found.data_dir
    click.echo(f"(using the running `logdig dev` at {found.url}: data in {found.data_dir})", err=True)
    return s.replace(**changes)


def no_redis_message() -> str:
    return (
        f"LOGDIG_REDIS_URL is not set and no `logdig dev` is running (looked for {devstate.pointer_path()}); "
        "start `logdig dev` in another terminal, or set LOGDIG_REDIS_URL"
    )


def translate_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Service failures become a clear message and exit 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except RedisError as e:
            raise click.ClickException(f"Redis is unreachable ({e}); check LOGDIG_REDIS_URL") from None
        except (StorageError, ConfigError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def redis_for(s: Settings):
    if not s.redis_url:
        raise click.ClickException(no_redis_message())
    return connect(s.redis_url)


def stored_data(s: Settings):
    """The object store of a command that reads what is stored: a missing data folder is
    an error (never created, never "0 results"), naming where it looked."""
    if not s.s3_endpoint and not os.path.isdir(s.data_dir):
        last = devstate.last_data_dir()
        hint = f"; the last `logdig dev` kept its data in {last}: set LOGDIG_DATA_DIR={last}" if last else ""
        raise click.ClickException(
            f"no data folder at {os.path.abspath(s.data_dir)} (LOGDIG_DATA_DIR), so nothing is stored there; "
            f"no `logdig dev` is running either (looked for {devstate.pointer_path()}){hint}"
        )
    return open_store(s)


def script_tag(base_url: str, token: str) -> str:
    return f'<script async src="{base_url.rstrip("/")}/clicktracker.js" data-token="{token}"></script>'


# name -> attribute of analysis.cli. Imported only when used: it pulls in scipy and
# DuckDB, seconds of start-up that `logdig flush`, worker and scheduler do not need.
ANALYSIS_COMMANDS = {
    "analyze": "analyze_cmd",
    "funnel": "funnel_group",
    "experiment": "experiment_group",
    "goal": "goal_group",
}


def with_settings_help(command: click.Command) -> click.Command:
    """``command`` and its subcommands, each help ending with :data:`SETTINGS_HELP`."""
    command.epilog = command.epilog or SETTINGS_HELP
    for sub in getattr(command, "commands", {}).values():
        with_settings_help(sub)
    return command


class LogdigGroup(click.Group):
    def _analysis(self) -> bool:
        return importlib.util.find_spec("analysis.cli") is not None

    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = list(ANALYSIS_COMMANDS) if self._analysis() else []
        return sorted([*super().list_commands(ctx), *extra])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in ANALYSIS_COMMANDS and self._analysis():
            from analysis import cli as analysis_cli

            return with_settings_help(getattr(analysis_cli, ANALYSIS_COMMANDS[name]))
        found = super().get_command(ctx, name)
        return None if found is None else with_settings_help(found)


def keep_running(run: Callable[[], Any], what: str) -> None:
    """Run a long-lived loop; when Redis goes away (a restart), wait and start it again
    instead of exiting, so a stack without restart policies keeps flushing."""
    while True:
        try:
            run()
            return
        except RedisConnectionError as e:
            logging.getLogger("logdig").warning("%s lost Redis (%s); reconnecting in 2 s", what, e)
            time.sleep(2)


@click.group(cls=LogdigGroup, epilog=SETTINGS_HELP)
@click.version_option(package_name="logdig")
def main() -> None:
    """LogDig: a self-hosted web activity collector."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="Folder for objects [LOGDIG_DATA_DIR].")
def dev(host: str, port: int, data_dir: str | None) -> None:
    """Run everything in one process, with no services: collector, flush loop,
    schedule and demo site. Uses an in-process Redis stand-in and a local folder
    unless LOGDIG_REDIS_URL / LOGDIG_S3_ENDPOINT are set. Flushes on shutdown."""
    from devmode.run import run_dev

    s = settings(dev=False)
    run_dev(s.replace(data_dir=data_dir) if data_dir else s, host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 in compose).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn worker processes.")
@translate_errors
def web(host: str, port: int, workers: int) -> None:
    """Run the collector under gunicorn."""
    from logdig.geo import countries
    from web.serve import serve_gunicorn

    s = settings(dev=False)
    redis_for(s)
    countries(s.geoip_db)  # an unreadable LOGDIG_GEOIP_DB: one line here, not a worker's traceback
    serve_gunicorn(host, port, workers)


@main.command()
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
@translate_errors
def worker(burst: bool) -> None:
    """Run the RQ worker that executes flush and analysis jobs."""
    from rq import Worker

    from worker.jobs import QUEUE_NAME, preload

    redis = redis_for(settings(dev=False))
    redis.ping()
    preload()  # each job runs in a fork of this process: the analysis is imported once, here
    keep_running(lambda: Worker([QUEUE_NAME], connection=redis).work(burst=burst, with_scheduler=False), "worker")


@main.command()
@translate_errors
def scheduler() -> None:
    """Run the `rq cron` process that enqueues the flush every LOGDIG_FLUSH_INTERVAL
    seconds, the analysis every LOGDIG_ANALYZE_INTERVAL, today's again every
    LOGDIG_ANALYZE_TODAY_INTERVAL when new objects arrived, and compaction into the lake
    hourly (scheduler/cron.py). Run exactly one."""
    from rq.cron import CronScheduler

    redis = redis_for(settings(dev=False))
    redis.ping()

    def run() -> None:
        cron = CronScheduler(connection=redis)
        cron.load_config_from_file("scheduler.cron")
        cron.start()

    keep_running(run, "scheduler")


@main.command()
@click.option("--force", is_flag=True, help="Write whatever is queued, even below LOGDIG_BATCH_MIN.")
@translate_errors
def flush(force: bool) -> None:
    """Flush the queue into objects now, and exit (0 also when nothing is due)."""
    from worker.jobs import flush as run_flush

    s = settings()
    redis_for(s)
    click.echo(run_flush(force=force, settings=s).summary())


@main.command()
@click.option("--url", default="http://localhost:8000", show_default=True, help="Public URL of the collector.")
@translate_errors
def setup(url: str) -> None:
    """Create the bucket, check Redis and storage, and print the tag to paste."""
    s = settings(dev=False)
    weak = []
    if s.s3_endpoint and (s.aws_secret_access_key.lower() in WEAK_SECRETS or len(s.aws_secret_access_key) < 8):
        weak.append("AWS_SECRET_ACCESS_KEY must be set to a secret of 8 or more characters that is not a known default")
    if reason := weak_password(s.admin_password):  # the dashboard's own rule: it stays locked otherwise
        weak.append(f"{reason}: set one of {ADMIN_PASSWORD_MIN} or more characters that is not a known default")
    if weak:
        raise click.ClickException("; ".join(weak))
    redis = redis_for(s)
    redis.ping()
    click.echo(f"Redis: ok ({redact_url(s.redis_url)})")
    store = open_store(s)
    store.ensure_bucket()
    click.echo(f"Storage: ok ({store.description})")
    sites = Sites(redis).all()
    if not sites:
        click.echo("No site yet: run `logdig token create NAME --origin https://your.site`.")
    for site in sites:
        click.echo(f"Paste into every page of {site.name}:\n  {script_tag(url, site.token)}")


# The user keys clicktracker.js makes (persist() in clicktracker/src/clicktracker.js).
TRACKER_KEY = re.compile(r"[A-Za-z0-9]{20}")


@main.command()
@click.argument("user_key")
@click.option("--token", help="Only this site's events of the user.")
@click.option("--any-key", is_flag=True, help="USER_KEY was made by your own client, not clicktracker.js.")
@translate_errors
def forget(user_key: str, token: str | None, any_key: bool) -> None:
    """Remove one user's events from every stored object. Queued events are flushed
    first, so none escape; rewritten objects get their new SHA-256 names."""
    from worker.jobs import flush as run_flush
    from worker.retention import forget as forget_user

    if not any_key and not TRACKER_KEY.fullmatch(user_key):
        raise Refused(
            f"{user_key!r} is not a user key clicktracker.js makes (20 letters and digits, shown in the "
            "visitor's localStorage as logdig_uk); pass --any-key for a key your own client sent"
        )
    s = settings()
    if s.redis_url:
        run_flush(force=True, settings=s)
    click.echo(forget_user(stored_data(s), user_key, token).summary())


@main.command()
@click.option("--older-than", "days", required=True, type=click.IntRange(0), help="Keep this many days before today.")
@translate_errors
def prune(days: int) -> None:
    """Delete raw day folders, and their lake days, older than DAYS days (UTC); results/ is kept."""
    from datetime import UTC, datetime

    from worker.retention import prune as prune_days

    deleted = prune_days(stored_data(settings()), days, datetime.now(UTC).date())
    click.echo(f"deleted {len(deleted)} objects")


def _day_option(ctx: click.Context, param: click.Parameter, value: str | None):
    from datetime import date

    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-27") from None


@main.command()
@click.option(
    "--from", "start", callback=_day_option, metavar="DATE", help="First day (UTC) [default: the first stored]."
)
@click.option("--to", "end", callback=_day_option, metavar="DATE", help="Last day (UTC) [default: the last closed].")
@click.option("--token", help="Rebuild only this site's part of days already compacted.")
@translate_errors
def compact(start, end, token: str | None) -> None:
    """Compact closed days' raw objects into the Parquet lake (lake/events/day=.../token=...),
    which analysis and Spark read instead of the JSON Lines. Only days whose raw objects
    changed since their last compaction are rewritten; a day is closed once it ended more
    than LOGDIG_MAX_WAIT plus an hour ago."""
    if start and end and start > end:
        raise Refused("--from is after --to")
    if importlib.util.find_spec("analysis.run") is None:
        raise click.ClickException("compaction needs the analysis package (DuckDB, pyarrow)")
    from worker.compact import compact as run_compact

    s = settings()
    report = run_compact(s, stored_data(s), start, end, token)
    click.echo(report.summary())
    if report.failed:
        raise click.ClickException(f"could not compact {', '.join(report.failed)} (the log says why)")


@main.command()
@translate_errors
def status() -> None:
    """Show the queue and the counters."""
    q = EventQueue(redis_for(settings()))
    state = q.state()
    click.echo(f"queued: {state.length}  in flight: {state.inflight}  oldest: {state.oldest_received_at or '-'}")
    for name, n in sorted(q.stats().items()):
        click.echo(f"{name}: {n}")


# Groups kept in their own modules (they import this one's helpers when they run).
from logdig.cli_apikey import apikey  # noqa: E402
from logdig.cli_sessions import sessions  # noqa: E402
from logdig.cli_token import token  # noqa: E402

main.add_command(token)
main.add_command(apikey)
main.add_command(sessions)

if __name__ == "__main__":
    sys.exit(main())

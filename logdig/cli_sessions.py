"""`logdig sessions`: the dashboard's logins (logdig.sessions), registered in logdig.cli.

The helpers of logdig.cli are imported when a command runs, not here: logdig.cli
imports this module at its end.
"""

from __future__ import annotations

from collections.abc import Callable

import click


def _run(body: Callable[..., None]) -> None:
    """``body(store)`` with the session store, errors as logdig.cli reports them."""
    from logdig.cli import redis_for, settings, translate_errors
    from logdig.sessions import SessionStore

    translate_errors(lambda: body(SessionStore(redis_for(settings()))))()


@click.group()
def sessions() -> None:
    """Dashboard logins (kept in Redis, 12 hours each): count them, or end them all."""


@sessions.command("list")
def sessions_list() -> None:
    """How many dashboard sessions are live, and when the oldest logged in (UTC)."""

    def show(store) -> None:
        from datetime import UTC, datetime

        info = store.info()
        oldest = (
            datetime.fromtimestamp(info.oldest_login, UTC).isoformat(timespec="seconds") if info.oldest_login else "-"
        )
        click.echo(f"live sessions: {info.count}  oldest login: {oldest}")

    _run(show)


@sessions.command("revoke")
def sessions_revoke() -> None:
    """End every dashboard session now: everyone logs in again."""

    def end(store) -> None:
        ended = store.revoke_all()
        click.echo(f"ended {ended} session{'' if ended == 1 else 's'}")

    _run(end)

"""`logdig apikey`: read-only Stats API keys per site (logdig.apikeys), registered in logdig.cli.

The helpers of logdig.cli are imported when a command runs, not here: logdig.cli
imports this module at its end.
"""

from __future__ import annotations

import click


def _keys():
    from logdig.apikeys import ApiKeys
    from logdig.cli import redis_for, settings

    return ApiKeys(redis_for(settings()))


def _site(keys, token: str) -> None:
    from logdig.queue import Sites

    if Sites(keys.redis).get(token) is None:
        raise click.ClickException(f"no site with token {token!r} (see `logdig token list`)")


def _guarded(f):
    from logdig.cli import translate_errors

    return translate_errors(f)


@click.group()
def apikey() -> None:
    """Read-only Stats API keys, one site each (GET /api/v1/...; stored only as SHA-256)."""


@apikey.command("create")
@click.option("--token", required=True, help="The site the key may read.")
@click.option("--name", default="", help="What the key is for (shown by `list`).")
def apikey_create(token: str, name: str) -> None:
    """Make a key for one site; prints it alone on stdout, once: it is not stored."""

    def run() -> None:
        keys = _keys()
        _site(keys, token)
        try:
            _record, key = keys.create(token, name)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        click.echo("(shown once: store it now; `logdig apikey list` shows only its prefix)", err=True)
        click.echo(key)

    _guarded(run)()


@apikey.command("list")
@click.option("--token", help="Only this site's keys.")
def apikey_list(token: str | None) -> None:
    """The keys: prefix, site token, name and creation time (UTC), never the key."""

    def run() -> None:
        found = _keys().list(token)
        if not found:
            click.echo("no API keys" + (" for this token" if token else ""))
        for k in found:
            click.echo(f"{k.prefix}  {k.token}  {k.created_at}  {k.name or '-'}")

    _guarded(run)()


@apikey.command("revoke")
@click.argument("prefix")
@click.option("--token", help="Only if the key is this site's.")
def apikey_revoke(prefix: str, token: str | None) -> None:
    """Revoke a key by the prefix `list` shows (ldk_<id>); it is refused from the next request."""

    def run() -> None:
        found = _keys().revoke(prefix, token)
        if found is None:
            # never echo what was given: it may be a whole key pasted by mistake
            raise click.ClickException(
                "no such API key" + (" for this token" if token else "") + " (see `logdig apikey list`)"
            )
        click.echo(f"revoked {found.prefix} ({found.name or 'no name'}) of {found.token}")

    _guarded(run)()

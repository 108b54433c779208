"""`logdig token`: the sites, their tokens and allowed origins (logdig.queue.Sites), registered
in logdig.cli.

The helpers of logdig.cli are imported when a command runs, not here: logdig.cli
imports this module at its end.
"""

from __future__ import annotations

from urllib.parse import urlparse

import click


def origin(value: str) -> str:
    url = urlparse(value)
    if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/") or url.query:
        raise click.BadParameter(f"{value!r} is not an origin such as https://example.com")
    return f"{url.scheme}://{url.netloc}".lower()


def _redis():
    from logdig.cli import redis_for, settings

    return redis_for(settings())


def _guarded(f):
    from logdig.cli import translate_errors

    return translate_errors(f)


@click.group()
def token() -> None:
    """Manage sites: their tokens and allowed origins."""


@token.command("create")
@click.argument("name")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    callback=lambda c, p, v: [origin(o) for o in v],
    help="Page origin allowed to send with this token (repeatable). None: any origin.",
)
@_guarded
def token_create(name: str, origins: list[str]) -> None:
    """Register a site and print its new token (alone, on stdout)."""
    from logdig.cli import Refused
    from logdig.queue import Sites

    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise Refused("NAME must be 1-200 printable characters, for example mysite")
    sites = Sites(_redis())
    if (same := sites.by_name(name)) is not None:
        raise Refused(f"a site named {name!r} exists already (token {same.token}); pick another name")
    click.echo(sites.create(name, origins).token)


@token.command("list")
@_guarded
def token_list() -> None:
    """List sites: token, name, allowed origins."""
    from logdig.queue import Sites

    for site in Sites(_redis()).all():
        click.echo(f"{site.token}\t{site.name}\t{' '.join(site.origins) or '*'}")


@token.command("delete")
@click.argument("token")
@_guarded
def token_delete(token: str) -> None:
    """Forget a token; the collector refuses it within 10 seconds. Its stats API keys are revoked."""
    from logdig.apikeys import ApiKeys
    from logdig.queue import Sites

    redis = _redis()
    if not Sites(redis).delete(token):
        raise click.ClickException("no such token")
    keys = ApiKeys(redis)
    revoked = [k for k in keys.list(token) if keys.revoke(k.id, token)]
    click.echo(f"deleted; {len(revoked)} API key(s) revoked" if revoked else "deleted")

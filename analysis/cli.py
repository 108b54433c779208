"""Click commands for the ``logdig`` CLI: ``analyze``, ``funnel ...``, ``experiment ...``.

``logdig/cli.py`` registers ``analyze_cmd``, ``funnel_group`` and ``experiment_group``.
Errors become one-line messages (exit 1), never tracebacks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from analysis.definitions import (
    DefinitionError,
    Definitions,
    check_shares,
    parse_experiment,
    parse_funnel,
    parse_goal,
)
from analysis.engines import ENGINES, EngineError
from analysis.jobs import JOBS

MAX_DAYS = 366


def _errors(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from redis.exceptions import RedisError

        from logdig.config import ConfigError
        from logdig.storage import StorageError

        try:
            return f(*args, **kwargs)
        except (ConfigError, StorageError, EngineError, DefinitionError) as e:
            raise click.ClickException(str(e)) from None
        except RedisError as e:
            raise click.ClickException(f"Redis is unreachable ({e}); check LOGDIG_REDIS_URL") from None

    return wrapper


def _settings() -> Any:
    from logdig.cli import settings

    return settings()  # a running `logdig dev` fills in the queue and folder


def _redis(settings: Any, required: bool = True) -> Any:
    if not settings.redis_url:
        if required:
            from logdig.cli import no_redis_message

            raise click.ClickException(f"funnels and experiments are kept in Redis: {no_redis_message()}")
        return None
    from logdig.queue import connect

    return connect(settings.redis_url)


def _known_token(redis: Any, token: str | None) -> None:
    """--token must name a registered site (exit 2), when the sites can be read."""
    from logdig.cli import Refused
    from logdig.queue import Sites

    if token is not None and redis is not None and Sites(redis).get(token) is None:
        raise Refused(f"no site has the token {token!r} (see `logdig token list`)")


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-27") from None


def day_range(start: date | None, end: date | None, today: date) -> list[str]:
    end = end or (today if start is None else max(start, today))
    start = start or end - timedelta(days=1)
    if start > end:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    if (end - start).days >= MAX_DAYS:
        raise click.BadParameter(f"at most {MAX_DAYS} days at a time", param_hint="--from")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


@click.command("analyze")
@click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True, help="Where the jobs run.")
@click.option("--from", "start", callback=_date, metavar="DATE", help="First day (UTC) [default: the day before --to].")
@click.option("--to", "end", callback=_date, metavar="DATE", help="Last day (UTC) [default: today].")
@click.option("--token", help="Only this site's events.")
@click.option("--job", "jobs", multiple=True, type=click.Choice(JOBS), help="Only these jobs (repeatable).")
@click.option(
    "--master",
    metavar="URL",
    help="Spark only: the cluster (spark://host:7077, yarn, local[4]) [default: $SPARK_MASTER, "
    "spark-submit's --master, or local[*]].",
)
@_errors
def analyze_cmd(
    engine: str, start: date | None, end: date | None, token: str | None, jobs: tuple[str, ...], master: str | None
) -> None:
    """Compute heat maps, page statistics, funnels and experiments per site and day,
    and write them to results/<job>/<token>/<day>.json. Defaults: DuckDB, yesterday
    and today (UTC)."""
    from analysis.engines import start as start_engine
    from analysis.run import analyze
    from logdig import devstate
    from logdig.cli import no_redis_message, stored_data

    if master and engine != "spark":
        from logdig.cli import Refused

        raise Refused("--master is for --engine spark")
    settings = _settings()
    days = day_range(start, end, datetime.now(UTC).date())
    jobs = jobs or JOBS
    store = stored_data(settings)
    # Definitions come from Redis, else from what a stopped `logdig dev` saved. Never
    # from nowhere: results written without them would replace the real ones.
    redis = _redis(settings, required=False) or devstate.state_redis(settings.data_dir)
    if redis is None and {"funnels", "experiments", "goals"} & set(jobs):
        raise click.ClickException(
            "cannot read the funnel and experiment definitions, so their results are not replaced: "
            f"{no_redis_message()}, and {devstate.STATE_FILE} is not in {settings.data_dir}. "
            "Run the other jobs alone with --job heatmap --job pages"
        )
    _known_token(redis, token)
    funnels, experiments, goals = [], [], []
    if redis is not None:
        definitions = Definitions(redis)
        funnels, experiments = definitions.funnels(token), definitions.experiments(token)
        goals = definitions.goals(token)
    eng = start_engine(engine, **({"master": master} if master else {}))
    try:
        summary = analyze(eng, settings, store, days, token, jobs, funnels, experiments, goals)
    except Exception as e:
        if engine != "spark" or isinstance(e, click.ClickException):
            raise
        # Py4J/Spark errors are pages long; the first line names the problem.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise click.ClickException(f"Spark failed: {first}") from None
    finally:
        eng.close()
    for day in days:
        q = summary.quality.get(day) or {}
        bad = q.get("bad") or {}
        detail = f" ({', '.join(f'{n} {r}' for r, n in sorted(bad.items()))})" if bad else ""
        click.echo(
            f"{day}: {q.get('lines', 0)} lines, {q.get('valid', 0)} valid, "
            f"{q.get('duplicates', 0)} repeats, {sum(bad.values())} bad{detail}"
        )
    click.echo(f"wrote {len(summary.written)} results with {summary.engine} in {summary.seconds:.1f}s")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)


def _print(kind: str, items: list[Any]) -> None:
    if not items:
        click.echo(f"no {kind}s defined")
    for item in items:
        click.echo(json.dumps(item.to_json(), sort_keys=True))


@click.group("funnel")
def funnel_group() -> None:
    """Define the funnels the analysis computes (kept in Redis)."""


@funnel_group.command("add")
@click.argument("name")
@click.option("--step", "steps", multiple=True, metavar="url:PATTERN|event:NAME", help="A step, in order; 2 or more.")
@click.option("--window", type=int, default=86400, show_default=True, help="Seconds from the first step to the last.")
@click.option("--token", help="Only for this site [default: every site].")
@_errors
def funnel_add(name: str, steps: tuple[str, ...], window: int, token: str | None) -> None:
    """Add or replace a funnel. URL patterns match the page without query string;
    '*' matches anything: --step 'url:*/pricing' --step event:signup."""
    funnel = parse_funnel({"name": name, "steps": list(steps), "window_seconds": window, "token": token})
    redis = _redis(_settings())
    _known_token(redis, funnel.token)
    Definitions(redis).put("funnel", funnel)
    click.echo(f"funnel {name}: {' -> '.join(s.label() for s in funnel.steps)} within {window}s")


@funnel_group.command("list")
@_errors
def funnel_list() -> None:
    """Print the funnels, one JSON object a line."""
    _print("funnel", Definitions(_redis(_settings())).all("funnel"))


@funnel_group.command("remove")
@click.argument("name")
@_errors
def funnel_remove(name: str) -> None:
    """Remove a funnel (its past results stay)."""
    if not Definitions(_redis(_settings())).remove("funnel", name):
        raise click.ClickException(f"no funnel named {name!r}")
    click.echo(f"removed funnel {name}")


@click.group("goal")
def goal_group() -> None:
    """Define goals: page views (url:PATTERN) or custom events (event:NAME) (kept in Redis)."""


@goal_group.command("add")
@click.argument("name")
@click.argument("goal", metavar="url:PATTERN|event:NAME")
@click.option("--token", default=None, help="Only for this site (default: every site).")
@_errors
def goal_add(name: str, goal: str, token: str | None) -> None:
    """Add or replace a goal. URL patterns match the page without query string; '*' matches anything."""
    parsed = parse_goal({"name": name, "goal": goal, "token": token})
    redis = _redis(_settings())
    _known_token(redis, parsed.token)
    Definitions(redis).put("goal", parsed)
    click.echo(f"goal {name}: {parsed.goal.label()}")


@goal_group.command("list")
@_errors
def goal_list() -> None:
    """Print the goals, one JSON object a line."""
    _print("goal", Definitions(_redis(_settings())).all("goal"))


@goal_group.command("remove")
@click.argument("name")
@_errors
def goal_remove(name: str) -> None:
    """Remove a goal (its past results stay)."""
    if not Definitions(_redis(_settings())).remove("goal", name):
        raise click.ClickException(f"no goal named {name!r}")
    click.echo(f"removed goal {name}")


def _weights(values: tuple[str, ...]) -> dict[str, float] | None:
    if not values:
        return None
    out = {}
    for v in values:
        name, sep, share = v.partition("=")
        try:
            out[name] = float(share) if sep else float("nan")
        except ValueError:
            raise click.BadParameter(f"{v!r} is not VARIANT=SHARE", param_hint="--weight") from None
        if not sep or not name:
            raise click.BadParameter(f"{v!r} is not VARIANT=SHARE", param_hint="--weight")
    return out


@click.group("experiment")
def experiment_group() -> None:
    """Define the A/B experiments the analysis evaluates (kept in Redis)."""


@experiment_group.command("add")
@click.argument("name")
@click.option("--goal", required=True, metavar="url:PATTERN|event:NAME", help="What counts as a conversion.")
@click.option("--control", default="control", show_default=True, help="The control variant's name.")
@click.option("--weight", "weights", multiple=True, metavar="VARIANT=SHARE", help="Intended split (repeatable).")
@click.option("--token", help="Only for this site [default: every site].")
@_errors
def experiment_add(name: str, goal: str, control: str, weights: tuple[str, ...], token: str | None) -> None:
    """Add or replace an experiment. Exposure events name it (name=NAME, variant=...)."""
    doc = {"name": name, "goal": goal, "control": control, "token": token, "weights": _weights(weights)}
    experiment = parse_experiment(doc)
    try:
        check_shares(experiment.weights)
    except DefinitionError as e:
        raise click.BadParameter(str(e), param_hint="--weight") from None
    redis = _redis(_settings())
    _known_token(redis, experiment.token)
    Definitions(redis).put("experiment", experiment)
    click.echo(f"experiment {name}: goal {experiment.goal.label()}, control {control}")


@experiment_group.command("list")
@_errors
def experiment_list() -> None:
    """Print the experiments, one JSON object a line."""
    _print("experiment", Definitions(_redis(_settings())).all("experiment"))


@experiment_group.command("remove")
@click.argument("name")
@_errors
def experiment_remove(name: str) -> None:
    """Remove an experiment (its past results stay)."""
    if not Definitions(_redis(_settings())).remove("experiment", name):
        raise click.ClickException(f"no experiment named {name!r}")
    click.echo(f"removed experiment {name}")


@click.group()
def main() -> None:
    """The analysis commands on their own (``python -m analysis.cli``)."""


main.add_command(analyze_cmd)
main.add_command(funnel_group)
main.add_command(experiment_group)
main.add_command(goal_group)

if __name__ == "__main__":
    main()

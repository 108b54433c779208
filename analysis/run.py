"""Orchestration: read a date range once (``analysis.loading``), run the jobs, write one result per job, token and day.

    results/<job>/<token>/<YYYY-MM-DD>.json   (logdig.storage.results_key)

Each document holds ``job``, ``token``, ``day``, ``engine``, ``generated_at``,
``quality`` (that token's valid events, repeats removed, bot events left out) and
``data`` (the job's output; see analysis/README.md). A full run (all jobs, all tokens)
also writes the day's report, ``results/_days/all/<day>.json``: the raw object keys it
read (content-addressed, so the list changes exactly when the data does), their total
``bytes``, and the bad rows by reason. The scheduler compares that list to decide what to recompute.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from analysis import io, stats
from analysis.definitions import Experiment, Funnel, Goal
from analysis.engines import Engine, duckdb_cursor
from analysis.jobs import JOBS, heatmap, pages, visits
from analysis.jobs import experiments as experiments_job
from analysis.jobs import funnels as funnels_job
from analysis.jobs import goals as goals_job
from analysis.loading import Loaded, _is_duckdb, load, materialize, raw_unique, rows
from logdig.storage import results_key

__all__ = ["Loaded", "analyze", "compute", "grouped", "load", "materialize", "raw_unique", "rows"]

DAY_REPORT = "_days"  # results/_days/all/<day>.json


@dataclass
class Summary:
    engine: str
    days: list[str]
    written: list[str]
    quality: dict[str, dict]
    seconds: float
    warnings: list[str] = field(default_factory=list)  # e.g. funnel steps that matched nothing


def _sort_key(row: dict) -> tuple:
    return tuple((v is None, v) for v in row.values())


def grouped(df: Any) -> dict[tuple[str, str], list[dict]]:
    """Collect ``df`` (with ``token`` and ``day`` columns) as {(token, day): [rows without them]},
    each list in the order of :func:`_sort_key` (column by column, nulls last).

    On DuckDB the database sorts (ORDER BY every column, nulls last: the same order, as strings
    compare by code point either way) and Python only cuts the rows into dicts; sorting a
    heat map grid (~4 * 10^5 cells) with a Python key cost seconds. Elsewhere Python sorts.
    """
    query = _sorted_query(df)
    if query is None:
        return _group(rows(df))
    return _cut(df.session._conn.execute(query).to_arrow_table(), _rest(df))


def _rest(df: Any) -> list[str]:
    return [n for n in df.columns if n not in ("token", "day")]


def _sorted_query(df: Any) -> str | None:
    """The DuckDB SQL of ``df`` sorted for :func:`_cut`, or None where Python must sort."""
    if not _is_duckdb(df):
        return None
    sql = df.sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
    rest = _rest(df)
    if len(sql) != 1 or not rest:  # pragma: no cover - every job has one statement and columns besides its keys
        return None
    order = ", ".join(f'"{n}" ASC NULLS LAST' for n in ["token", "day", *rest])
    return f"SELECT * FROM ({sql[0]}) ORDER BY {order}"


def _cut(table: Any, rest: list[str]) -> dict[tuple[str, str], list[dict]]:
    """Rows sorted by token and day (an Arrow table) -> {(token, day): [rows without them]}."""
    # dicts built by Arrow: a Python tuple per row from the cursor costs more
    items = table.select(rest).to_pylist()
    # each key's rows are one slice of the list
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    start = 0
    keys = zip(table.column("token").to_pylist(), table.column("day").to_pylist(), strict=True)
    for key, run in groupby(keys):
        end = start + sum(1 for _ in run)
        out[key] = items[start:end]
        start = end
    return out


class Queries:
    """The jobs' result queries, each run as soon as it is built.

    On DuckDB a query goes to one database thread with its own connection: DuckDB lets go
    of the GIL while it works, so sqlframe's building of the next query (pure Python, about
    a second for all the jobs) overlaps the database's work on this one, and one query runs
    at a time. Elsewhere a query runs when its result is asked for.
    """

    def __init__(self, events: Any) -> None:
        self._pool: ThreadPoolExecutor | None = None
        if _is_duckdb(events):
            self._cursor = duckdb_cursor(events.session)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logdig-query")

    def grouped(self, df: Any) -> Callable[[], dict[tuple[str, str], list[dict]]]:
        """Start collecting ``df`` as :func:`grouped` does; the result comes from calling the answer."""
        query = _sorted_query(df) if self._pool else None
        if query is None:
            return lambda: grouped(df)
        table = self._pool.submit(lambda: self._cursor.execute(query).to_arrow_table())
        rest = _rest(df)
        return lambda: _cut(table.result(), rest)

    def __enter__(self) -> Queries:
        return self

    def __exit__(self, *_: Any) -> None:
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._cursor.close()


def _group(items: Iterable[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in items:
        key = (r.pop("token"), r.pop("day"))
        out[key].append(r)
    for v in out.values():
        v.sort(key=_sort_key)
    return out


Docs = dict[tuple[str, str], dict]  # (token, day) -> a job's result document


def _tables(queries: Queries, frames: dict[str, Any]) -> Callable[[], Docs]:
    """{name: df} of token/day-keyed frames -> (later) {(token, day): {name: [rows]}}."""
    found = {name: queries.grouped(df) for name, df in frames.items()}

    def finish() -> Docs:
        docs: Docs = defaultdict(dict)
        for name, result in found.items():
            for key, items in result().items():
                docs[key][name] = items
        for doc in docs.values():
            for name in frames:
                doc.setdefault(name, [])
        return docs

    return finish


def heatmap_docs(events: Any, queries: Queries, **_: Any) -> Callable[[], Docs]:
    return _tables(queries, heatmap.run(events))


def pages_docs(events: Any, queries: Queries, **_: Any) -> Callable[[], Docs]:
    tables = _tables(queries, pages.run(events))

    def finish() -> Docs:
        docs = tables()
        for doc in docs.values():  # one row per token and day: an object, not a list
            found = doc["totals"]
            doc["totals"] = found[0] if found else {"events": 0, "pageviews": 0, "users": 0}
        return docs

    return finish


VISIT_TOTALS = {"visits": 0, "visitors": 0, "bounces": 0, "pageviews": 0, "duration_ms": 0, "median_duration_ms": None}


def visits_docs(events: Any, queries: Queries, **_: Any) -> Callable[[], Docs]:
    tables = _tables(queries, visits.run(events))

    def finish() -> Docs:
        docs = tables()
        for doc in docs.values():  # one row per token and day: an object, not a list
            found = doc["totals"]
            doc["totals"] = found[0] if found else dict(VISIT_TOTALS)
        return docs

    return finish


def _per_definition(
    queries: Queries,
    keys: list[tuple[str, str]],
    name: str,
    definitions: list[Funnel] | list[Experiment],
    query: Callable[[Any], Any],
    entry: Callable[[Any, list[dict]], dict],
) -> Callable[[], Docs]:
    """One query per definition (a funnel, an experiment); each token-day's document lists
    ``entry(definition, its rows)`` under ``name`` for every definition of its token (or of all)."""
    found = [(definition, queries.grouped(query(definition))) for definition in definitions]

    def finish() -> Docs:
        docs: Docs = {k: {name: []} for k in keys}
        for definition, result in found:
            rows_by_key = result()
            for key in keys:
                if definition.token in (None, key[0]):
                    docs[key][name].append(entry(definition, rows_by_key.get(key, [])))
        return docs

    return finish


def funnel_docs(
    events: Any, queries: Queries, keys: list[tuple[str, str]], funnels: list[Funnel], **_: Any
) -> Callable[[], Docs]:
    def entry(funnel: Funnel, found: list[dict]) -> dict:
        row = found[0] if found else {f"users_{k}": 0 for k in range(1, len(funnel.steps) + 1)}
        return funnels_job.summarise(row, funnel)

    return _per_definition(queries, keys, "funnels", funnels, lambda f: funnels_job.steps(events, f), entry)


def experiment_docs(
    events: Any, queries: Queries, keys: list[tuple[str, str]], experiments: list[Experiment], **_: Any
) -> Callable[[], Docs]:
    def entry(exp: Experiment, found: list[dict]) -> dict:
        return {"experiment": exp.to_json(), **stats.experiment_result(found, exp.control, exp.weights)}

    found = _per_definition(
        queries, keys, "experiments", experiments, lambda e: experiments_job.counts(events, e), entry
    )
    from analysis.jobs import abheat

    maps = [
        (queries.grouped(abheat.click_grids(events, e)), queries.grouped(abheat.move_grids(events, e)))
        for e in experiments
    ]

    def finish() -> Docs:
        docs = found()
        for i, (click_rows, move_rows) in enumerate(maps):
            by_key = (click_rows(), move_rows())
            for key, doc in docs.items():
                entries = [x for x in doc["experiments"] if x["experiment"] == experiments[i].to_json()]
                for x in entries:  # the A/B heat maps: per page, viewport class and variant
                    x["heatmap"] = {"clicks": by_key[0].get(key, []), "moves": by_key[1].get(key, [])}
        return docs

    return finish


def goal_docs(
    events: Any, queries: Queries, keys: list[tuple[str, str]], goals: list[Goal], **_: Any
) -> Callable[[], Docs]:
    """``users`` (the site's unique users), ``events`` (custom events: name, count, users,
    conversion) and ``goals`` (per defined goal: goal, count, users, conversion)."""
    tables = _tables(queries, {"events": goals_job.custom_events(events), "users": goals_job.users(events)})

    def entry(goal: Goal, found: list[dict]) -> dict:
        return {"goal": goal.to_json(), **(found[0] if found else {"count": 0, "users": 0})}

    defined = _per_definition(queries, keys, "goals", goals, lambda g: goals_job.reached(events, g), entry)

    def finish() -> Docs:
        docs, reached = tables(), defined()
        out: Docs = {}
        for key in keys:
            doc = docs.get(key, {})
            users = doc["users"][0]["users"] if doc.get("users") else 0
            out[key] = {
                "users": users,
                "events": [{**e, "conversion": goals_job.conversion(e["users"], users)} for e in doc.get("events", [])],
                "goals": [{**g, "conversion": goals_job.conversion(g["users"], users)} for g in reached[key]["goals"]],
            }
        return out

    return finish


# Each builds its job's queries (they start running) and returns what makes the documents.
BUILDERS: dict[str, Callable[..., Callable[[], Docs]]] = {
    "heatmap": heatmap_docs,
    "pages": pages_docs,
    "visits": visits_docs,
    "funnels": funnel_docs,
    "experiments": experiment_docs,
    "goals": goal_docs,
}


def compute(
    loaded: Loaded,
    jobs: Iterable[str] = JOBS,
    funnels: list[Funnel] | None = None,
    experiments: list[Experiment] | None = None,
    goals: list[Goal] | None = None,
) -> dict[tuple[str, str, str], dict]:
    """{(job, token, day): data} for every token and day with events. No I/O."""
    keys = sorted(k for k, q in loaded.token_quality.items() if q["events"] > 0)
    out = {}
    with Queries(loaded.events) as queries:
        # every query first, so that the database works while the next ones are built
        finishers = [
            (
                job,
                BUILDERS[job](
                    loaded.events,
                    queries,
                    keys=keys,
                    funnels=funnels or [],
                    experiments=experiments or [],
                    goals=goals or [],
                ),
            )
            for job in jobs
        ]
        for job, finish in finishers:
            docs = finish()
            for token, day in keys:
                out[(job, token, day)] = docs.get((token, day), {})
    return out


def analyze(
    engine: Engine,
    settings: Any,
    store: Any,
    days: list[str],
    token: str | None = None,
    jobs: Iterable[str] = JOBS,
    funnels: list[Funnel] | None = None,
    experiments: list[Experiment] | None = None,
    goals: list[Goal] | None = None,
) -> Summary:
    """Read ``days``, run ``jobs``, write the result objects; return what was done."""
    started = time.perf_counter()
    jobs = tuple(jobs)
    objects = {d: io.day_objects(store, d) for d in days}
    loaded = load(engine, settings, store, days, token)
    try:
        results = compute(loaded, jobs, funnels, experiments, goals)
    finally:
        loaded.release()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    written = []
    for (job, tok, day), data in sorted(results.items()):
        key = results_key(job, tok, day)
        doc = {
            "job": job,
            "token": tok,
            "day": day,
            "engine": engine.name,
            "generated_at": now,
            "quality": loaded.token_quality[(tok, day)],
            "data": data,
        }
        io.write_json(store, key, doc)
        written.append(key)
    if token is None and set(jobs) == set(JOBS):
        for day in days:
            report = {
                "day": day,
                "objects": objects[day],
                "bytes": io.objects_bytes(store, day, objects[day]),
                "quality": loaded.quality.get(day),
                "generated_at": now,
            }
            io.write_json(store, results_key(DAY_REPORT, "all", day), report)
    warnings = funnels_job.unmatched_steps(results)
    return Summary(engine.name, list(days), written, loaded.quality, time.perf_counter() - started, warnings)

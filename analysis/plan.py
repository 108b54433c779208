"""Running the jobs' queries: on DuckDB, built once per process and run a batch of days at a time.

Building a job's queries is pure Python: sqlframe copies and hashes the query tree at every
step, about 5 s of CPU for all the jobs whatever the size of the data (a one-event refresh
cost as much as a 100,000-event one). The queries read the events by one name,
:data:`EVENTS`, so their SQL text depends only on the job, its definitions (funnels,
experiments, goals) and the events' columns. So on DuckDB:

* a job's SQL text, and the statements of the ``stage`` views and tables it reads
  (``analysis.engines.stage``), are kept in memory (:class:`Built`, at most
  :data:`CACHED` jobs); the next run in the same process (the next scheduled run,
  "Refresh now", a filtered view) runs the same text and builds nothing;
* a run goes through the days a batch at a time (at most :data:`BATCH_EVENTS` events, whole
  days; every job's rows are per token and day): :data:`EVENTS` is pointed at the batch's
  days, the staged tables are made again for them, every query runs, and the batch's
  documents are handed on before the next batch starts. Memory holds one batch's results,
  not the range's (the heat map grids of 31 days of 10^7 events are about 10^7 rows).

Elsewhere (Spark) each job's frames are built on the events and collected, all days at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from analysis.built import Kept, recorded_stages, register
from analysis.engines import drop_stages, duckdb_cursor
from analysis.io import RawJSON
from analysis.loading import _is_duckdb, rows

EVENTS = "analysis_events"  # what the jobs read: the current batch's days
LOADED = "analysis_loaded"  # every day loaded
BATCH = "analysis_batch"  # the current batch's rows, a table
BATCH_EVENTS = 1_000_000
CACHED = 64

Key = tuple[str, str]  # (token, day)
Grouped = dict[Key, list[dict]]


def _sort_key(row: dict) -> tuple:
    return tuple((v is None, v) for v in row.values())


def _group(items: Iterable[dict]) -> Grouped:
    out: Grouped = defaultdict(list)
    for r in items:
        key = (r.pop("token"), r.pop("day"))
        out[key].append(r)
    for v in out.values():
        v.sort(key=_sort_key)
    return out


def _rest(df: Any) -> list[str]:
    return [n for n in df.columns if n not in ("token", "day")]


def _statement(df: Any) -> tuple[str, list[str]] | None:
    """(the DuckDB SQL of ``df``, its columns besides token and day), or None where ``df`` is
    not one DuckDB statement (Python then collects and sorts)."""
    if not _is_duckdb(df):
        return None
    sql = df.sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
    rest = _rest(df)
    if len(sql) != 1 or not rest:  # pragma: no cover - every job has one statement and columns besides its keys
        return None
    return sql[0], rest


def sorted_query(df: Any) -> str | None:
    """The DuckDB SQL of ``df`` sorted for :func:`cut`, or None where Python must sort."""
    if (found := _statement(df)) is None:
        return None
    sql, rest = found
    order = ", ".join(f'"{n}" ASC NULLS LAST' for n in ["token", "day", *rest])
    return f"SELECT * FROM ({sql}) ORDER BY {order}"


def json_query(df: Any) -> str | None:
    """The DuckDB SQL of ``df`` as one row per token and day: ``token, day, rows`` with the
    other columns' rows as a JSON array, in :func:`grouped`'s order (see :func:`raw_rows`)."""
    if (found := _statement(df)) is None:
        return None
    sql, rest = found
    fields = ", ".join(f'"{n}" := "{n}"' for n in rest)
    order = ", ".join(f'"{n}" ASC NULLS LAST' for n in rest)
    return (
        f"SELECT token, day, CAST(to_json(list(struct_pack({fields}) ORDER BY {order})) AS VARCHAR) AS rows "
        f"FROM ({sql}) GROUP BY token, day"
    )


def raw_rows(table: Any) -> dict[Key, RawJSON]:
    """``token, day, rows`` (Arrow) -> {(token, day): RawJSON(rows)}."""
    return {
        (t, d): RawJSON(r)
        for t, d, r in zip(
            table.column("token").to_pylist(),
            table.column("day").to_pylist(),
            table.column("rows").to_pylist(),
            strict=True,
        )
    }


def cut(table: Any, rest: list[str]) -> Grouped:
    """Rows sorted by token and day (an Arrow table) -> {(token, day): [rows without them]}."""
    # dicts built by Arrow: a Python tuple per row from the cursor costs more
    items = table.select(rest).to_pylist()
    # each key's rows are one slice of the list
    out: Grouped = defaultdict(list)
    start = 0
    keys = zip(table.column("token").to_pylist(), table.column("day").to_pylist(), strict=True)
    for key, run in groupby(keys):
        end = start + sum(1 for _ in run)
        out[key] = items[start:end]
        start = end
    return out


def grouped(df: Any) -> Grouped:
    """Collect ``df`` (with ``token`` and ``day`` columns) as {(token, day): [rows without them]},
    each list in the order of :func:`_sort_key` (column by column, nulls last).

    On DuckDB the database sorts (ORDER BY every column, nulls last: the same order, as strings
    compare by code point either way) and Python only cuts the rows into dicts; sorting a
    heat map grid (~4 * 10^5 cells) with a Python key cost seconds. Elsewhere Python sorts.
    """
    query = sorted_query(df)
    if query is None:
        return _group(rows(df))
    return cut(df.session._conn.execute(query).to_arrow_table(), _rest(df))


@dataclass(frozen=True)
class Built:
    """A job's queries as text: the stage statements they read (in order) and, per name,
    the sorted SQL and the columns besides token and day."""

    statements: tuple[tuple[str, str], ...]
    queries: dict[str, tuple[str, list[str] | None]]  # rest None: a JSON query (raw_rows)


_built = Kept(CACHED)  # job, definitions, columns, raw -> Built


def batches(keys: list[Key], events: dict[Key, int], limit: int = BATCH_EVENTS) -> list[list[str]]:
    """The days of ``keys`` in batches of whole days with at most ``limit`` events (a day
    with more is a batch alone)."""
    per_day: dict[str, int] = defaultdict(int)
    for token, day in keys:
        per_day[day] += events.get((token, day), 0)
    out: list[list[str]] = []
    size = 0
    for day in sorted(per_day):
        if not out or size + per_day[day] > limit:
            out.append([])
            size = 0
        out[-1].append(day)
        size += per_day[day]
    return out


def _quote(items: Iterable[str]) -> str:
    return ", ".join("'" + s.replace("'", "''") + "'" for s in items)


def _take(table: Any, rest: list[str] | None) -> dict:
    return raw_rows(table) if rest is None else cut(table, rest)


class Runner:
    """Runs frames built by ``make(events)`` functions over the loaded events; see the module doc."""

    def __init__(self, events: Any, copy: bool = True) -> None:
        self.duckdb = _is_duckdb(events)
        self.events = events
        self._copy = copy
        if not self.duckdb:
            return
        session = events.session
        self._conn = session._conn
        sql = events.sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
        if len(sql) != 1:  # pragma: no cover - the loaded events are one statement
            raise RuntimeError("the loaded events are not one statement")
        self._conn.execute(f"CREATE OR REPLACE VIEW {LOADED} AS {sql[0]}")
        self._point(None)
        self.columns = tuple(register(session, EVENTS).items())
        self.events = session.table(EVENTS)
        self._statements: list[tuple[str, str]] = []
        self._cursor = duckdb_cursor(session)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logdig-query")

    def _point(self, days: list[str] | None) -> None:
        """:data:`EVENTS` over ``days`` (None: no rows, for building). The batch's rows are
        copied into a table once: every query then scans memory instead of reading and
        filtering the Parquet parts again (about 3x less time per query). Without ``copy``
        (events already in tables of this database: a raw load) it is a view over them: a
        second copy would cost time and the memory of every event again."""
        where = "false" if days is None else f"day IN ({_quote(days)})"
        if days is not None and not self._copy:
            self._conn.execute(f"CREATE OR REPLACE VIEW {EVENTS} AS SELECT * FROM {LOADED} WHERE {where}")
            return
        self._conn.execute(f"CREATE OR REPLACE TABLE {BATCH} AS SELECT * FROM {LOADED} WHERE {where}")
        self._conn.execute(f"CREATE OR REPLACE VIEW {EVENTS} AS SELECT * FROM {BATCH}")

    def build(
        self,
        job: str,
        definitions: Any,
        make: Callable[[Any], dict[str, Any]],
        raw: Callable[[str], bool] | None = None,
    ) -> Any:
        """The job's frames (Spark) or its :class:`Built` queries (DuckDB, from the cache when
        this process built them before). Tables named ``raw(name)`` come as :class:`RawJSON`
        per token and day on DuckDB (rows as on Spark elsewhere)."""
        if not self.duckdb:
            return make(self.events)
        key = (job, json.dumps(definitions, sort_keys=True, default=str), self.columns, raw)
        built = _built.get(key)
        if built is None:
            with recorded_stages() as recorded:
                frames = make(self.events)
                queries = {
                    name: (json_query(df), None) if raw and raw(name) else (sorted_query(df), _rest(df))
                    for name, df in frames.items()
                }
            built = Built(tuple(recorded), queries)
            _built.put(key, built)
        self._statements.extend(s for s in built.statements if s not in self._statements)
        return built

    def run(
        self, built: dict[str, Any], keys: list[Key], events: dict[Key, int]
    ) -> Iterator[tuple[set[str] | None, dict[str, dict[str, Grouped]]]]:
        """For each batch: its days (None: all) and {job: {name: Grouped}} of the jobs in ``built``."""
        if not self.duckdb:
            yield None, {job: {name: grouped(df) for name, df in frames.items()} for job, frames in built.items()}
            return
        for days in batches(keys, events):
            self._point(days)
            for _, statement in self._statements:  # the staged views and tables, for these days
                self._conn.execute(statement)
            started: dict[str, dict[str, tuple[Future, list[str]]]] = {
                job: {name: (self._submit(sql), rest) for name, (sql, rest) in b.queries.items()}
                for job, b in built.items()
            }
            yield (
                set(days),
                {
                    job: {name: _take(future.result(), rest) for name, (future, rest) in found.items()}
                    for job, found in started.items()
                },
            )

    def _submit(self, sql: str) -> Future:
        return self._pool.submit(lambda: self._cursor.execute(sql).to_arrow_table())

    def close(self) -> None:
        if not self.duckdb:
            drop_stages(self.events.sparkSession)  # the frames stage() persisted
            return
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._cursor.close()
        drop_stages(self.events.session)
        self._conn.execute(f"DROP TABLE IF EXISTS {BATCH}")

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

"""Loading a date range's clean events: from the raw objects, or from the lake where a
day's manifest is current (``analysis.lake``), or both. ``analysis.run`` runs the jobs on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis import io, lake, schema
from analysis.built import Kept, recorded_stages, register
from analysis.engines import Engine, api


@dataclass
class Loaded:
    events: Any
    quality: dict[str, dict] = field(default_factory=dict)  # day -> counts
    token_quality: dict[tuple[str, str], dict] = field(default_factory=dict)
    cached: list[Any] = field(default_factory=list)  # Spark frames to unpersist when done
    cleanup: list[Callable[[], None]] = field(default_factory=list)  # e.g. lake parts fetched from S3
    stored: bool = False  # DuckDB: every event is in a table of the session (no lake part is read)

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()
        self.cached.clear()
        for done in self.cleanup:
            done()
        self.cleanup.clear()


def _is_duckdb(df: Any) -> bool:
    return type(df).__module__.startswith("sqlframe.")


def rows(df: Any) -> list[dict]:
    """Collect ``df`` as dicts. On DuckDB straight from the cursor: building sqlframe Rows
    costs several times the query for big results (a heat map grid has ~10^5 cells); on
    Spark as Arrow for the same reason."""
    if _is_duckdb(df):
        sql = df.sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
        if len(sql) == 1:
            cursor = df.session._conn.execute(sql[0])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    # Spark: in Arrow batches, several times faster than Row objects for big results
    return df.toArrow().to_pylist()


def materialize(engine: Engine, df: Any, name: str) -> Any:
    """Compute ``df`` once so later jobs do not re-read or re-parse the objects."""
    if engine.name == "duckdb":
        sql = df.sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
        if len(sql) != 1:  # pragma: no cover - only cached frames give several statements
            raise RuntimeError("cannot materialize a multi-statement DataFrame")
        engine.session._conn.execute(f"CREATE OR REPLACE TABLE {name} AS {sql[0]}")
        return engine.session.table(name)
    df = df.persist()
    df.count()
    return df


BUILT_KEPT = 16
_built = Kept(BUILT_KEPT)  # key -> (stage statements, SQL)
VALID = "valid_events"  # a raw load's valid rows (of the site asked for)
UNIQUE = "unique_events"  # and without repeats
LATER = "later_copies"  # the row ids of the repeats (DuckDB)


def materialize_built(engine: Engine, key: tuple, build: Callable[[], Any], name: str) -> Any:
    """:func:`materialize` of ``build()``; on DuckDB from the SQL this process built before for
    ``key`` when there is one (with the staged views it reads, made again), as
    ``analysis.plan`` does for the jobs: building the checks and the removal of repeats is
    pure Python, about 1 s of CPU a load whatever the data, and their SQL text depends only on
    ``key``."""
    if engine.name != "duckdb":
        return materialize(engine, build(), name)
    conn = engine.session._conn
    found = _built.get(key)
    if found is None:
        with recorded_stages() as recorded:  # stage() runs each statement as it records it
            sql = build().sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
        if len(sql) != 1:  # pragma: no cover - the checks and the dedupe are one statement each
            raise RuntimeError(f"cannot materialize a multi-statement DataFrame ({key[0]})")
        found = (tuple(statement for _, statement in recorded), sql[0])
        _built.put(key, found)
    else:
        for statement in found[0]:
            conn.execute(statement)
    conn.execute(f"CREATE OR REPLACE TABLE {name} AS {found[1]}")
    return engine.session.table(name)


def _valid(engine: Engine, checked: Any, token: str | None) -> Any:
    """The valid rows of ``checked`` (of ``token``'s site only, when given). On DuckDB a view
    by one name whatever the site, so the removal of repeats built on it is the same SQL for
    every site (:func:`materialize_built`), with each row's id in the stored table as ``_row``."""
    F = api(checked).F
    if engine.name != "duckdb":
        valid = checked.filter(F.col("_reason").isNull()).drop("_reason")
        return valid if token is None else valid.filter(F.col("token") == token)
    conn = engine.session._conn
    site = "" if token is None else " AND token = '" + token.replace("'", "''") + "'"
    conn.execute(
        f"CREATE OR REPLACE VIEW {VALID} AS SELECT rowid AS _row, * EXCLUDE (_reason) FROM checked_events "
        f"WHERE _reason IS NULL{site}"
    )
    register(engine.session, VALID)
    return engine.session.table(VALID)


def _unique(engine: Engine, valid: Any) -> Any:
    """``valid`` without its repeats (``schema.dedupe``). On DuckDB a view over the stored
    checked rows leaving out the few later copies (a table of their row ids): storing the
    unique rows again cost a second copy of every event, and its time (0.5 s of 2.4 for
    200,000 events; 0.9 s of 6 with 10% move events of 300 points)."""
    if engine.name != "duckdb":
        return materialize(engine, schema.dedupe(valid), UNIQUE)
    materialize_built(engine, ("later", tuple(valid.columns)), lambda: schema.later_copies(valid, "_row"), LATER)
    engine.session._conn.execute(
        f"CREATE OR REPLACE VIEW {UNIQUE} AS SELECT * EXCLUDE (_row) FROM {VALID} ANTI JOIN {LATER} USING (_row)"
    )
    register(engine.session, UNIQUE)
    return engine.session.table(UNIQUE)


def raw_unique(
    engine: Engine, settings: Any, store: Any, days: list[str], token: str | None = None
) -> tuple[Any, dict[str, dict], dict[tuple[str, str], dict], list[Any]]:
    """Valid events of ``days`` read from the raw objects, repeats removed per token and day,
    bots kept (and flagged by ``bot``): (events, quality by day, quality by token and day
    with ``rows``, Spark frames to unpersist). What the lake stores (worker/compact.py)."""
    raw = io.read_raw(engine, settings, store, days)
    checked = materialize_built(engine, ("check", tuple(raw.columns)), lambda: schema.check(raw), "checked_events")
    if engine.name == "duckdb":
        io.duckdb_release(engine)
    cached = [checked]
    F = api(checked).F
    quality: dict[str, dict] = {d: {"lines": 0, "valid": 0, "bad": {}} for d in days}
    for r in rows(checked.groupBy("day", "_reason").count()):
        q = quality.setdefault(r["day"], {"lines": 0, "valid": 0, "bad": {}})
        q["lines"] += r["count"]
        if r["_reason"] is None:
            q["valid"] += r["count"]
        else:
            q["bad"][r["_reason"]] = r["count"]
    valid = _valid(engine, checked, token)
    unique = _unique(engine, valid)
    cached.append(unique)
    token_quality = {}
    per_token = valid.groupBy("token", "day").agg(F.count(F.lit(1)).alias("valid"))
    counted = unique.groupBy("token", "day").agg(F.count(F.lit(1)).alias("unique"), F.sum(_is_bot(F)).alias("bots"))
    uniq = {(r["token"], r["day"]): r for r in rows(counted)}
    for r in rows(per_token):
        u = uniq[(r["token"], r["day"])]
        token_quality[(r["token"], r["day"])] = {
            "events": int(u["unique"] - u["bots"]),
            "duplicates": int(r["valid"] - u["unique"]),
            "bot_events": int(u["bots"]),
            "rows": int(u["unique"]),
        }
    return unique, quality, token_quality, cached if engine.name == "spark" else []


def _is_bot(F: Any) -> Any:
    return F.when(F.col("bot") == True, 1).otherwise(0)  # noqa: E712 - a column


def load(
    engine: Engine, settings: Any, store: Any, days: list[str], token: str | None = None, use_lake: bool = True
) -> Loaded:
    """Clean events of ``days``: valid, repeats removed per token and day, bots left out.

    Days with a current lake manifest (``analysis.lake``) are read from the lake, the others
    from their raw objects; ``use_lake=False`` reads every day raw. The results are the same.
    """
    manifests = lake.usable_days(store, days) if use_lake else {}
    raw_days = [d for d in days if d not in manifests]
    frames, cached, cleanup = [], [], []
    quality: dict[str, dict] = {}
    token_quality: dict[tuple[str, str], dict] = {}
    in_lake = any(k for m in manifests.values() for t, k in m["parts"].items() if token in (None, t))
    if raw_days or not in_lake:  # (no day at all when the lake has none of the site's events)
        unique, quality, token_quality, cached = raw_unique(engine, settings, store, raw_days, token)
        frames.append(unique)
    lake.add_quality(manifests, token, quality, token_quality)
    for tq in token_quality.values():
        tq.pop("rows", None)
    if in_lake:
        if engine.name == "duckdb":
            df, done = lake.duckdb_read(engine, store, manifests, token)
            if done:
                cleanup.append(done)
        else:
            df = lake.spark_read(engine, settings, manifests, token)
        frames.append(df)
    for day in days:
        quality.setdefault(day, {"lines": 0, "valid": 0, "bad": {}})
    for q in quality.values():
        q["duplicates"] = sum(v["duplicates"] for (_, d), v in token_quality.items() if quality.get(d) is q)
    unique = frames[0]
    for df in frames[1:]:
        unique = unique.unionByName(df)
    F = api(unique).F
    events = unique.filter(_is_bot(F) == 0)
    if engine.name == "spark":  # DuckDB filters the stored unique events in passing; no copy
        events = materialize(engine, events, "events")
        cached.append(events)
    stored = engine.name == "duckdb" and not in_lake
    return Loaded(events, quality, token_quality, cached, cleanup, stored)

"""The two engines the jobs run on, and the tiny layer that lets one code base use both.

A job never imports ``pyspark.sql.functions`` or ``sqlframe`` itself: it asks
:func:`api` for the functions module and ``Window`` class that belong to the
DataFrame it was given. So the same function runs on a sqlframe DuckDB DataFrame and
on a PySpark DataFrame in the same process (which the parity test does).
"""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType
from typing import Any

ENGINES = ("duckdb", "spark")
TIMEZONE = "UTC"  # both engines read and write times in UTC


class EngineError(RuntimeError):
    """The engine cannot be started (missing package, no Java): a message for the user."""


@dataclass(frozen=True)
class Api:
    """What a job needs from an engine: functions, Window and types."""

    F: ModuleType
    Window: Any
    T: ModuleType


def _is_sqlframe(df: Any) -> bool:
    return type(df).__module__.startswith("sqlframe.")


def api(df: Any) -> Api:
    """The functions/Window/types modules that match ``df``'s engine."""
    if _is_sqlframe(df):
        from sqlframe.duckdb import functions as F
        from sqlframe.duckdb import types as T
        from sqlframe.duckdb.window import Window

        return Api(F, Window, T)
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.window import Window

    return Api(F, Window, T)


STAGE_PREFIX = "_logdig_stage_"
_stages = itertools.count(1)
# While a job's queries are built for reuse (analysis.plan), the statements stage() runs are
# recorded here, so a later run can make the same views and tables without building again.
recording: ContextVar[list[tuple[str, str]] | None] = ContextVar("logdig_stage_recording", default=None)


def stage(df: Any, table: bool = False) -> Any:
    """``df`` as a fresh one-table DataFrame, to start a long chain of steps from.

    sqlframe copies (and hashes) the whole query tree at every step, so a chain of steps
    costs Python time that grows with the square of its length. On DuckDB the query
    becomes a view that later steps read by name, so their tree starts again from one
    table; DuckDB inlines the view into the query that reads it, so nothing is computed
    or stored here. With ``table`` it becomes a table instead, computed once here: for a
    frame several queries read (DuckDB would compute an inlined view again in each).
    :func:`drop_stages` removes them. On Spark, ``df`` itself (its steps are cheap to build),
    persisted with ``table``: Spark too would compute it again for each query that reads it
    (the visits' eight source kinds computed the visits eight times, 14 s of 50 for a day).
    """
    if not _is_sqlframe(df):
        if table:
            df = df.persist()
            _persisted.append(df)
        return df
    sql = df.sql(dialect="duckdb", optimize=False, pretty=False, as_list=True)
    if len(sql) != 1:  # pragma: no cover - only cached frames give several statements
        return df
    name = f"{STAGE_PREFIX}{next(_stages)}"
    statement = f"CREATE OR REPLACE {'TABLE' if table else 'VIEW'} {name} AS {sql[0]}"
    conn = df.session._conn
    conn.execute(statement)
    if (recorded := recording.get()) is not None:
        recorded.append((name, statement))
    # the columns from DESCRIBE: sqlframe's own lookup binds every view of the database
    df.session.catalog.add_table(name, {c: kind for c, kind, *_ in conn.execute(f"DESCRIBE {name}").fetchall()})
    return df.session.table(name)


_persisted: list[Any] = []  # Spark frames stage() persisted, until drop_stages


def drop_stages(session: Any) -> None:
    """Drop the views and tables :func:`stage` made on a DuckDB session; on Spark, unpersist
    the frames it persisted."""
    if not type(session).__module__.startswith("sqlframe."):
        kept = [df for df in _persisted if df.sparkSession is not session]
        for df in _persisted:
            if df.sparkSession is session:
                df.unpersist()
        _persisted[:] = kept
        return
    conn = session._conn
    for kind in ("view", "table"):
        names = conn.execute(
            f"SELECT {kind}_name FROM duckdb_{kind}s() WHERE starts_with({kind}_name, ?)", [STAGE_PREFIX]
        ).fetchall()
        for (name,) in names:
            conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")


@dataclass
class Engine:
    """A started engine: its name and its SparkSession-like session."""

    name: str
    session: Any

    def close(self) -> None:
        if self.name == "duckdb":
            self.session.stop()
        # A SparkSession is left running: it may be the user's own (spark-submit,
        # notebook), and in tests one session serves the whole run.


def duckdb_engine(threads: int | None = None) -> Engine:
    """A fresh in-memory DuckDB behind sqlframe; starts in milliseconds."""
    import duckdb
    from sqlframe.base.session import _BaseSession
    from sqlframe.duckdb import DuckDBSession

    conn = duckdb.connect(":memory:")
    conn.execute(f"SET TimeZone = '{TIMEZONE}'")
    if threads:
        conn.execute(f"SET threads = {int(threads)}")
    # sqlframe sessions are process singletons; start a new one on our own connection.
    _BaseSession._instance = None
    return Engine("duckdb", DuckDBSession(conn=conn))


def duckdb_cursor(session: Any) -> Any:
    """Another connection to a DuckDB session's database, for use from another thread (a
    connection serves one thread at a time). Session settings are not shared: set again."""
    cursor = session._conn.cursor()
    cursor.execute(f"SET TimeZone = '{TIMEZONE}'")
    return cursor


def spark_engine(master: str | None = None, conf: dict[str, str] | None = None) -> Engine:
    """The active SparkSession (spark-submit, notebook) or a new one.

    ``master`` defaults to ``$SPARK_MASTER`` or ``local[*]``. Settings for s3a come
    from ``spark-defaults.conf`` (see ``deploy/spark/``), not from here.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:  # pragma: no cover - depends on the install
        raise EngineError("the spark engine needs pyspark: pip install pyspark") from e
    active = SparkSession.getActiveSession()
    if active is not None:
        return Engine("spark", active)
    from pyspark import SparkConf

    builder = SparkSession.builder.appName("logdig-analysis")
    if master or os.environ.get("SPARK_MASTER") or not SparkConf().contains("spark.master"):
        # spark-submit --master ... wins unless a master is asked for here
        builder = builder.master(master or os.environ.get("SPARK_MASTER", "local[*]"))
    builder = builder.config("spark.sql.session.timeZone", TIMEZONE)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        return Engine("spark", builder.getOrCreate())
    except Exception as e:  # noqa: BLE001 - Java missing, port in use, ...: say so plainly
        raise EngineError(f"cannot start Spark: {e}") from e


def start(name: str, **kwargs: Any) -> Engine:
    if name == "duckdb":
        return duckdb_engine(**kwargs)
    if name == "spark":
        return spark_engine(**kwargs)
    raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")

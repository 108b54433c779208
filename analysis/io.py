"""Reading raw objects into typed rows, and writing result objects. The edges.

Both engines produce the same columns: every field of ``analysis.schema.FIELDS`` with
its type, plus ``_corrupt`` (true when the line is not a JSON object or a field has
the wrong JSON type). Validation and derived columns come after, in shared code.

* DuckDB: the day's objects are fetched through the object store (the minio SDK for
  S3, plain files locally; no DuckDB extension is downloaded, so it works offline)
  into an Arrow table, and DuckDB's JSON functions type each line by Spark's rules.
* Spark: ``spark.read.json`` with the explicit schema, in PERMISSIVE mode with a
  corrupt-record column, over the day folders (``s3a://bucket/DAY/`` on a cluster, the
  local folder otherwise).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from analysis.engines import Engine
from analysis.schema import CORRUPT, FIELDS, struct_type

DAY_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})/[0-9a-f]{64}\.jsonl$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_JSON_NUMBER = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def day_objects(store: Any, day: str) -> list[str]:
    """The raw object keys of one day, sorted."""
    return sorted(k for k in store.list(f"{day}/") if DAY_KEY.match(k))


# ---------------------------------------------------------------- DuckDB
def _duck_field(name: str, kind: str) -> tuple[str, str]:
    """(typed value, is-wrong-type) SQL for one field of struct ``s``."""
    v = f's."{name}"'
    jt = f"json_type({v})"
    if kind == "string":
        return (
            f"CASE WHEN {jt} = 'VARCHAR' THEN json_extract_string({v}, '$') WHEN {jt} IS NULL THEN NULL ELSE {v}::VARCHAR END",
            "false",
        )
    if kind == "double":
        return f"CASE WHEN {jt} IN {_JSON_NUMBER} THEN {v}::DOUBLE END", f"coalesce({jt} NOT IN {_JSON_NUMBER}, false)"
    if kind == "long":
        value = f"CASE WHEN {jt} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({v} AS BIGINT) END"
        return value, f"({jt} IS NOT NULL AND ({value}) IS NULL)"
    return f"CASE WHEN {jt} = 'BOOLEAN' THEN {v}::BOOLEAN END", f"coalesce({jt} <> 'BOOLEAN', false)"


def duckdb_parse_sql(source: str, day: str) -> str:
    """SQL typing the lines of ``source`` (a relation with a ``content`` column) of ``day``."""
    assert DAY.match(day), day
    structure = json.dumps({name: "JSON" for name in FIELDS})
    values, wrong = zip(*(_duck_field(n, k) for n, k in FIELDS.items()), strict=True)
    columns = ",\n  ".join(f'{v} AS "{n}"' for v, n in zip(values, FIELDS, strict=True))
    return f"""
WITH lines AS (
  SELECT unnest(string_split(content, chr(10))) AS line FROM {source}
), objects AS (
  SELECT CASE WHEN json_valid(line) AND json_type(line) = 'OBJECT'
              THEN json_transform(line, '{structure}') END AS s
  FROM lines WHERE trim(line, chr(32) || chr(9) || chr(13)) <> ''
)
SELECT
  {columns},
  '{day}' AS day,
  (s IS NULL OR {" OR ".join(wrong)}) AS _corrupt
FROM objects"""


def _fetch(store: Any, keys: list[str]) -> Any:
    import pyarrow as pa

    with ThreadPoolExecutor(max_workers=8) as pool:
        contents = list(pool.map(store.get, keys))
    return pa.table({"content": pa.array(contents, type=pa.binary()).cast(pa.large_string())})


def duckdb_read(engine: Engine, store: Any, days: Iterable[str], table: str = "raw_events") -> Any:
    """Typed raw rows of ``days`` as a sqlframe DataFrame (a DuckDB temp table)."""
    conn = engine.session._conn
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    created = False
    for day in days:
        keys = day_objects(store, day)
        if not keys:
            continue
        conn.register("_logdig_objects", _fetch(store, keys))
        verb = f"INSERT INTO {table}" if created else f"CREATE TABLE {table} AS"
        conn.execute(f"{verb} {duckdb_parse_sql('_logdig_objects', day)}")
        conn.unregister("_logdig_objects")
        created = True
    if not created:
        conn.execute(
            f"CREATE TABLE {table} AS {duckdb_parse_sql('(SELECT NULL::VARCHAR AS content WHERE false)', '1970-01-01')}"
        )
    return engine.session.table(table)


# ---------------------------------------------------------------- Spark
def spark_paths(settings: Any, store: Any, days: Iterable[str]) -> list[str]:
    """The day folders that hold objects, as Spark paths."""
    paths = []
    for day in days:
        if not day_objects(store, day):
            continue
        if settings.s3_endpoint:
            paths.append(f"s3a://{settings.s3_bucket}/{day}/")
        else:
            from pathlib import Path

            paths.append(Path(settings.data_dir, day).resolve().as_uri() + "/")
    return paths


def spark_read(engine: Engine, paths: list[str]) -> Any:
    """Typed raw rows of the given day folders as a PySpark DataFrame."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = engine.session
    schema = struct_type(T, corrupt_column=True)
    if not paths:
        empty = spark.createDataFrame([], struct_type(T))
        return empty.withColumn("day", F.lit(None).cast("string")).withColumn("_corrupt", F.lit(False))
    df = (
        spark.read.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("pathGlobFilter", "*.jsonl")
        .json(paths)
    )
    day = F.regexp_extract(F.input_file_name(), r"/(\d{4}-\d{2}-\d{2})/[^/]+$", 1)
    return df.withColumn("day", day).withColumn("_corrupt", F.col(CORRUPT).isNotNull()).drop(CORRUPT)


def read_raw(engine: Engine, settings: Any, store: Any, days: list[str]) -> Any:
    if engine.name == "duckdb":
        return duckdb_read(engine, store, days)
    return spark_read(engine, spark_paths(settings, store, days))


# ---------------------------------------------------------------- results
def write_json(store: Any, key: str, doc: dict) -> None:
    data = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1, allow_nan=False).encode("utf-8")
    store.put(key, data, content_type="application/json")


def read_json(store: Any, key: str) -> dict | None:
    try:
        return json.loads(store.get(key))
    except Exception:  # noqa: BLE001 - missing or unreadable: treat as absent
        return None

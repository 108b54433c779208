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

import orjson

from analysis.engines import Engine, drop_stages
from analysis.schema import CORRUPT, FIELDS, struct_type

DAY_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})/[0-9a-f]{64}\.jsonl$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# json_transform writes a JSON value back as its canonical text, so its first character gives
# its type: '"' a string, 't'/'f' a boolean, '[' an array, '{' an object, anything else a number
# (digits, '-', NaN, Infinity); null comes out as SQL NULL. Integers have no '.', 'e' or 'E'.
# One contains() on a 5-character string, not `IN (...)`: DuckDB plans every IN list as a join.
_NOT_NUMBER = "'\"tf[{'"
_WHITESPACE = "chr(32) || chr(9) || chr(10) || chr(13)"
# Array kinds: (the canonical JSON text they must match, json_transform's structure). A null or
# a non-number inside makes the row's type wrong (Spark keeps a null item as null; the
# collector never stores one).
_NUMBERS = r"[0-9eE+\-.,]*"
ARRAYS = {
    "doubles": (rf"\[{_NUMBERS}\]", '["DOUBLE"]'),
    "points": (rf"\[(\[{_NUMBERS}\],?)*\]", '[["DOUBLE"]]'),
}
BATCH_LINES = 32_768
FETCH_DAYS = 4  # days fetched and split at once


def day_objects(store: Any, day: str) -> list[str]:
    """The raw object keys of one day, sorted."""
    return sorted(k for k in store.list(f"{day}/") if DAY_KEY.match(k))


def objects_bytes(store: Any, day: str, keys: list[str]) -> int:
    """Total size in bytes of ``keys``, objects of ``day``, from the store's listing (no
    object is read)."""
    sizes = store.sizes(f"{day}/")
    return sum(sizes[k] for k in keys if k in sizes)


# ---------------------------------------------------------------- DuckDB
def _duck_field(v: str, kind: str) -> tuple[str, str]:
    """(typed value, is-wrong-type) SQL for ``v``, a field's JSON text (NULL when absent or null).

    Plain string tests on the text json_transform wrote, not json_type: that would parse
    every value a second time (and a cast from JSON a third).
    """
    if kind == "string":  # read as VARCHAR: any JSON value, non-strings as their JSON text
        return v, "false"
    if kind in ARRAYS:  # a list of numbers, or of lists of numbers: the canonical text has nothing else
        pattern, structure = ARRAYS[kind]
        return (
            f"CASE WHEN regexp_full_match({v}, '{pattern}') THEN json_transform({v}, '{structure}') END",
            f"coalesce(NOT regexp_full_match({v}, '{pattern}'), false)",
        )
    not_number = f"contains({_NOT_NUMBER}, left({v}, 1))"
    if kind == "double":
        return (
            f"CASE WHEN NOT {not_number} THEN TRY_CAST({v} AS DOUBLE) END",
            f"coalesce({not_number}, false)",
        )
    if kind == "long":
        integer = f"NOT {not_number} AND NOT (contains({v}, '.') OR contains({v}, 'e') OR contains({v}, 'E'))"
        value = f"CASE WHEN {integer} THEN TRY_CAST({v} AS BIGINT) END"
        return value, f"({v} IS NOT NULL AND ({value}) IS NULL)"
    return (
        f"CASE {v} WHEN 'true' THEN true WHEN 'false' THEN false END",
        f"coalesce({v} <> 'true' AND {v} <> 'false', false)",
    )


def duckdb_parse_sql(source: str) -> str:
    """SQL typing the lines of ``source`` (a relation with ``line`` and ``day`` columns).

    One ``json_transform`` a line: strings straight to VARCHAR, the rest as JSON text whose
    first character tells its type (:func:`_duck_field`). A valid JSON line is an object when
    it starts with ``{`` (after blanks); blank lines are not rows, and only lines that do not
    start with ``{`` are trimmed to find them. Plain CTEs, not MATERIALIZED ones: DuckDB then
    streams each line through every step instead of writing intermediate tables.
    """
    structure = json.dumps({n: "VARCHAR" if k == "string" else "JSON" for n, k in FIELDS.items()})
    values, wrong = zip(*(_duck_field(f's."{n}"::VARCHAR', k) for n, k in FIELDS.items()), strict=True)
    columns = ",\n  ".join(f'{v} AS "{n}"' for v, n in zip(values, FIELDS, strict=True))
    wrong_types = " OR ".join(w for w in wrong if w != "false")
    is_object = f"(starts_with(line, '{{') OR starts_with(ltrim(line, {_WHITESPACE}), '{{'))"
    return f"""
WITH objects AS (
  SELECT CASE WHEN {is_object} AND json_valid(line) THEN json_transform(line, '{structure}') END AS s,
         day
  FROM {source} WHERE starts_with(line, '{{') OR trim(line, {_WHITESPACE}) <> ''
)
SELECT
  {columns},
  day,
  (s IS NULL OR {wrong_types}) AS _corrupt
FROM objects"""


def _lines(data: bytes) -> Any:
    r"""``data`` as an Arrow string array of its lines, without copying it: each line is the
    bytes up to and including its ``\n`` (JSON whitespace, which the parse ignores; a blank
    line is whitespace only). Splitting into new strings cost a second copy of every
    object, and in a fresh process its page faults took seconds."""
    import numpy as np
    import pyarrow as pa

    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    tail = [] if not data or data.endswith(b"\n") else [len(data)]
    offsets = np.concatenate(([0], ends, tail)).astype(np.int64)
    return pa.Array.from_buffers(pa.large_string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _object_lines(data: bytes) -> Any:
    """One object's lines (:func:`_lines`), its broken UTF-8 replaced as Spark's reader does."""
    import pyarrow as pa

    lines = _lines(data)
    try:
        lines.validate(full=True)  # checks UTF-8
    except pa.ArrowInvalid:
        lines = _lines(data.decode("utf-8", "replace").encode("utf-8"))
    return lines


def _same_string(value: str, n: int) -> Any:
    """``value`` ``n`` times as an Arrow string array, built from its buffers."""
    import numpy as np
    import pyarrow as pa

    data = value.encode()
    offsets = np.arange(0, len(data) * (n + 1), len(data), dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])


def _fetch(store: Any, keys: list[str], day: str) -> Any:
    """The objects' lines as an Arrow table (``line``, ``day``), one row a line, a chunk an
    object: each object is fetched, split and checked in a thread of its own (the split and
    the UTF-8 check let go of the GIL), with no copy of the day's bytes joined together."""
    import pyarrow as pa

    with ThreadPoolExecutor(max_workers=8) as pool:
        chunks = list(pool.map(lambda key: _object_lines(store.get(key)), keys))
    schema = pa.schema([("line", pa.large_string()), ("day", pa.string())])
    return pa.Table.from_batches(
        [pa.record_batch([lines, _same_string(day, len(lines))], schema=schema) for lines in chunks], schema
    )


RAW_LINES = "_logdig_lines"


def duckdb_read(engine: Engine, store: Any, days: Iterable[str], view: str = "raw_events") -> Any:
    """Typed raw rows of ``days`` as a sqlframe DataFrame: a DuckDB view over the lines in Arrow.

    A view, so the typing streams straight into the checks that follow (``schema.check``),
    with no table in between. The lines stay registered until :func:`duckdb_release`.
    """
    import pyarrow as pa

    conn = engine.session._conn
    found = []
    for day in days:
        assert DAY.match(day), day
        keys = day_objects(store, day)
        if keys:
            found.append((day, keys))
    # days side by side: reading, the UTF-8 check and the split into lines let go of the GIL
    with ThreadPoolExecutor(max_workers=FETCH_DAYS) as pool:
        tables = list(pool.map(lambda found_day: _fetch(store, found_day[1], found_day[0]), found))
    schema = pa.schema([("line", pa.large_string()), ("day", pa.string())])
    lines = pa.concat_tables(tables) if tables else schema.empty_table()
    # in batches (an object's lines, or fewer): DuckDB scans one Arrow batch on one thread
    conn.register(RAW_LINES, pa.Table.from_batches(lines.to_batches(max_chunksize=BATCH_LINES), schema))
    conn.execute(f"CREATE OR REPLACE VIEW {view} AS {duckdb_parse_sql(RAW_LINES)}")
    return engine.session.table(view)


def duckdb_release(engine: Engine, view: str = "raw_events") -> None:
    """Drop the raw lines, and the views over them, once the checked rows are stored."""
    conn = engine.session._conn
    drop_stages(engine.session)
    conn.execute(f"DROP VIEW IF EXISTS {view}")
    conn.unregister(RAW_LINES)


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
class RawJSON:
    """Rows already written as JSON text (a JSON array) by the database, placed in a result
    document as they are: the big tables (heat map grids) never become Python objects."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _raw(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(store: Any, key: str, doc: dict) -> None:
    """``doc`` as UTF-8 JSON, keys sorted (orjson: the standard encoder took seconds for a heat map grid)."""
    store.put(
        key,
        orjson.dumps(doc, default=_raw, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2),
        content_type="application/json",
    )


def read_json(store: Any, key: str) -> dict | None:
    try:
        return json.loads(store.get(key))
    except Exception:  # noqa: BLE001 - missing or unreadable: treat as absent
        return None

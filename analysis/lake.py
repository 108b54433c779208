"""The lake: a day's checked, de-duplicated events as Parquet, read instead of its raw objects.

    lake/events/day=YYYY-MM-DD/token=<token>/part-<sha256>.parquet   (Hive partitions)
    lake/_manifests/day=YYYY-MM-DD.json                               (keys: logdig.storage)

``worker/compact.py`` writes them: the rows of ``analysis.run.raw_unique`` (valid, repeats
removed, bots kept and flagged by ``bot``), typed as the analysis reads them, with the
derived columns (``ts_ms``, ``received_ms``, ``page``, ``viewport_class``, ...); ``day`` and
``token`` are the partitions. The fields the analysis only checks (``CHECKED_ONLY``: the
timestamps' text, ``user_agent``, ...) are not copied: the raw objects keep them. The
manifest records the columns and their order.

A day's manifest is its commit: it lists the raw objects the day was compacted from, the
parts that hold it, and the counts the analysis reports (lines, bad rows by reason,
repeats, bot events per site). The analysis reads a day from the lake only when the
manifest is of this code (:func:`code_version`), its object list equals the day's raw objects now,
and every part it lists is stored; otherwise from the raw objects. So the lake is never
more than a faster copy: deleting all of ``lake/`` changes no result.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from analysis import io, schema
from analysis.built import register
from analysis.engines import Engine
from logdig.storage import LAKE_EVENTS, lake_manifest_key, lake_part_sizes

# Bump when the lake's layout changes. The manifest also records :func:`code_version`, so a
# change to the reading or the checks (which decide the rows and the derived columns) makes
# every lake day stale: it is read raw until the next compaction rewrites it.
LAKE_VERSION = 1
PARTITIONS = ("day", "token")


def code_version() -> str:
    """:data:`LAKE_VERSION` and a hash of the code that makes the rows (``analysis.io``,
    ``analysis.schema`` and the analysis modules it uses)."""
    mods = {io.__name__, schema.__name__}
    for value in vars(schema).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.startswith("analysis."):
            mods.add(name)
    digest = hashlib.sha256()
    for name in sorted(mods):
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return f"{LAKE_VERSION}-{digest.hexdigest()[:16]}"


def columns(table_schema: Any) -> dict[str, Any]:
    """The parts' columns for the manifest: readable names and types, and the Arrow schema
    itself (base64 of its IPC form), from which a Spark schema is made."""
    return {
        "columns": [[f.name, str(f.type)] for f in table_schema],
        "arrow_schema": base64.b64encode(table_schema.serialize().to_pybytes()).decode(),
    }


def spark_schema(manifest: dict) -> Any:
    """The parts' columns plus the partitions, as strings (Spark would infer ``day`` as a
    date and a numeric-looking token as a number)."""
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_schema

    stored = from_arrow_schema(pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"]))))
    return T.StructType([*stored.fields, *(T.StructField(p, T.StringType(), True) for p in PARTITIONS)])


def read_manifest(store: Any, day: str) -> dict | None:
    return io.read_json(store, lake_manifest_key(day))


def _well_formed(manifest: Any) -> bool:
    """The shapes the reading relies on: anything else (a hand-edited file, another tool's)
    is read raw and compacted again, never a KeyError in every analysis of the day."""
    try:
        return (
            isinstance(manifest["objects"], list)
            and all(isinstance(ks, list) and all(isinstance(k, str) for k in ks) for ks in manifest["parts"].values())
            and all(isinstance(t[k], int) for t in manifest["tokens"].values() for k in TOKEN_COUNTS)
            and all(isinstance(manifest["quality"][k], int) for k in ("lines", "valid"))
            and isinstance(manifest["quality"]["bad"], dict)
            and isinstance(manifest["order"], list)
            and all(isinstance(c, str) for c in manifest["order"])
            and isinstance(manifest.get("part_bytes", {}), dict)
        )
    except (KeyError, TypeError, AttributeError):
        return False


TOKEN_COUNTS = ("events", "duplicates", "bot_events")


def current(store: Any, day: str, manifest: dict | None, objects: list[str] | None = None) -> bool:
    """True when ``manifest`` describes ``day``'s raw objects as they are now and its parts are
    stored, each of the size it was written with (``part_bytes``; manifests written before it
    have none): a truncated or overwritten part makes the day raw until compacted again."""
    if not isinstance(manifest, dict) or manifest.get("version") != code_version() or manifest.get("day") != day:
        return False
    if not _well_formed(manifest):
        return False
    objects = io.day_objects(store, day) if objects is None else objects
    if not objects or manifest.get("objects") != objects:
        return False
    listed = {k for keys in manifest["parts"].values() for k in keys}
    stored = lake_part_sizes(store, day)
    sizes = manifest.get("part_bytes", {})
    return listed <= stored.keys() and all(stored[k] == sizes[k] for k in listed if k in sizes)


def usable_days(store: Any, days: Iterable[str]) -> dict[str, dict]:
    """{day: manifest} for the days the analysis can read from the lake."""
    out = {}
    for day in days:
        manifest = read_manifest(store, day)
        if manifest is not None and current(store, day, manifest):
            out[day] = manifest
    return out


def add_quality(manifests: dict[str, dict], token: str | None, quality: dict, token_quality: dict) -> None:
    """The counts the raw path computes, from the manifests (``analysis.run.Loaded``'s shapes)."""
    for day, m in manifests.items():
        q = m["quality"]
        quality[day] = {"lines": q["lines"], "valid": q["valid"], "bad": dict(q["bad"])}
        for tok, t in m["tokens"].items():
            if token is None or tok == token:
                token_quality[(tok, day)] = {k: t[k] for k in TOKEN_COUNTS}


def _parts(manifests: dict[str, dict], token: str | None) -> list[str]:
    return sorted(
        k for m in manifests.values() for tok, keys in m["parts"].items() if token in (None, tok) for k in keys
    )


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


LAKE_VIEW = "lake_events"


def order(manifests: dict[str, dict]) -> list[str]:
    """The frame's columns in the order the raw path gives them (``day`` and ``token`` included)."""
    return next(iter(manifests.values()))["order"]


def duckdb_read(engine: Engine, store: Any, manifests: dict[str, dict], token: str | None) -> Any:
    """The lake rows of the days in ``manifests`` as a sqlframe DataFrame with ``columns``:
    a DuckDB view over ``read_parquet``, so every query reads only the columns it needs.
    Local parts are read in place; parts in S3 are fetched into a temporary folder, which
    the returned cleanup removes. Returns (frame, cleanup or None)."""
    keys = _parts(manifests, token)
    cleanup = None
    if hasattr(store, "local_file"):
        files = [str(store.local_file(k)) for k in keys]
    else:
        folder = Path(tempfile.mkdtemp(prefix="logdig-lake-"))

        def fetch(key: str) -> str:
            path = folder / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(store.get(key))
            return str(path)

        with ThreadPoolExecutor(max_workers=8) as pool:
            files = list(pool.map(fetch, keys))

        def cleanup() -> None:
            shutil.rmtree(folder, ignore_errors=True)

    select = ", ".join(f'"{c}"' for c in order(manifests))
    conn = engine.session._conn
    conn.execute(
        f"CREATE OR REPLACE VIEW {LAKE_VIEW} AS SELECT {select} FROM read_parquet({_sql_list(files)}, "
        "hive_partitioning = true, hive_types = {'day': 'VARCHAR', 'token': 'VARCHAR'})"
    )
    register(engine.session, LAKE_VIEW)
    return engine.session.table(LAKE_VIEW), cleanup


def part_uri(settings: Any, key: str) -> str:
    if settings.s3_endpoint:
        return f"s3a://{settings.s3_bucket}/{key}"
    # not as_uri(): Hadoop reads the path as written, so '%3D' would stay in the name
    return "file://" + str(Path(settings.data_dir, key).resolve())


def spark_read(engine: Engine, settings: Any, manifests: dict[str, dict], token: str | None) -> Any:
    """The lake rows as a PySpark DataFrame (``day`` and ``token`` from the paths)."""
    paths = [part_uri(settings, k) for k in _parts(manifests, token)]
    base = part_uri(settings, LAKE_EVENTS)
    schema = spark_schema(next(iter(manifests.values())))
    df = engine.session.read.schema(schema).option("basePath", base).parquet(*paths)
    return df.select(*order(manifests))

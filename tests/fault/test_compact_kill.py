"""`logdig compact` killed at each step of a recompaction (exit 137, as SIGKILL leaves it).

A closed day is compacted, then a late raw object with events of both sites arrives, so
both sites' parts change. `logdig compact` is then killed at each failpoint of
worker/compact.py (LOGDIG_TEST_FAILPOINT, as the flush's fault tests do):

- ``compact-mid-parts``: one new part written, not the other;
- ``compact-before-manifest``: every new part written, the manifest not yet;
- ``compact-before-delete``: the new manifest written, no old part deleted;
- ``compact-mid-delete``: one old part deleted, not the other.

At each point, LogDig's reader (it goes by the manifest) gives exactly the results of the
raw objects: before the manifest it reads the day raw (the old manifest no longer matches
the objects), after it the new parts. A plain glob over ``lake/events`` lists files, so
it sees what is there: the old parts plus the new ones written so far (the changed
sites' events twice) until the next compaction deletes the old ones; that next run
leaves exactly the new parts. Also the first compaction of a day, killed before its
manifest: the day is read raw.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import lake, run
from analysis.engines import duckdb_engine
from analysis.testdata import generate_events, write_objects
from logdig.config import Settings
from logdig.storage import LocalStore, lake_parts, raw_key

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-25"
TOKENS = ["siteA", "siteB"]


def compact(folder: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {"LOGDIG_DATA_DIR": str(folder), "LOGDIG_REDIS_URL": "", "LOGDIG_S3_ENDPOINT": ""}
    if failpoint:
        env["LOGDIG_TEST_FAILPOINT"] = failpoint
    import os

    return subprocess.run(
        [sys.executable, "-m", "logdig.cli", "compact", "--from", DAY, "--to", DAY],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def results(folder: Path, use_lake: bool = True) -> dict:
    """What the analysis reads for the day: its counts and every clean event, sorted."""
    store = LocalStore(folder)
    engine = duckdb_engine()
    try:
        loaded = run.load(engine, Settings(data_dir=str(folder)), store, [DAY], use_lake=use_lake)
        events = sorted(run.rows(loaded.events), key=lambda r: (r["token"], r["event_id"]))
        loaded.release()
    finally:
        engine.close()
    return {"quality": loaded.quality, "tokens": loaded.token_quality, "events": events}


def glob_rows(folder: Path) -> int:
    """What `read_parquet('.../lake/events/**/*.parquet')` sees (a glob, as a Spark user's
    spark.read.parquet(".../lake/events") lists files)."""
    import duckdb

    if not lake_parts(LocalStore(folder), DAY):
        return 0
    pattern = str(folder / "lake" / "events" / "**" / "*.parquet")
    return (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning=true)")
        .fetchone()[0]
    )


def rows_of(folder: Path, parts: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(folder / k).metadata.num_rows for k in parts)


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``first``: raw objects of a closed day; ``changed``: that day compacted, then a late
    object with both sites' events added (the old manifest no longer matches)."""
    first = tmp_path_factory.mktemp("first")
    store = LocalStore(first)
    events = generate_events([DAY], TOKENS, users_per_day=30, seed=5)
    write_objects(store, [e for e in events if e["received_at"].startswith(DAY)], batch=300, seed=5)
    changed = tmp_path_factory.mktemp("changed")
    shutil.copytree(first, changed, dirs_exist_ok=True)
    done = compact(changed)
    assert done.returncode == 0, done.stderr
    assert "compacted 1 days" in done.stdout
    clicks = [e for e in events if e["type"] == "click"]
    picked = [e for t in TOKENS for e in [x for x in clicks if x["token"] == t][:20]]
    late = [{**e, "event_id": f"late-{i}", "received_at": f"{DAY}T23:59:59.000Z"} for i, e in enumerate(picked)]
    assert {e["token"] for e in late} == set(TOKENS)
    body = "".join(json.dumps(e) + "\n" for e in late).encode()
    from datetime import date

    LocalStore(changed).put(raw_key(date.fromisoformat(DAY), body), body)
    return {"first": first, "changed": changed}


@pytest.mark.parametrize(
    "point", ["compact-mid-parts", "compact-before-manifest", "compact-before-delete", "compact-mid-delete"]
)
def test_a_recompaction_killed_at_each_step_leaves_the_old_or_the_new_day(point, states, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(states["changed"], folder)
    store = LocalStore(folder)
    reference = results(folder, use_lake=False)
    old_parts = lake_parts(store, DAY)
    old_rows = rows_of(folder, old_parts)
    assert len(old_parts) == 2 and lake.usable_days(store, [DAY]) == {}  # stale: read raw

    killed = compact(folder, failpoint=point)
    assert killed.returncode == 137, killed.stderr
    assert f"test failpoint {point}" in killed.stderr

    # LogDig's reader: the raw objects' results exactly, from raw or from the new parts
    committed = point in ("compact-before-delete", "compact-mid-delete")
    assert (DAY in lake.usable_days(store, [DAY])) == committed
    assert results(folder) == reference
    # a plain glob: the old parts still there, plus the new ones written so far
    parts = lake_parts(store, DAY)
    new_parts = [k for k in parts if k not in old_parts]
    left = [k for k in old_parts if k in parts]
    assert len(new_parts) == (1 if point == "compact-mid-parts" else 2)
    assert len(left) == (1 if point == "compact-mid-delete" else 2)
    assert glob_rows(folder) == rows_of(folder, left) + rows_of(folder, new_parts)
    assert rows_of(folder, left) + rows_of(folder, new_parts) > rows_of(folder, new_parts)  # a mix

    again = compact(folder)  # the next run finishes the job
    assert again.returncode == 0, again.stderr
    manifest = lake.read_manifest(store, DAY)
    listed = sorted(k for keys in manifest["parts"].values() for k in keys)
    assert lake_parts(store, DAY) == listed  # no old part left, none missing
    assert DAY in lake.usable_days(store, [DAY])
    assert glob_rows(folder) == rows_of(folder, listed) > old_rows
    assert glob_rows(folder) == sum(t["rows"] for t in manifest["tokens"].values())
    assert results(folder) == reference


@pytest.mark.parametrize("point", ["compact-mid-parts", "compact-before-manifest"])
def test_a_first_compaction_killed_before_its_manifest_leaves_the_day_raw(point, states, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(states["first"], folder)
    store = LocalStore(folder)
    reference = results(folder, use_lake=False)

    killed = compact(folder, failpoint=point)
    assert killed.returncode == 137, killed.stderr
    assert lake.usable_days(store, [DAY]) == {}
    assert results(folder) == reference

    again = compact(folder)
    assert again.returncode == 0, again.stderr
    assert DAY in lake.usable_days(store, [DAY])
    assert results(folder) == reference

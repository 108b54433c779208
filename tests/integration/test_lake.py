"""`logdig compact` and the lake over a real S3 API server (moto) and a local folder:
the layout, the manifest, what analysis reads, open days, --token, forget and prune."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner

from analysis import lake, run
from analysis.engines import duckdb_engine
from analysis.testdata import generate_events, write_objects
from logdig.cli import main
from logdig.storage import (
    LAKE_PART,
    LocalStore,
    lake_manifest_key,
    lake_part_key,
    lake_part_token,
    lake_parts,
    open_store,
    raw_key,
)
from worker.compact import Compactor, closed
from worker.retention import forget, prune

pytestmark = pytest.mark.integration

DAYS = ["2026-11-24", "2026-11-25"]
TOKENS = ["siteA", "siteB"]
LATER = 4e9  # a clock (2096) at which every test day is closed


def fill(store) -> list[dict]:
    events = generate_events(DAYS, TOKENS, users_per_day=15, seed=3)
    events = [e for e in events if e["received_at"][:10] in DAYS]
    write_objects(store, events, batch=200, duplicate_rate=0.05, bad_per_object=2, seed=3)
    return events


def env_of(settings) -> dict[str, str]:
    return {
        "LOGDIG_REDIS_URL": settings.redis_url,
        "LOGDIG_S3_ENDPOINT": settings.s3_endpoint,
        "LOGDIG_S3_BUCKET": settings.s3_bucket,
        "LOGDIG_DATA_DIR": settings.data_dir,
        "AWS_ACCESS_KEY_ID": settings.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key,
    }


def loaded(settings, store, use_lake: bool = True, token: str | None = None) -> dict:
    engine = duckdb_engine()
    try:
        got = run.load(engine, settings, store, DAYS, token=token, use_lake=use_lake)
        events = sorted(run.rows(got.events), key=lambda r: (r["token"], r["day"], r["event_id"]))
        got.release()
    finally:
        engine.close()
    return {"quality": got.quality, "tokens": got.token_quality, "events": events}


def test_compact_from_the_cli_writes_the_lake_that_analysis_reads_on_s3(s3_settings):
    store = open_store(s3_settings)
    fill(store)
    raw = loaded(s3_settings, store, use_lake=False)

    done = CliRunner().invoke(main, ["compact", "--to", "2026-11-30"], env=env_of(s3_settings), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "compacted 2 days" in done.stdout

    for day in DAYS:
        parts = lake_parts(store, day)
        assert {lake_part_token(k) for k in parts} == set(TOKENS)
        for key in parts:  # named by the SHA-256 of their bytes, zstd Parquet
            data = store.get(key)
            assert key == lake_part_key(day, lake_part_token(key), data)
            assert data[:4] == b"PAR1"
        manifest = json.loads(store.get(lake_manifest_key(day)))
        assert manifest["objects"] == sorted(k for k in store.list(f"{day}/"))
        assert sorted(k for keys in manifest["parts"].values() for k in keys) == parts
        assert manifest["quality"]["lines"] > manifest["quality"]["valid"] > 0  # bad rows counted
        assert sum(t["duplicates"] for t in manifest["tokens"].values()) > 0  # repeats counted
    assert sorted(lake.usable_days(store, DAYS)) == DAYS
    # read from the lake (parts fetched from S3): the same as from the raw objects
    assert loaded(s3_settings, store) == raw
    assert loaded(s3_settings, store, token="siteB") == loaded(s3_settings, store, use_lake=False, token="siteB")

    again = CliRunner().invoke(main, ["compact"], env=env_of(s3_settings), catch_exceptions=False)
    assert again.exit_code == 0 and "compacted 0 days" in again.stdout and "2 up to date" in again.stdout


def test_parquet_is_typed_and_sorted_and_smaller_than_the_raw_objects(tmp_path):
    import pyarrow.parquet as pq

    store = LocalStore(tmp_path)
    fill(store)
    report = Compactor(store, _settings(tmp_path), clock=lambda: LATER).run()
    assert report.lake_bytes < report.raw_bytes / 4
    key = lake_parts(store, DAYS[0])[0]
    meta = pq.ParquetFile(tmp_path / key)
    schema = meta.schema_arrow
    assert str(schema.field("x").type) == "double" and str(schema.field("load_count").type) == "int64"
    assert str(schema.field("ts_ms").type) == "int64" and str(schema.field("bot").type) == "bool"
    assert "day" not in schema.names and "token" not in schema.names  # the partitions are the path
    assert meta.metadata.row_group(0).column(0).compression == "ZSTD"
    users = meta.read(columns=["user_key"]).column("user_key").to_pylist()
    assert users == sorted(users)


def _settings(root):
    from logdig.config import Settings

    return Settings(data_dir=str(root))


def test_a_day_is_compacted_only_once_closed(tmp_path):
    settings = _settings(tmp_path)
    day = date(2026, 11, 25)
    end = datetime(2026, 11, 26, tzinfo=UTC)
    margin = timedelta(seconds=settings.max_wait + 3600)
    assert not closed(day.isoformat(), end + margin - timedelta(seconds=1), settings)
    assert closed(day.isoformat(), end + margin, settings)

    store = LocalStore(tmp_path)
    fill(store)
    early = Compactor(store, settings, clock=lambda: (end + margin).timestamp() - 1).run()
    assert early.days == [DAYS[0]] and early.open_days == [DAYS[1]]
    assert "not closed yet (2026-11-25)" in early.summary()
    assert lake.usable_days(store, DAYS).keys() == {DAYS[0]}


def test_a_changed_day_is_compacted_again_and_its_old_parts_go(tmp_path):
    store = LocalStore(tmp_path)
    events = fill(store)
    settings = _settings(tmp_path)
    Compactor(store, settings, clock=lambda: LATER).run()
    old = lake_parts(store, DAYS[0])
    late = [{**e, "event_id": "late-" + e["event_id"]} for e in events if e["token"] == "siteA"][:5]
    late = [{**e, "received_at": f"{DAYS[0]}T23:00:00.000Z"} for e in late]
    body = "".join(json.dumps(e) + "\n" for e in late).encode()
    store.put(raw_key(date.fromisoformat(DAYS[0]), body), body)
    assert DAYS[0] not in lake.usable_days(store, DAYS)  # stale: read raw meanwhile

    report = Compactor(store, settings, clock=lambda: LATER).run()
    assert report.days == [DAYS[0]] and report.current == [DAYS[1]]
    new = lake_parts(store, DAYS[0])
    changed = [k for k in new if k not in old]
    assert [lake_part_token(k) for k in changed] == ["siteA"]  # siteB's part kept its name
    assert loaded(settings, store) == loaded(settings, store, use_lake=False)


def test_token_rebuilds_one_sites_parts(tmp_path):
    store = LocalStore(tmp_path)
    fill(store)
    settings = _settings(tmp_path)
    Compactor(store, settings, clock=lambda: LATER).run()
    before = {k: (tmp_path / k).stat().st_mtime_ns for k in lake_parts(store, DAYS[0])}
    report = Compactor(store, settings, clock=lambda: LATER).run(token="siteB")
    assert report.days == DAYS
    after = {k: (tmp_path / k).stat().st_mtime_ns for k in lake_parts(store, DAYS[0])}
    assert before.keys() == after.keys()  # same rows, same names
    rewritten = {lake_part_token(k) for k in after if after[k] != before[k]}
    assert rewritten == {"siteB"}
    assert loaded(settings, store) == loaded(settings, store, use_lake=False)
    assert "has no events" not in report.summary()
    unknown = Compactor(store, settings, clock=lambda: LATER).run(token="nope")  # a typo, say
    assert unknown.summary().endswith("; site nope has no events in them")


def test_compact_refuses_from_after_to(tmp_path):
    done = CliRunner().invoke(
        main, ["compact", "--from", "2026-11-25", "--to", "2026-11-24"], env={"LOGDIG_DATA_DIR": str(tmp_path)}
    )
    assert done.exit_code == 2 and "--from is after --to" in done.output and "Traceback" not in done.output
    bad = CliRunner().invoke(main, ["compact", "--from", "yesterday"], env={"LOGDIG_DATA_DIR": str(tmp_path)})
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_forget_drops_the_lake_days_that_hold_the_user(tmp_path):
    store = LocalStore(tmp_path)
    events = fill(store)
    settings = _settings(tmp_path)
    Compactor(store, settings, clock=lambda: LATER).run()
    user = next(e["user_key"] for e in events if e["received_at"].startswith(DAYS[1]))
    assert not any(e["user_key"] == user for e in events if e["received_at"].startswith(DAYS[0]))

    report = forget(store, user)
    assert report.events_removed > 0 and report.lake_days == [DAYS[1]]
    assert lake_parts(store, DAYS[1]) == [] and lake.read_manifest(store, DAYS[1]) is None
    assert DAYS[0] in lake.usable_days(store, DAYS)  # untouched
    Compactor(store, settings, clock=lambda: LATER).run()  # rebuilt without the user
    for key in lake_parts(store, DAYS[1]):
        import pyarrow.parquet as pq

        assert user not in pq.read_table(tmp_path / key, columns=["user_key"]).column("user_key").to_pylist()
    assert loaded(settings, store) == loaded(settings, store, use_lake=False)


def test_prune_deletes_old_lake_days_with_their_raw_objects(tmp_path):
    store = LocalStore(tmp_path)
    fill(store)
    Compactor(store, _settings(tmp_path), clock=lambda: LATER).run()
    deleted = prune(store, 0, date.fromisoformat(DAYS[1]))
    assert lake_manifest_key(DAYS[0]) in deleted
    assert all(not k.startswith(f"lake/events/day={DAYS[0]}/") for k in store.list())
    assert lake.read_manifest(store, DAYS[0]) is None
    assert DAYS[1] in lake.usable_days(store, DAYS)
    assert all(LAKE_PART.match(k) for k in lake_parts(store, DAYS[1]))


def test_a_compaction_stops_at_its_time_budget_and_the_rest_is_queued_behind(tmp_path, redis, monkeypatch):
    """One worker runs one job at a time: the first compaction of a long history must not hold
    the flushes back. A scheduled compaction works COMPACT_SLICE seconds (here 0: one batch),
    then queues the days left at the end of the queue, after what was queued meanwhile."""
    from rq import Queue, SimpleWorker

    import worker.compact as compact

    store = LocalStore(tmp_path)
    fill(store)
    settings = _settings(tmp_path)
    monkeypatch.setattr(compact, "BATCH_DAYS", 1)
    first = Compactor(store, settings, clock=lambda: LATER).run(budget=0)
    assert first.days == [DAYS[0]] and first.left == [DAYS[1]]
    assert "1 left for the next run" in first.summary()
    assert lake.usable_days(store, DAYS).keys() == {DAYS[0]}  # the day left is read raw meanwhile

    (tmp_path / "lake").rename(tmp_path / "lake-before")  # again from nothing, through RQ
    monkeypatch.setattr(compact, "COMPACT_SLICE", 0)
    monkeypatch.setattr(compact.Compactor, "_now", lambda self: datetime.fromtimestamp(LATER, UTC))
    monkeypatch.setenv("LOGDIG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOGDIG_S3_ENDPOINT", raising=False)
    queue = Queue("logdig-test", connection=redis)
    queue.enqueue(compact.compact_job, job_timeout=600)
    queue.enqueue(time.time)  # a flush queued meanwhile
    order = []
    monkeypatch.setattr(compact.Compactor, "_compact", _recording(compact.Compactor._compact, order))
    SimpleWorker([queue], connection=redis).work(burst=True)
    finished = [queue.fetch_job(i) for i in queue.finished_job_registry.get_job_ids()]
    assert [j.func_name for j in sorted(finished, key=lambda j: j.ended_at)] == [
        "worker.compact.compact_job",
        "time.time",
        "worker.compact.compact_job",
    ]
    assert order == [[DAYS[0]], [DAYS[1]]]
    assert lake.usable_days(store, DAYS).keys() == set(DAYS)


def _recording(original, into: list):
    def compact_batch(self, days, token, report):
        into.append(list(days))
        return original(self, days, token, report)

    return compact_batch


def test_a_day_that_cannot_be_read_does_not_hold_back_the_others(tmp_path, monkeypatch):
    """An unreadable raw object fails its batch only: the other days are compacted, the day
    stays raw (and is tried again next run), and `logdig compact` exits non-zero naming it."""
    import worker.compact as compact
    from analysis import io

    store = LocalStore(tmp_path)
    fill(store)
    unreadable = io.day_objects(store, DAYS[0])[0]
    read = LocalStore.get

    def get(self, key):
        if key == unreadable:
            raise OSError("unreadable")
        return read(self, key)

    monkeypatch.setattr(LocalStore, "get", get)
    monkeypatch.setattr(compact, "BATCH_DAYS", 1)  # each day its own batch
    done = CliRunner().invoke(main, ["compact"], env={"LOGDIG_DATA_DIR": str(tmp_path), "LOGDIG_S3_ENDPOINT": ""})
    assert done.exit_code == 1, done.output
    assert f"1 failed ({DAYS[0]}; read raw" in done.output
    assert f"could not compact {DAYS[0]}" in done.output
    assert lake.usable_days(store, DAYS).keys() == {DAYS[1]}


def _compacted(tmp_path):
    store = LocalStore(tmp_path)
    fill(store)
    settings = _settings(tmp_path)
    Compactor(store, settings, clock=lambda: LATER).run()
    return store, settings


MANGLED = {
    "a string": lambda m: "x",
    "parts a list": lambda m: {**m, "parts": list(m["parts"].values())},
    "no quality": lambda m: {k: v for k, v in m.items() if k != "quality"},
    "no tokens": lambda m: {k: v for k, v in m.items() if k != "tokens"},
    "no order": lambda m: {k: v for k, v in m.items() if k != "order"},
    "a token's parts a string": lambda m: {**m, "parts": {t: "x" for t in m["parts"]}},
    "lines a string": lambda m: {**m, "quality": {**m["quality"], "lines": "abc"}},
}


def test_a_manifest_of_the_wrong_shape_is_read_raw_and_compacted_again(tmp_path):
    """Valid JSON that is not a manifest (hand-edited, another tool's) failed every analysis of
    the day with a KeyError or AttributeError; now the day is read raw and rewritten."""
    store, settings = _compacted(tmp_path)
    raw = loaded(settings, store, use_lake=False)
    good = json.loads(store.get(lake_manifest_key(DAYS[0])))
    for name, mangle in MANGLED.items():
        store.put(lake_manifest_key(DAYS[0]), json.dumps(mangle(good)).encode())
        assert lake.usable_days(store, DAYS).keys() == {DAYS[1]}, name
        assert loaded(settings, store) == raw, name
    report = Compactor(store, settings, clock=lambda: LATER).run()
    assert report.days == [DAYS[0]] and lake.usable_days(store, DAYS).keys() == set(DAYS)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_part_is_read_raw_and_compacted_again(tmp_path, damage):
    """A part that is not the Parquet its manifest listed failed every analysis of the day
    (DuckDB: not a Parquet file) and, its manifest still current, was never rewritten."""
    store, settings = _compacted(tmp_path)
    raw = loaded(settings, store, use_lake=False)
    key = lake_parts(store, DAYS[0])[0]
    data = store.get(key)
    store.put(key, b"garbage" if damage == "garbage" else data[: len(data) // 2])
    assert lake.usable_days(store, DAYS).keys() == {DAYS[1]}
    assert loaded(settings, store) == raw
    report = Compactor(store, settings, clock=lambda: LATER).run()
    assert report.days == [DAYS[0]] and store.get(key) == data
    assert lake.usable_days(store, DAYS).keys() == set(DAYS)

"""The ingest path end to end, on a real redis-server and a real S3 API server over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime

import pytest
from redis import Redis

from logdig.queue import EventQueue
from logdig.storage import RAW_KEY, StorageError, open_store
from tests.conftest import start_collector
from tests.helpers import make_event, post, raw_objects, stored_events
from worker.flush import Flusher

pytestmark = pytest.mark.integration


def flusher(settings, clock=None, store=None, sleep=lambda s: None) -> Flusher:
    kwargs = {"clock": clock} if clock else {}
    return Flusher(
        EventQueue(Redis.from_url(settings.redis_url)), store or open_store(settings), settings, sleep=sleep, **kwargs
    )


def test_250_events_over_http_become_sha256_named_objects_in_their_day_folder(s3_settings):
    collector = start_collector(s3_settings)
    try:
        events = [make_event(collector.token) for _ in range(250)]
        for chunk in (events[:100], events[100:200], events[200:]):
            status, _, answer = post(collector.url + "/logs", chunk)
            assert status == 202, answer
            assert answer == {"accepted": len(chunk), "duplicates": 0, "rejected": []}
    finally:
        collector.stop()
    today = datetime.now(UTC).date().isoformat()

    report = flusher(s3_settings).flush()

    store = open_store(s3_settings)
    objects = raw_objects(store)
    assert set(objects) == set(report.objects) and objects
    for key, body in objects.items():
        day, digest = RAW_KEY.match(key).groups()
        assert digest == hashlib.sha256(body).hexdigest()
        assert day == today
        assert body.endswith(b"\n")
    stored = stored_events(store)
    assert sorted(e["event_id"] for e in stored) == sorted(e["event_id"] for e in events)
    sent = {e["event_id"]: e for e in events}
    for event in stored:
        assert {k: event[k] for k in sent[event["event_id"]]} == sent[event["event_id"]]
        assert event["received_at"].startswith(today)
    assert EventQueue(Redis.from_url(s3_settings.redis_url)).state().length == 0


def test_99_events_wait_for_max_wait(local_settings):
    collector = start_collector(local_settings)
    try:
        status, _, _ = post(collector.url + "/logs", [make_event(collector.token) for _ in range(99)])
        assert status == 202
    finally:
        collector.stop()
    now = datetime.now(UTC).timestamp()

    early = flusher(local_settings, clock=lambda: now + local_settings.max_wait - 5).flush()
    assert early.objects == [] and "LOGDIG_BATCH_MIN" in early.reason
    assert raw_objects(open_store(local_settings)) == {}

    late = flusher(local_settings, clock=lambda: now + local_settings.max_wait + 1).flush()
    assert len(late.objects) == 1 and late.events == 99
    assert len(stored_events(open_store(local_settings))) == 99


@pytest.mark.parametrize("force", [False, True], ids=["scheduled", "forced"])
def test_an_empty_queue_says_queue_empty_not_below_the_minimum(local_settings, force):
    # `logdig flush --force` and the dev shutdown flush on an empty queue said
    # "queue below LOGDIG_BATCH_MIN and younger than LOGDIG_MAX_WAIT".
    report = flusher(local_settings).flush(force=force)
    assert report.objects == []
    assert report.summary() == "no object written (queue empty)"


def test_a_batch_across_midnight_becomes_two_objects(local_settings):
    before = datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=UTC).timestamp()
    after = datetime(2027, 1, 1, 0, 0, 0, 500000, tzinfo=UTC).timestamp()
    times = iter([before] * 60 + [after] * 60)
    collector = start_collector(local_settings, clock=lambda: next(times))
    try:
        for _ in range(120):
            assert post(collector.url + "/logs", make_event(collector.token))[0] == 202
    finally:
        collector.stop()

    report = flusher(local_settings).flush()

    assert sorted(k.split("/")[0] for k in report.objects) == ["2026-12-31", "2027-01-01"]
    store = open_store(local_settings)
    by_day = Counter(key.split("/")[0] for key, body in raw_objects(store).items() for _ in body.splitlines())
    assert by_day == {"2026-12-31": 60, "2027-01-01": 60}
    for event in stored_events(store):
        assert event["timestamp"] == "2026-11-27T10:00:00.000Z"  # the client's, as sent


KILL_BETWEEN_WRITE_AND_ACK = textwrap.dedent(
    """
    import os, sys
    from logdig.config import Settings
    from logdig.queue import EventQueue
    from worker import jobs

    def die(self, batch):
        os._exit(9)  # the process dies after the objects are written, before the ack

    EventQueue.ack = die
    jobs.flush(force=True, settings=Settings.from_env())
    """
)


def test_a_flush_killed_between_write_and_ack_loses_nothing_and_duplicates_nothing(s3_settings):
    queue = EventQueue(Redis.from_url(s3_settings.redis_url))
    collector = start_collector(s3_settings)
    try:
        events = [make_event(collector.token) for _ in range(150)]
        assert post(collector.url + "/logs", events)[0] == 202
    finally:
        collector.stop()
    env = {
        **os.environ,
        "LOGDIG_REDIS_URL": s3_settings.redis_url,
        "LOGDIG_S3_ENDPOINT": s3_settings.s3_endpoint,
        "LOGDIG_S3_BUCKET": s3_settings.s3_bucket,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    killed = subprocess.run([sys.executable, "-c", KILL_BETWEEN_WRITE_AND_ACK], env=env, timeout=60)
    assert killed.returncode == 9
    store = open_store(s3_settings)
    written = raw_objects(store)
    assert len(written) == 1 and queue.state().inflight == 150  # written, not acknowledged

    report = flusher(s3_settings).flush()

    assert report.objects == list(written)  # the same bytes, the same name
    assert raw_objects(store) == written
    assert Counter(e["event_id"] for e in stored_events(store)) == Counter(e["event_id"] for e in events)
    assert queue.state().inflight == 0 and queue.state().length == 0


def test_an_event_sent_twice_in_two_requests_is_stored_once(local_settings):
    collector = start_collector(local_settings)
    try:
        event = make_event(collector.token)
        first = post(collector.url + "/logs", [event])
        second = post(collector.url + "/logs", [event, make_event(collector.token)])
    finally:
        collector.stop()
    assert first[2] == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert second[2] == {"accepted": 1, "duplicates": 1, "rejected": []}
    flusher(local_settings).flush(force=True)
    ids = [e["event_id"] for e in stored_events(open_store(local_settings))]
    assert ids.count(event["event_id"]) == 1 and len(ids) == 2


class FlakyStore:
    """A real store that fails its first `failures` writes."""

    def __init__(self, store, failures):
        self.store, self.failures, self.attempts = store, failures, 0

    def put(self, key, data, content_type="application/x-ndjson"):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StorageError("simulated outage")
        self.store.put(key, data)


def test_storage_errors_are_retried_and_events_stay_queued_until_written(s3_settings, redis):
    queue = EventQueue(redis)
    collector = start_collector(s3_settings)
    try:
        assert post(collector.url + "/logs", [make_event(collector.token) for _ in range(100)])[0] == 202
    finally:
        collector.stop()
    sleeps = []
    down = FlakyStore(open_store(s3_settings), failures=100)
    with pytest.raises(StorageError):
        flusher(s3_settings, store=down, sleep=sleeps.append).flush()
    assert sleeps == [0.5, 1, 2, 4, 8]  # backoff between the attempts
    assert queue.state().inflight == 100  # still in Redis
    assert queue.stats()["flush_failures"] == 1

    flaky = FlakyStore(open_store(s3_settings), failures=2)
    report = flusher(s3_settings, store=flaky).flush()
    assert report.events == 100 and flaky.attempts == 3
    assert len(stored_events(open_store(s3_settings))) == 100
    assert queue.state().inflight == 0


def test_no_object_holds_more_than_batch_max(local_settings):
    settings = local_settings.replace(batch_min=20, batch_max=40)
    collector = start_collector(settings)
    try:
        assert post(collector.url + "/logs", [make_event(collector.token) for _ in range(130)])[0] == 202
    finally:
        collector.stop()
    report = flusher(settings).flush()
    sizes = sorted(len(body.splitlines()) for body in raw_objects(open_store(settings)).values())
    assert sizes == [40, 40, 40] and report.events == 120  # 10 left: below the minimum, and young
    assert flusher(settings).flush(force=True).events == 10


@pytest.mark.spark
def test_pyspark_reads_the_local_layout_with_documented_types(local_settings):
    pyspark_sql = pytest.importorskip("pyspark.sql")
    collector = start_collector(local_settings)
    try:
        events = [
            make_event(collector.token, x=i, y=i * 2.5, load_count=i, spent_milli_sec=i + 0.25) for i in range(150)
        ]
        events += [make_event(collector.token, type="pageview", x=None, y=None, link=None) for _ in range(50)]
        assert post(collector.url + "/logs", events)[0] == 202
    finally:
        collector.stop()
    flusher(local_settings).flush()

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("logdig-layout")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        df = spark.read.json(os.path.join(local_settings.data_dir, "*/"))
        assert df.count() == 200
        types = dict(df.dtypes)
        assert types["timestamp"] == "string" and types["received_at"] == "string"
        assert types["x"] == "double" and types["y"] == "double"  # normalised, whatever was sent
        assert types["load_count"] == "bigint" and types["spent_milli_sec"] == "bigint"
        assert types["bot"] == "boolean"
        assert df.filter(df.type == "pageview").filter(df.x.isNull()).count() == 50
        assert df.select("event_id").distinct().count() == 200
    finally:
        spark.stop()


def test_objects_are_json_lines_spark_and_any_reader_can_parse(local_settings):
    collector = start_collector(local_settings)
    try:
        text = '버튼 클릭 ✓ \u2028 "quoted"'
        assert post(collector.url + "/logs", [make_event(collector.token, text=text)])[0] == 202
    finally:
        collector.stop()
    flusher(local_settings).flush(force=True)
    (body,) = raw_objects(open_store(local_settings)).values()
    (line,) = body.decode("utf-8").split("\n")[:-1]
    assert json.loads(line)["text"] == text

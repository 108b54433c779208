"""`logdig forget` and `logdig prune` on a real S3 API server."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from click.testing import CliRunner

from logdig.cli import main
from logdig.storage import open_store, raw_key
from tests.helpers import make_event, raw_objects, stored_events
from worker.retention import forget, prune

pytestmark = pytest.mark.integration


def write_day(store, day: date, events) -> str:
    import json

    body = "".join(json.dumps({**e, "received_at": f"{day}T12:00:00.000Z"}) + "\n" for e in events).encode()
    key = raw_key(day, body)
    store.put(key, body)
    return key


class Watching:
    """A store that checks, before every delete, that no other user's event goes missing."""

    def __init__(self, store, keep_ids):
        self.store, self.keep_ids = store, keep_ids

    def __getattr__(self, name):
        return getattr(self.store, name)

    def delete(self, key):
        ids = Counter(e["event_id"] for e in stored_events(self.store))
        assert all(ids[i] >= 1 for i in self.keep_ids), "an event was missing while rewriting"
        self.store.delete(key)


def test_forget_rewrites_objects_under_new_names_without_a_gap(s3_settings):
    store = open_store(s3_settings)
    gone = [make_event("t", user_key="ForgetMeForgetMe0001") for _ in range(3)]
    others = [make_event("t", user_key="KeepMeKeepMeKeepMe01") for _ in range(4)]
    mixed = write_day(store, date(2026, 11, 1), [gone[0], others[0], others[1]])
    only_gone = write_day(store, date(2026, 11, 2), gone[1:])
    untouched = write_day(store, date(2026, 11, 3), others[2:])

    report = forget(Watching(store, [e["event_id"] for e in others]), "ForgetMeForgetMe0001")

    assert report.events_removed == 3
    objects = raw_objects(store)
    assert mixed not in objects and only_gone not in objects and untouched in objects
    (new_key,) = [new for old, new in report.rewritten if old == mixed]
    assert new_key.startswith("2026-11-01/") and new_key in objects
    assert new_key == raw_key(date(2026, 11, 1), objects[new_key])  # still named by its SHA-256
    assert sorted(e["event_id"] for e in stored_events(store)) == sorted(e["event_id"] for e in others)


def test_forget_and_prune_from_the_cli(s3_settings):
    store = open_store(s3_settings)
    write_day(store, date(2020, 1, 1), [make_event("t")])
    recent = write_day(store, date.today(), [make_event("t", user_key="Zz0123456789Zz012345")])
    env = {
        "LOGDIG_REDIS_URL": s3_settings.redis_url,
        "LOGDIG_S3_ENDPOINT": s3_settings.s3_endpoint,
        "LOGDIG_S3_BUCKET": s3_settings.s3_bucket,
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
    }
    runner = CliRunner()
    pruned = runner.invoke(main, ["prune", "--older-than", "30"], env=env, catch_exceptions=False)
    assert pruned.exit_code == 0 and "deleted 1 objects" in pruned.stdout
    assert list(raw_objects(store)) == [recent]
    forgot = runner.invoke(main, ["forget", "Zz0123456789Zz012345"], env=env, catch_exceptions=False)
    assert forgot.exit_code == 0 and "removed 1 events from 1 objects" in forgot.stdout
    assert raw_objects(store) == {}


def test_prune_keeps_the_last_days(tmp_path):
    from logdig.storage import LocalStore

    store = LocalStore(tmp_path)
    for d in (1, 2, 3):
        write_day(store, date(2026, 1, d), [make_event("t")])
    assert len(prune(store, 1, date(2026, 1, 3))) == 1
    assert sorted(k[:10] for k in raw_objects(store)) == ["2026-01-02", "2026-01-03"]

"""Queue semantics on fakeredis (with Lua): fast, no services."""

from __future__ import annotations

import fakeredis
import pytest

from logdig.queue import INFLIGHT, QUEUE, EventQueue, IngestLimits, QueueFull, RateLimited, Sites


def line(i: int, day: str = "2026-11-27") -> str:
    return f'{{"event_id":"e{i}","received_at":"{day}T10:00:00.000Z"}}'


@pytest.fixture
def queue():
    return EventQueue(fakeredis.FakeRedis())


def test_push_drops_repeats_within_and_across_requests(queue):
    assert queue.push([("t", "a", line(1)), ("t", "a", line(1)), ("t", "b", line(2))], IngestLimits(100, 60)) == (2, 1)
    assert queue.push([("t", "a", line(1)), ("u", "a", line(3))], IngestLimits(100, 60)) == (1, 1)  # per token
    assert queue.state().length == 3
    assert queue.stats() == {"accepted": 3, "duplicates": 2}


def test_push_refuses_over_the_cap_and_remembers_nothing(queue):
    queue.push([("t", str(i), line(i)) for i in range(3)], IngestLimits(3, 60))
    with pytest.raises(QueueFull):
        queue.push([("t", "x", line(9))], IngestLimits(3, 60))
    queue.reserve(3)
    assert queue.push([("t", "x", line(9))], IngestLimits(3, 60)) == (1, 0)  # not marked seen by the refusal


def test_reserve_returns_the_inflight_batch_until_it_is_acknowledged(queue):
    queue.push([("t", str(i), line(i)) for i in range(5)], IngestLimits(100, 60))
    first = queue.reserve(3)
    assert [b.decode() for b in first] == [line(0), line(1), line(2)]
    assert queue.reserve(3) == first  # recovery: the same batch, nothing new mixed in
    assert queue.state().length == 2 and queue.state().inflight == 3
    assert queue.ack(first)
    assert queue.reserve(3) == [line(3).encode(), line(4).encode()]


def test_a_late_ack_never_deletes_the_next_batch(queue):
    queue.push([("t", str(i), line(i)) for i in range(4)], IngestLimits(100, 60))
    old = queue.reserve(2)
    assert queue.ack(old)
    new = queue.reserve(2)
    assert not queue.ack(old)  # a second flusher acknowledging the batch it recovered
    assert queue.redis.llen(INFLIGHT) == 2 and queue.ack(new)
    assert queue.redis.llen(QUEUE) == 0


def test_sites_and_origins():
    sites = Sites(fakeredis.FakeRedis())
    open_site = sites.create("a")
    shop = sites.create("b", ["https://Shop.example"])
    assert open_site.allows(None) and open_site.allows("https://x")
    assert shop.allows("https://shop.example") and not shop.allows("https://evil.example") and not shop.allows(None)
    assert sites.get_many([shop.token, "nope"]) == {shop.token: shop, "nope": None}
    assert sites.by_name("b") == shop and sites.delete(shop.token) and sites.get(shop.token) is None


def test_rate_limits_per_ip_before_the_body_and_per_token_in_the_push(queue):
    limits = IngestLimits(1000, 60, token_limit=5)
    # The per-IP request limit is charged on its own, before a body is read.
    assert [queue.charge_ip("1.1.1.1", 2, 60) for _ in range(2)] == [0, 0]
    assert 1 <= queue.charge_ip("1.1.1.1", 2, 60) <= 60  # 3rd request from this IP
    assert queue.charge_ip("2.2.2.2", 2, 60) == 0
    assert queue.push([("t", "a", line(1)), ("t", "b", line(2))], limits, client="1.1.1.1") == (2, 0)
    assert queue.push([("t", "c", line(3))], limits, client="1.1.1.1") == (1, 0)
    assert queue.push([("t", "e", line(5)), ("t", "f", line(6))], limits, client="2.2.2.2") == (2, 0)
    with pytest.raises(RateLimited) as e:
        queue.push([("t", "g", line(7))], limits, client="3.3.3.3")  # 6th event for token t
    assert 1 <= e.value.retry_after <= 60
    assert queue.push([("u", "g", line(7))], limits, client="3.3.3.3") == (1, 0)  # another token
    # rejected:rate_limited counts 429 answers: one from charge_ip, one from the push.
    assert queue.stats()["rejected:rate_limited"] == 2 and queue.state().length == 6


def test_one_ip_gets_its_share_of_a_token_and_is_refused_before_the_token_is_charged(queue):
    limits = IngestLimits(1000, 60, token_limit=10, token_ip_limit=3)
    assert queue.push([("t", f"a{i}", line(i)) for i in range(3)], limits, client="1.1.1.1") == (3, 0)
    for _ in range(5):  # refused, and not charged to the token's budget
        with pytest.raises(RateLimited):
            queue.push([("t", "b", line(9))], limits, client="1.1.1.1")
    for ip in ("2.2.2.2", "3.3.3.3"):
        assert queue.push([("t", f"{ip}-{i}", line(i)) for i in range(3)], limits, client=ip) == (3, 0)
    assert queue.stats()["rejected:rate_limited"] == 5


def test_the_last_flush_is_recorded(queue, tmp_path):
    from datetime import UTC, datetime

    from logdig.config import Settings
    from logdig.storage import LocalStore
    from worker.flush import Flusher

    assert queue.last_flush() is None
    queue.push([("t", "a", line(1))], IngestLimits(100, 60))
    Flusher(queue, LocalStore(tmp_path), Settings(), clock=lambda: 1_800_000_000.0).flush(force=True)
    last = queue.last_flush()
    assert last == {
        "at": datetime.fromtimestamp(1_800_000_000, UTC),
        "result": f"wrote 1 events in 1 objects ({len(line(1)) + 1} bytes)",
        "ok": True,
    }

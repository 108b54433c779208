"""Soak: a steady load through the whole stack for a few minutes; memory stays flat and
the queue returns to zero.

The stack is the compose one as processes: gunicorn (`logdig web`, 2 workers), the rq
worker, rq cron and redis-server (AOF with `appendfsync everysec`, as in compose), with
S3 served by moto. A load generator posts RATE events/s in batches of 50.

Memory is sampled after a warm-up (imports done, pools and caches filled, the dedupe
keys at their steady state) and at the end of the run:

- the RSS of each gunicorn worker (the same pids at start and end: a restarted worker
  would hide a leak);
- the RSS of the long-lived `logdig worker` process. rq forks a work-horse per job and
  the horse exits after it; the long-lived parent is what would leak over days;
- Redis `used_memory` less the queue and in-flight lists, whose size depends only on
  when the sample falls between two flushes (reported too). LOGDIG_DEDUPE_WINDOW is
  20 s here, so the per-event dedupe keys reach their steady state during the warm-up;
  with the default hour they would grow for an hour by design, which is not a leak.

The bound, GROWTH_LIMIT (8 MiB per process over the measured window of about 70,000
events and 1,400 requests), is generous for allocator noise (measured: under 200 KiB for
the gunicorn and rq workers; about 900 KiB for Redis, which keeps rq's finished flush
jobs for their 500 s result TTL) and still fails on a leak of about 120 bytes per event
or 6 KiB per request.

LOGDIG_SOAK_SECONDS (default 100) sets the measured window; run it longer by hand.
"""

from __future__ import annotations

import os
import time

import pytest

from logdig.queue import INFLIGHT, QUEUE
from tests.fault import report
from tests.fault.loadgen import LoadGen
from tests.fault.report import account
from tests.fault.stack import Stack, rss_kib, wait_for

pytestmark = pytest.mark.fault

RATE = 700  # events per second
WARMUP = 20  # seconds
SOAK_SECONDS = int(os.environ.get("LOGDIG_SOAK_SECONDS", "100"))
GROWTH_LIMIT = 8 * 1024  # KiB


def sample(stack: Stack, worker_pid: int) -> dict:
    r = stack.redis_client()
    try:
        info = r.info("memory")
        lists = sum(r.memory_usage(key, samples=0) or 0 for key in (QUEUE, INFLIGHT))
        queued = r.llen(QUEUE) + r.llen(INFLIGHT)
        keys = r.dbsize()
    finally:
        r.close()
    return {
        "at": time.monotonic(),
        "web": {pid: rss_kib(pid) for pid in stack.web_workers()},
        "worker": rss_kib(worker_pid),
        "redis_used": info["used_memory"] // 1024,
        "redis_lists": lists // 1024,
        "redis_rest": (info["used_memory"] - lists) // 1024,
        "redis_rss": info["used_memory_rss"] // 1024,
        "redis_keys": keys,
        "queued": queued,
    }


def test_soak(tmp_path):
    settings = {
        "LOGDIG_DEDUPE_WINDOW": 20,
        "LOGDIG_FLUSH_INTERVAL": 2,
        "LOGDIG_BATCH_MAX": 10_000,
        "LOGDIG_MAX_WAIT": 5,
    }
    with Stack(tmp_path, redis_fsync="everysec", **settings) as stack:
        stack.start_scheduler()
        stack.start_web(workers=2)
        worker = stack.start_worker()
        with LoadGen(stack.web_port, stack.token, prefix="soak", rate=RATE) as load:
            time.sleep(WARMUP)
            samples = [sample(stack, worker.pid)]
            while time.monotonic() - samples[0]["at"] < SOAK_SECONDS:
                time.sleep(10)
                samples.append(sample(stack, worker.pid))
                assert worker.alive() and stack.web.alive()
            load.drain()
        drained_in = time.monotonic()
        # No forced flush: the scheduled one empties the queue by itself.
        wait_for(lambda: stack.queue_state() == (0, 0), 30, "the queue to return to zero", every=0.2)
        drained_in = time.monotonic() - drained_in
        start, end = samples[0], samples[-1]
        seconds = end["at"] - start["at"]
        row = account(
            stack,
            load,
            f"soak: {RATE} ev/s, {seconds:.0f} s measured",
            max_queued=max(s["queued"] for s in samples),
            drained_in_s=round(drained_in, 1),
        )
    kib = "KiB"
    lines = [
        f"soak memory ({seconds:.0f} s at {RATE} events/s after {WARMUP} s warm-up; {row['sent']} events in all):",
        *(
            f"  gunicorn worker {pid}: {start['web'][pid]} -> {end['web'].get(pid, 'gone')} {kib}"
            for pid in sorted(start["web"])
        ),
        f"  rq worker (long-lived parent {worker.pid}): {start['worker']} -> {end['worker']} {kib}",
        f"  redis used_memory: {start['redis_used']} -> {end['redis_used']} {kib} "
        f"(queue+in-flight lists {start['redis_lists']} -> {end['redis_lists']}; "
        f"the rest {start['redis_rest']} -> {end['redis_rest']}; rss {start['redis_rss']} -> {end['redis_rss']}; "
        f"keys {start['redis_keys']} -> {end['redis_keys']})",
        "  every sample (web RSS | worker RSS | redis rest | queued): "
        + ", ".join(f"{sum(s['web'].values())}|{s['worker']}|{s['redis_rest']}|{s['queued']}" for s in samples),
    ]
    report.NOTES.extend(lines)
    print("\n".join(lines))
    assert len(samples) >= 3
    assert set(end["web"]) == set(start["web"]), "a gunicorn worker was replaced during the soak"
    for pid, before in start["web"].items():
        assert end["web"][pid] - before < GROWTH_LIMIT, f"gunicorn worker {pid} grew {end['web'][pid] - before} KiB"
    assert end["worker"] - start["worker"] < GROWTH_LIMIT, "the rq worker grew"
    assert end["redis_rest"] - start["redis_rest"] < GROWTH_LIMIT, "Redis grew beyond its queue"

"""Memory: RSS of a gunicorn worker after 1,000,000 events, of the rq worker after 100 flushes.

    python3 bench/bench_memory.py [--events 1000000] [--batch 50] [--flushes 100]

Collector: `logdig web --workers 2` against a private redis-server; wrk POSTs
--batch unique events per request until the collector has accepted --events (read from
its own counter in Redis); a thread empties the queue meanwhile so Redis stays small.
The figure is the larger RSS of the two workers. Baseline: the same worker's RSS after
a warm-up of 10,000 events (imports, caches and pools in place); ratio = warm / final,
so 1.0 means no growth.

rq: `logdig worker` runs 100 flush jobs, each after 200 new events were queued. rq forks
a work-horse for every job, which exits with it, so the figure is the RSS of the
long-lived worker process (the parent) after the last flush. Baseline: its RSS after
the first flush.

No target is set by the issue; target_ratio 0.8 (at most 25% growth) is ours.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time

import orjson
from bench_ingest import TOKEN, lua_script, reset
from common import LOGDIG, bench_line, children, gunicorn, machine, process, redis_server, rss_kib, wrk

from logdig.queue import QUEUE, STATS, EventQueue, IngestLimits

TARGET_RATIO = 0.8


def accepted(redis) -> int:
    return int(redis.hget(STATS, "accepted") or 0)


def collector_rss(server, events: int, batch: int, folder: str) -> tuple[int, int, int]:
    redis = server.client()
    with gunicorn("logdig", server.url, 2, env={"LOGDIG_DEDUPE_WINDOW": "60"}) as (base, master):
        reset(redis)
        workers = children(master)
        wrk(base + "/logs", 2, 8, lua_script(folder, batch))  # warm-up
        warm = max(rss_kib(p) for p in workers)
        stop = threading.Event()

        def drain() -> None:
            while not stop.wait(0.5):
                redis.delete(QUEUE)

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        t = time.perf_counter()
        while accepted(redis) < events:
            r = wrk(base + "/logs", 10, 16, lua_script(folder, batch))
            if r.errors:
                raise SystemExit(f"{r.errors} failed requests of {r.requests}")
        stop.set()
        thread.join()
        final = max(rss_kib(p) for p in workers)
        if children(master) != workers:
            raise SystemExit("a gunicorn worker was restarted during the run")
        print(
            f"  collector: {accepted(redis)} events in {time.perf_counter() - t:.0f} s; worker RSS {warm} -> {final} KiB"
        )
        return warm, final, accepted(redis)


def rq_rss(server, flushes: int, folder: str) -> tuple[int, int]:
    from rq import Queue

    from tests.helpers import make_event
    from worker.jobs import QUEUE_NAME, flush_job

    redis = server.client()
    redis.flushall()
    queue = EventQueue(redis)
    env = {"LOGDIG_REDIS_URL": server.url, "LOGDIG_DATA_DIR": f"{folder}/data", "LOGDIG_BATCH_MIN": "100"}
    with process([*LOGDIG, "worker"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        jobs = Queue(QUEUE_NAME, connection=redis)
        limits = IngestLimits(queue_max=10**9, dedupe_window=60)
        first = 0
        for i in range(flushes):
            lines = [
                (TOKEN, f"m{i}-{j}", orjson.dumps({**make_event(TOKEN, event_id=f"m{i}-{j}"), "received_at": "x"}))
                for j in range(200)
            ]
            # A well-formed line: the flush groups by received_at's day.
            lines = [
                (t, e, line.replace(b'"received_at":"x"', b'"received_at":"2026-11-27T10:00:00.000Z"'))
                for t, e, line in lines
            ]
            queue.push(lines, limits)
            job = jobs.enqueue(flush_job)
            deadline = time.monotonic() + 60
            while job.get_status(refresh=True) not in ("finished", "failed"):
                if time.monotonic() > deadline:
                    raise SystemExit("a flush job did not finish within 60 s")
                time.sleep(0.02)
            if job.get_status() == "failed" or redis.llen(QUEUE):
                raise SystemExit(f"flush job {i} failed or left events queued")
            if i == 0:
                first = rss_kib(proc.pid)
        final = rss_kib(proc.pid)
    print(
        f"  rq worker (long-lived parent, pid {proc.pid}): RSS {first} KiB after 1 flush -> {final} KiB after {flushes}"
    )
    return first, final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--flushes", type=int, default=100)
    args = ap.parse_args()
    print(f"memory: {machine()}")
    folder = tempfile.mkdtemp(prefix="logdig-bench-memory-")
    with redis_server() as server:
        warm, final, n = collector_rss(server, args.events, args.batch, folder)
        first, last = rq_rss(server, args.flushes, folder)
    print(bench_line("memory_web", "rss_kib", final, warm, warm / final, TARGET_RATIO, events=n))
    print(bench_line("memory_rq", "rss_kib", last, first, first / last, TARGET_RATIO, flushes=args.flushes))


if __name__ == "__main__":
    main()

"""Flush: events/s moved from Redis into objects by one Flusher; Redis memory per event.

    python3 bench/bench_flush.py [--runs 3] [--events 100000] [--s3-events 30000]

Events are queued with the collector's own EventQueue.push (so the lines, the dedupe
keys and the list encoding are what production holds), then one
`Flusher.flush(force=True)` with LOGDIG_BATCH_MAX=10,000 writes them:

- into the local folder (LocalStore: temp file, fsync, rename); target 100,000 events/s;
- into an S3 API server (moto's ThreadedMotoServer, as in the tests, through the minio
  SDK); reported, no target (moto is a Python server: its cost is in the figure).

Baseline, same run, same events: LRANGE them out of Redis in 10,000-event chunks and
write them to one file (one write, one fsync): no reserve/ack scripts, no grouping by
day, no hashing, no per-object files. The ratio is ours / baseline.

Memory: `INFO memory` used_memory before and after queueing N events, divided by N,
against the mean line length (the JSON that is stored); target <= 1.3x. Printed both
with the dedupe keys the ingest script adds (one SET per event for
LOGDIG_DEDUPE_WINDOW) and for the list alone.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import bench_line, machine, median, redis_server

from logdig.config import Settings
from logdig.events import stored_line
from logdig.queue import QUEUE, EventQueue, IngestLimits
from logdig.storage import LocalStore, S3Store
from tests.helpers import make_event
from worker.flush import Flusher

TOKEN = "bench-token-000000000000"
BATCH_MAX = 10_000


def make_lines(n: int, tag: str) -> list[tuple[str, str, str]]:
    """(token, event_id, line) as the collector builds them (enriched, encoded)."""
    now = datetime.now(UTC)
    lines = []
    for i in range(n):
        event_id = f"{tag}-{i:08d}"
        lines.append((TOKEN, event_id, stored_line(make_event(TOKEN, event_id=event_id, x=i % 1000), now)))
    return lines


def fill(queue: EventQueue, lines, limits: IngestLimits) -> None:
    for i in range(0, len(lines), 1000):
        queue.push(lines[i : i + 1000], limits)


def baseline(redis, n: int, folder: Path) -> float:
    """LRANGE the queue in chunks, write one file, fsync: the least a flush must do."""
    t = time.perf_counter()
    with open(folder / "baseline.jsonl", "wb") as f:
        for start in range(0, n, BATCH_MAX):
            chunk = redis.lrange(QUEUE, start, start + BATCH_MAX - 1)
            f.write(b"\n".join(chunk) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t


def timed_flush(queue: EventQueue, store, n: int) -> float:
    settings = Settings(batch_max=BATCH_MAX, batch_min=1)
    t = time.perf_counter()
    report = Flusher(queue, store, settings).flush(force=True)
    elapsed = time.perf_counter() - t
    if report.events != n or queue.redis.llen(QUEUE) or queue.state().inflight:
        raise SystemExit(f"flush moved {report.events} of {n} events; the queue is not empty")
    return elapsed


def memory(redis, queue: EventQueue, n: int, limits: IngestLimits) -> tuple[float, float, float]:
    """(bytes per event with dedupe keys, bytes per event for the list alone, mean line length)."""
    lines = make_lines(n, "mem")
    mean = sum(len(line if isinstance(line, bytes) else line.encode()) for _, _, line in lines) / n
    redis.flushall()
    before = redis.info("memory")["used_memory"]
    fill(queue, lines, limits)
    with_keys = (redis.info("memory")["used_memory"] - before) / n
    redis.flushall()
    before = redis.info("memory")["used_memory"]
    for i in range(0, n, 1000):
        redis.rpush(QUEUE, *(line for _, _, line in lines[i : i + 1000]))
    list_only = (redis.info("memory")["used_memory"] - before) / n
    redis.flushall()
    return with_keys, list_only, mean


@contextlib.contextmanager
def s3_store():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = Settings(
        s3_endpoint=f"http://{host}:{port}",
        s3_bucket="bench",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    )
    store = S3Store(settings)
    store.ensure_bucket()
    try:
        yield store
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--s3-events", type=int, default=30_000)
    ap.add_argument("--memory-events", type=int, default=100_000)
    args = ap.parse_args()
    print(f"flush: {machine()}")
    limits = IngestLimits(queue_max=10**9, dedupe_window=3600)
    tmp = Path(tempfile.mkdtemp(prefix="logdig-bench-flush-"))
    ours, base, s3, s3_base = [], [], [], []
    with redis_server() as server, s3_store() as s3store:
        redis = server.client()
        queue = EventQueue(redis)
        for run in range(args.runs):
            for n, store, out, out_base, label in (
                (args.events, LocalStore(tmp / f"local-{run}"), ours, base, "local"),
                (args.s3_events, s3store, s3, s3_base, "s3"),
            ):
                redis.flushall()
                fill(queue, make_lines(n, f"{label}{run}"), limits)
                b = baseline(redis, n, tmp)
                f = timed_flush(queue, store, n)
                out.append(n / f)
                out_base.append(n / b)
                print(f"  {label:5s} {n} events: flush {n / f:9.0f} events/s   baseline {n / b:9.0f} events/s")
        with_keys, list_only, mean = memory(redis, queue, args.memory_events, limits)
    local, local_base = median(ours), median(base)
    s3_rate, s3_b = median(s3), median(s3_base)
    print(f"flush_local: {local:.0f} events/s vs baseline {local_base:.0f} (target 100000 events/s)")
    print(f"flush_s3:    {s3_rate:.0f} events/s vs baseline {s3_b:.0f} (moto server; no target)")
    print(
        f"memory: {with_keys:.0f} bytes/event with dedupe keys ({with_keys / mean:.2f}x), "
        f"{list_only:.0f} for the list alone ({list_only / mean:.2f}x), mean JSON line {mean:.0f} bytes"
    )
    # Absolute target seen through the baseline: met when ratio >= target_ratio.
    print(bench_line("flush_local", "events_per_s", local, local_base, local / local_base, 100_000 / local_base))
    print(bench_line("flush_s3", "events_per_s", s3_rate, s3_b, s3_rate / s3_b, 0, note="moto"))
    print(
        bench_line(
            "redis_memory",
            "bytes_per_event",
            with_keys,
            mean,
            mean / with_keys,
            1 / 1.3,
            list_only=list_only,
            target="1.3x",
        )
    )


if __name__ == "__main__":
    main()

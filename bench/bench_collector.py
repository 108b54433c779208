"""Collector and flush throughput, each beside a baseline measured in the same run.

    python3 bench/bench_collector.py [--seconds 10] [--batch 20] [--workers 2]

Collector: wrk POSTs batches of events to `logdig web` (gunicorn, real redis-server);
the baseline is `GET /` on the same server (no validation, no Redis), so the ratio
is what validation + the Redis round trip cost per request.
Flush: events flushed per second into a local folder, against the baseline of writing
the same number of bytes as files with no Redis and no grouping.
Needs redis-server and wrk (Debian packages).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402

from logdig.config import Settings  # noqa: E402
from logdig.queue import EventQueue, Sites  # noqa: E402
from logdig.storage import LocalStore  # noqa: E402
from tests.helpers import make_event  # noqa: E402
from worker.flush import Flusher  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int, script: str | None = None) -> float:
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=20, help="events per POST")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--flush-events", type=int, default=50_000)
    args = ap.parse_args()
    for tool in ("redis-server", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install -y {tool}")

    tmp = tempfile.mkdtemp(prefix="logdig-bench-")
    sock = f"{tmp}/redis.sock"
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", sock, "--dir", tmp, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{sock}"
    for _ in range(200):
        try:
            Redis.from_url(url).ping()
            break
        except Exception:
            time.sleep(0.02)
    redis = Redis.from_url(url)
    token = Sites(redis).create("bench").token
    port = free_port()
    env = {**os.environ, "LOGDIG_REDIS_URL": url, "LOGDIG_QUEUE_MAX": "100000000", "LOGDIG_DEDUPE_WINDOW": "60"}
    web = subprocess.Popen(
        ["logdig", "web", "--port", str(port), "--workers", str(args.workers)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1).read()
                break
            except Exception:
                time.sleep(0.1)
        # Each request gets fresh event_ids, so the repeat check does not short-circuit.
        event = json.dumps(make_event(token, event_id="EID"))
        script = Path(tmp, "post.lua")
        script.write_text(
            "local n = 0\nlocal threads = 0\n"
            'setup = function(thread) threads = threads + 1; thread:set("tid", threads) end\n'
            "local event = [[" + event + "]]\n"
            "request = function()\n"
            "  n = n + 1\n"
            "  local parts = {}\n"
            f"  for i = 1, {args.batch} do\n"
            '    parts[i] = event:gsub("EID", string.format("%d-%d-%d", tid, n, i))\n'
            "  end\n"
            '  return wrk.format("POST", "/logs", {["Content-Type"] = "text/plain"}, "[" .. table.concat(parts, ",") .. "]")\n'
            "end\n"
        )
        baseline = wrk(base + "/", args.seconds)
        posts = wrk(base + "/logs", args.seconds, str(script))
        queued = redis.llen("logdig:queue")
        print(f"collector  GET / baseline: {baseline:9.0f} req/s")
        print(
            f"collector  POST /logs x{args.batch}: {posts:9.0f} req/s = {posts * args.batch:9.0f} events/s "
            f"(ratio to baseline {posts / baseline:.2f}); {queued} events queued"
        )
    finally:
        web.terminate()
        web.wait(20)

    # Flush: queue N events, time the flush; baseline writes the same bytes as plain files.
    redis.flushall()
    queue = EventQueue(redis)
    lines = [
        (
            token,
            f"f{i}",
            json.dumps({**make_event(token), "event_id": f"f{i}", "received_at": "2026-11-27T10:00:00.000Z"}),
        )
        for i in range(args.flush_events)
    ]
    for i in range(0, len(lines), 1000):
        queue.push(lines[i : i + 1000], 10**9, 60)
    settings = Settings(batch_max=10_000)
    t0 = time.perf_counter()
    report = Flusher(queue, LocalStore(f"{tmp}/objects"), settings).flush(force=True)
    flush_s = time.perf_counter() - t0
    body = "\n".join(line for _, _, line in lines).encode() + b"\n"
    chunk = len(body) // max(1, len(report.objects))
    t0 = time.perf_counter()
    baseline_store = LocalStore(f"{tmp}/baseline")
    for i in range(len(report.objects)):
        baseline_store.put(f"2026-11-27/{i}.jsonl", body[i * chunk : (i + 1) * chunk])
    base_s = time.perf_counter() - t0
    print(
        f"flush      {report.events} events in {len(report.objects)} objects: {report.events / flush_s:9.0f} events/s "
        f"({flush_s:.2f} s; baseline plain file writes {base_s:.2f} s, ratio {flush_s / base_s:.1f}x)"
    )
    redis_proc.terminate()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

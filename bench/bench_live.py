"""Live: from the collector's 202 to the event being counted in the Live page's JSON.

    python3 bench/bench_live.py [--seconds 25] [--rate 40] [--batch 10] [--poll 0.1]
    python3 bench/bench_live.py --memory 1000     the live keys' memory per token at 1,000 events/s

The e2e benchmark's setup and load (bench_e2e.py): a private redis-server, `logdig web
--workers 2`, `logdig worker` and `logdig scheduler` (LOGDIG_FLUSH_INTERVAL=5), and a
client POSTing --batch events --rate times a second (400 events/s). A second client,
logged in to the dashboard through its real form, GETs /dashboard/api/live?token=T every
--poll seconds, as the Live page's script does (it polls every 5 s; this one faster,
to measure). Request i's events are counted once a poll answered after its 202 shows
events_30m >= the events sent up to and including request i. Latency = that answer's
arrival - the 202; every request's events must be seen.

Target: p99 <= 5 s. Baseline: the Live page's own poll interval (5 s), the longest a
viewer waits for a count that is already there; ratio = 5 / p99, target ratio 1.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import re
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench_e2e import percentile
from common import LOGDIG, bench_line, free_port, machine, process, redis_server, wait_http

from logdig.queue import Sites
from tests.helpers import make_event

TOKEN = "bench-live-token-0000000"
PASSWORD = "a long bench admin password"
TARGET_S = 5.0
PAGE_POLL_S = 5.0  # web/dashboard/live.py POLL_SECONDS


def dashboard_session(base: str) -> urllib.request.OpenerDirector:
    """An opener holding a dashboard session, logged in through the login form."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(base + "/dashboard/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"password": PASSWORD, "csrf_token": csrf}).encode()
    opener.open(base + "/dashboard/login", form).read()
    return opener


class Poller(threading.Thread):
    """GETs the live JSON every `every` seconds; keeps (arrival time, events_30m)."""

    def __init__(self, opener: urllib.request.OpenerDirector, url: str, every: float):
        super().__init__(daemon=True)
        self.opener, self.url, self.every = opener, url, every
        self.seen: list[tuple[float, int]] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            with self.opener.open(self.url) as answer:
                data = json.loads(answer.read())
            self.seen.append((time.monotonic(), data["events_30m"]))
            time.sleep(self.every)


def load(port: int, seconds: float, rate: float, batch: int) -> tuple[list[tuple[float, int]], int]:
    """POST `batch` events `rate` times a second: ([(202 time, events sent so far)], failures)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    nonce = secrets.token_hex(4)
    acked, failures, sent, i = [], 0, 0, 0
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        events = [make_event(TOKEN, event_id=f"{nonce}-{i}-{j}", type="pageview") for j in range(batch)]
        conn.request("POST", "/logs", json.dumps(events), {"Content-Type": "text/plain"})
        response = conn.getresponse()
        response.read()
        if response.status == 202:
            sent += batch
            acked.append((time.monotonic(), sent))
        else:
            failures += 1
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    conn.close()
    return acked, failures


def memory(rate: int, batch: int = 20) -> None:
    """MEMORY USAGE of one token's live keys for one minute at `rate` events/s, and for the
    35 minutes kept: 30% page views over 300 pages, 50 sources, 60 countries, 4,000 users."""
    import random

    from logdig.live import LIVE_TTL, LiveCounts
    from logdig.queue import EventQueue, IngestLimits, live_keys
    from logdig.sources import classify

    rng = random.Random(16)
    pages = [f"https://shop.example/{'/'.join(secrets.token_hex(3) for _ in range(3))}" for _ in range(300)]
    refs = [None] * 20 + [f"https://ref{i}.example/" for i in range(30)]
    limits = IngestLimits(queue_max=10**9, dedupe_window=3600)
    with redis_server() as server:
        redis = server.client()
        queue, now = EventQueue(redis), 1_800_000_000.0
        for r in range(rate * 60 // batch):
            live, lines = {TOKEN: LiveCounts()}, []
            for j in range(batch):
                page, ref = rng.choice(pages), rng.choice(refs)
                kind = "pageview" if rng.random() < 0.3 else "click"
                country = f"{chr(65 + rng.randrange(6))}{chr(65 + rng.randrange(10))}"
                live[TOKEN].add(kind, f"user-{rng.randrange(4000)}", page, classify(page, ref).source, country)
                lines.append((TOKEN, f"{r}-{j}", b"{}"))
            queue.push(lines, limits, now=now + r * batch / rate, live=live)
            if r % 500 == 0:
                redis.delete("logdig:queue")
        used = sum(redis.memory_usage(k) or 0 for k in live_keys(TOKEN, int(now // 60)))
    minutes = LIVE_TTL // 60
    print(f"  live memory at {rate} events/s: {used / 1024:.1f} KiB a minute per token; {minutes} minutes kept:")
    print(f"  {used * minutes / 1024 / 1024:.2f} MiB per token (the hash is capped; the HyperLogLog is at most 12 KiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memory", type=int, metavar="RATE", help="only measure the live keys' memory at RATE events/s")
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--rate", type=float, default=40, help="requests per second")
    ap.add_argument("--batch", type=int, default=10, help="events per request")
    ap.add_argument("--poll", type=float, default=0.1, help="seconds between live JSON requests")
    args = ap.parse_args()
    if args.memory:
        return memory(args.memory)
    print(f"e2e_live: {machine()}")
    data = Path(tempfile.mkdtemp(prefix="logdig-bench-live-"))
    with redis_server() as server:
        Sites(server.client()).create("bench", token=TOKEN)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "LOGDIG_REDIS_URL": server.url,
            "LOGDIG_DATA_DIR": str(data),
            "LOGDIG_FLUSH_INTERVAL": "5",
            "LOGDIG_ANALYZE_INTERVAL": "86400",
            "LOGDIG_RATE_IP": "0",
            "LOGDIG_RATE_TOKEN": "0",
            "LOGDIG_ADMIN_PASSWORD": PASSWORD,
            "LOGDIG_COOKIE_SECURE": "off",
        }
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        with (
            process([*LOGDIG, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env, **quiet),
            process([*LOGDIG, "worker"], env, **quiet),
            process([*LOGDIG, "scheduler"], env, **quiet),
        ):
            wait_http(base + "/readyz")
            time.sleep(1)
            poller = Poller(dashboard_session(base), f"{base}/dashboard/api/live?token={TOKEN}", args.poll)
            poller.start()
            acked, failures = load(port, args.seconds, args.rate, args.batch)
            time.sleep(TARGET_S * 2)
            poller.running = False
            poller.join(10)
    latencies, missing = [], 0
    for at, sent in acked:
        seen = next((t for t, count in poller.seen if t >= at and count >= sent), None)
        if seen is None:
            missing += 1
        else:
            latencies.append(seen - at)
    if failures or missing or not acked:
        raise SystemExit(f"e2e_live: {failures} requests failed, {missing} of {len(acked)} never counted")
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
    print(
        f"  {acked[-1][1]} events in {len(acked)} requests, {len(poller.seen)} live polls: "
        f"p50 {p50:.3f} s  p99 {p99:.3f} s  max {worst:.3f} s (target p99 <= {TARGET_S:g} s)"
    )
    print(bench_line("e2e_live", "p99_s", p99, PAGE_POLL_S, PAGE_POLL_S / max(p99, 1e-3), 1.0, p50_s=p50))


if __name__ == "__main__":
    main()

"""End to end: from the collector's 202 to the event being readable in storage.

    python3 bench/bench_e2e.py [--seconds 25] [--rate 40] [--batch 10] [--interval 5]

Starts the production processes against a private redis-server and a local data
folder: `logdig web --workers 2`, `logdig worker`, `logdig scheduler`, with
LOGDIG_FLUSH_INTERVAL=--interval (5 s, so the bench is quick) and the default
LOGDIG_BATCH_MIN (100). A client thread POSTs --batch events --rate times a second
(400 events/s by default: every interval holds far more than LOGDIG_BATCH_MIN, so
every scheduled flush writes) and notes when each 202 arrived; a watcher polls the
data folder every 20 ms and notes when each event_id first appears in an object.
Latency = appeared - 202. Every event sent must appear.

Target: p99 <= LOGDIG_FLUSH_INTERVAL + 2 s. Baseline: LOGDIG_FLUSH_INTERVAL itself,
the longest an event waits for the next scheduled flush if the flush took no time;
ratio = interval / p99, so the target ratio is interval / (interval + 2).
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import orjson
from common import LOGDIG, bench_line, free_port, machine, process, redis_server, wait_http

from logdig.queue import Sites
from tests.helpers import make_event

TOKEN = "bench-token-000000000000"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Watcher(threading.Thread):
    """Polls the data folder; records when each event_id first became readable."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.root, self.seen, self.files = root, {}, set()
        self.running = True

    def run(self) -> None:
        while self.running:
            for path in self.root.glob("*/*.jsonl"):
                if path.name.startswith(".tmp-") or path in self.files:
                    continue
                now = time.monotonic()
                self.files.add(path)
                for line in path.read_bytes().splitlines():
                    self.seen.setdefault(orjson.loads(line)["event_id"], now)
            time.sleep(0.02)


def load(port: int, seconds: float, rate: float, batch: int, acked: dict[str, float]) -> int:
    """POST `batch` events `rate` times a second; returns the non-202 count."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    nonce = secrets.token_hex(4)
    start = time.monotonic()
    failures = 0
    i = 0
    while time.monotonic() < start + seconds:
        ids = [f"{nonce}-{i}-{j}" for j in range(batch)]
        body = json.dumps([make_event(TOKEN, event_id=e) for e in ids])
        conn.request("POST", "/logs", body, {"Content-Type": "text/plain"})
        response = conn.getresponse()
        response.read()
        done = time.monotonic()
        if response.status == 202:
            for e in ids:
                acked[e] = done
        else:
            failures += 1
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    conn.close()
    return failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--rate", type=float, default=40, help="requests per second")
    ap.add_argument("--batch", type=int, default=10, help="events per request")
    ap.add_argument("--interval", type=int, default=5, help="LOGDIG_FLUSH_INTERVAL")
    args = ap.parse_args()
    print(f"e2e: {machine()}")
    data = Path(tempfile.mkdtemp(prefix="logdig-bench-e2e-"))
    with redis_server() as server:
        Sites(server.client()).create("bench", token=TOKEN)
        port = free_port()
        env = {
            "LOGDIG_REDIS_URL": server.url,
            "LOGDIG_DATA_DIR": str(data),
            "LOGDIG_FLUSH_INTERVAL": str(args.interval),
            "LOGDIG_ANALYZE_INTERVAL": "86400",
            "LOGDIG_RATE_IP": "0",
            "LOGDIG_RATE_TOKEN": "0",
        }
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        with (
            process([*LOGDIG, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env, **quiet),
            process([*LOGDIG, "worker"], env, **quiet),
            process([*LOGDIG, "scheduler"], env, **quiet),
        ):
            wait_http(f"http://127.0.0.1:{port}/readyz")
            time.sleep(1)
            watcher = Watcher(data)
            watcher.start()
            acked: dict[str, float] = {}
            failures = load(port, args.seconds, args.rate, args.batch, acked)
            deadline = time.monotonic() + args.interval * 2 + 10
            while time.monotonic() < deadline and not acked.keys() <= watcher.seen.keys():
                time.sleep(0.1)
            watcher.running = False
    missing = len(acked.keys() - watcher.seen.keys())
    if failures or missing or not acked:
        raise SystemExit(f"e2e: {failures} requests failed, {missing} of {len(acked)} events never appeared")
    latencies = [watcher.seen[e] - t for e, t in acked.items()]
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
    print(
        f"  {len(acked)} events in {len(watcher.files)} objects: p50 {p50:.2f} s  p99 {p99:.2f} s  max {worst:.2f} s "
        f"(flush interval {args.interval} s, target p99 <= {args.interval + 2} s)"
    )
    print(
        bench_line(
            "e2e_latency",
            "p99_s",
            p99,
            args.interval,
            args.interval / p99,
            args.interval / (args.interval + 2),
            p50_s=p50,
            target=f"{args.interval + 2}s",
        )
    )


if __name__ == "__main__":
    main()

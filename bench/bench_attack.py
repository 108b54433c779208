"""A legitimate request's p99 while 24 threads flood the collector with invalid bodies.

    python3 bench/bench_attack.py [--ref REF] [--threads 24] [--requests 200]

The attack from issue 12: 24 threads, each POSTing 960 KB bodies of 1,000 invalid
events over its own keep-alive connection, all from one client IP. Meanwhile a visitor
sends one-event POSTs one after another, each from its own address (so the per-IP limit
never touches it), and we take their p99 latency. The baseline, same run: the same
visitor's p99 with no attack. The figure is baseline / under attack (1 = unhurt).

`logdig web` (gunicorn, 2 workers, 4 threads) runs with the default rate limits and
LOGDIG_PROXY_HOPS=1, so X-Forwarded-For names the client. With --ref, a git ref's
collector is measured the same way first (A, e.g. the code before a fix), then this
checkout (B).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from bench_ab import checkout, collector
from common import ROOT, bench_line, machine, redis_server

from logdig.queue import Sites
from tests.helpers import make_event

TOKEN = "bench-attack-token-0000000"
ATTACKER = "198.51.100.66"
ENV = {"LOGDIG_PROXY_HOPS": "1", "LOGDIG_QUEUE_MAX": "100000000"}


def invalid_body(size: int = 960_000) -> bytes:
    """1,000 events that each fail the schema in several fields, padded to `size` bytes."""
    bad = make_event(TOKEN, x=-1, load_count="many", type="nope", event_id="not valid!")
    events = json.dumps([bad] * 1000).encode()
    return events[:-1] + b" " * max(0, size - len(events)) + b"]"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def visitor(host: str, port: int, requests: int) -> list[float]:
    """`requests` one-event POSTs, one after another, each from its own address: seconds each."""
    times = []
    for i in range(requests):
        body = json.dumps(make_event(TOKEN, event_id=uuid.uuid4().hex))
        headers = {"Content-Type": "text/plain", "X-Forwarded-For": f"203.0.{i // 250}.{i % 250 + 1}"}
        conn = http.client.HTTPConnection(host, port, timeout=120)
        start = time.perf_counter()
        conn.request("POST", "/logs", body, headers)
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        conn.close()
        if response.status != 202:
            raise SystemExit(f"the visitor got {response.status}: the bench is broken")
    return times


def flood(host: str, port: int, body: bytes, stop: threading.Event, answers: Counter) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "text/plain", "X-Forwarded-For": ATTACKER}
    while not stop.is_set():
        try:
            conn.request("POST", "/logs", body, headers)
            response = conn.getresponse()
            response.read()
            answers[response.status] += 1
        except (OSError, http.client.HTTPException):
            answers["error"] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.close()


def measure(tree: Path, redis_url: str, redis, args) -> tuple[float, float, Counter, float]:
    """(p99 unloaded, p99 under attack, the attacker's answers, attack seconds) for one tree."""
    redis.flushall()
    Sites(redis).create("bench", token=TOKEN)
    with collector(tree, redis_url, args.workers, ENV) as base:
        host, port = base.removeprefix("http://").split(":")
        visitor(host, int(port), 20)  # warm
        quiet = p99(visitor(host, int(port), args.requests))
        stop, answers = threading.Event(), Counter()
        body = invalid_body()
        threads = [
            threading.Thread(target=flood, args=(host, int(port), body, stop, answers), daemon=True)
            for _ in range(args.threads)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.warmup)
        loaded = p99(visitor(host, int(port), args.requests))
        stop.set()
        took = time.perf_counter() - started
        for t in threads:
            t.join(120)
    return quiet, loaded, answers, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", help="also measure this git ref's collector first (A)")
    ap.add_argument("--tree", help="also measure the collector in this folder first (A), instead of --ref")
    ap.add_argument("--threads", type=int, default=24)
    ap.add_argument("--requests", type=int, default=200, help="the visitor's requests per phase")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of attack before the visitor starts")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"attack: {args.threads} threads x 960 KB invalid bodies from one IP; {machine()}")
    with redis_server() as server:
        redis = server.client()
        trees = []
        tree = contextlib.nullcontext(args.tree and Path(args.tree))
        with checkout(args.ref) if args.ref else tree as old:
            if old:
                trees.append((args.tree or args.ref, old))
            trees.append(("this checkout", ROOT))
            for name, tree in trees:
                quiet, loaded, answers, took = measure(tree, server.url, redis, args)
                rate = sum(answers.values()) / took
                print(
                    f"  {name}: visitor p99 {1000 * quiet:.1f} ms alone, {1000 * loaded:.1f} ms under attack "
                    f"({loaded / quiet:.1f}x); attacker answers {dict(answers)} ({rate:.0f}/s)"
                )
                label = "attack_p99" if tree == ROOT else "attack_p99_ref"
                print(bench_line(label, "p99_ms", 1000 * loaded, 1000 * quiet, quiet / loaded, 0.1, tree=name))


if __name__ == "__main__":
    main()

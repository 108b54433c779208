"""Ingest A/B: the collector of a git ref (A, the baseline) against this checkout (B), in one run.

    python3 bench/bench_ab.py [--ref HEAD] [--runs 5] [--seconds 2] [--limits on|off]

The ingest_batched (20 events a POST) and ingest_single (one event) loads of
bench_ingest.py, without its p99 sweep: `logdig web` (gunicorn, 2 workers) for each
tree against one private redis-server, wrk runs in pairs, A and B back to back in
alternating order (ABBA), the ratio B/A the median of the pairs' ratios. Use it to show
that a change keeps the fast path as fast as it was.

--limits on (the default) runs both with the rate limits on but out of reach
(LOGDIG_RATE_IP and LOGDIG_RATE_TOKEN 10^9), so the rate-limit work is measured as in
production; --limits off runs them off, as bench_ingest.py does.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench_ingest import BATCH, lua_script, reset
from common import (
    LOAD_ENV,
    ROOT,
    bench_line,
    children,
    free_port,
    machine,
    median,
    need,
    redis_server,
    stop,
    wait_http,
    wrk,
)

from logdig.queue import QUEUE

HIGH_LIMITS = {"LOGDIG_RATE_IP": "1000000000", "LOGDIG_RATE_TOKEN": "1000000000"}


def run_once(base: str, redis, folder: str, batch: int, seconds: float, connections: int):
    """One wrk run after an empty Redis; raises when events answered 202 did not land.
    (Requests wrk gave up on - its 2 s timeout on a loaded host - may land on top.)"""
    reset(redis)
    result = wrk(base + "/logs", seconds, connections, lua_script(folder, batch))
    landed = redis.llen(QUEUE)
    if result.errors or landed < result.requests * batch:
        raise SystemExit(f"{result.errors} errors, {landed} of {result.requests * batch} events queued: broken?")
    return result


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The tree of a git ref, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="logdig-ab-") as folder:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


@contextlib.contextmanager
def collector(tree: Path, redis_url: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    """`logdig web` run from `tree` (its own logdig/ and web/), on a free port."""
    port = free_port()
    cmd = [sys.executable, "-m", "logdig.cli", "web", "--host", "127.0.0.1", "--port", str(port)]
    full = {**os.environ, "LOGDIG_REDIS_URL": redis_url, **env}
    proc = subprocess.Popen([*cmd, "--workers", str(workers)], cwd=tree, env=full, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/", proc=proc)
        deadline = time.monotonic() + 20
        while len(children(proc.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        yield base
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="HEAD", help="the baseline (A): a git ref of this repository")
    ap.add_argument("--tree", help="the baseline (A): a folder holding another checkout (instead of --ref)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limits", choices=["on", "off"], default="on")
    args = ap.parse_args()
    need("wrk")
    env = {**LOAD_ENV, **(HIGH_LIMITS if args.limits == "on" else {})}
    print(f"ingest A/B: A={args.tree or args.ref} B=this checkout, limits {args.limits}; {machine()}")
    folder = tempfile.mkdtemp(prefix="logdig-bench-ab-")
    with (
        checkout(args.ref) if not args.tree else contextlib.nullcontext(Path(args.tree)) as old,
        redis_server() as server,
        collector(old, server.url, args.workers, env) as a,
        collector(ROOT, server.url, args.workers, env) as b,
    ):
        redis = server.client()
        for base in (a, b):  # warm: imports, caches, pools
            run_once(base, redis, folder, BATCH, 1, args.connections)
        rates: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
        ratios: dict[int, list[float]] = collections.defaultdict(list)
        for i in range(args.runs):
            for batch in (BATCH, 1):
                order = [("A", a), ("B", b)] if i % 2 == 0 else [("B", b), ("A", a)]
                pair = {}
                for name, base in order:
                    r = run_once(base, redis, folder, batch, args.seconds, args.connections)
                    pair[name] = r.rps * batch
                    rates[name, batch].append(pair[name])
                    print(
                        f"  {name} x{batch:<2d}: {r.rps:8.0f} req/s = {r.rps * batch:8.0f} events/s  p99 {r.p99_ms:.2f} ms"
                    )
                ratios[batch].append(pair["B"] / pair["A"])
    for batch, name, metric in ((BATCH, "ingest_ab_batched", "events_per_s"), (1, "ingest_ab_single", "req_per_s")):
        ratio = median(ratios[batch])
        b_rate, a_rate = median(rates["B", batch]), median(rates["A", batch])  # events/s (= req/s for x1)
        print(f"  x{batch:<2d} pair ratios B/A: {' '.join(f'{x:.3f}' for x in ratios[batch])}; median {ratio:.3f}")
        print(bench_line(name, metric, b_rate, a_rate, ratio, 0.95, a=args.tree or args.ref, limits=args.limits))


if __name__ == "__main__":
    main()

"""Ingest A/B in CPU time: what one request costs the collector's Python and Redis, A vs B.

    python3 bench/bench_ab_cpu.py [--ref HEAD | --tree DIR] [--rounds 3]

bench_ab.py measures throughput with wrk; on a shared 2-core host its pairs move
0.5x-2x between seconds, so a change of a few percent cannot show. This one takes the
noise out instead of averaging it: each tree's collector runs in its own process
(Flask's test client, no HTTP server, so the process's CPU time is the request's),
against one private redis-server, 16 batches of 200 requests (20 events a POST, then
one); the figure is the *minimum* over batches (the batch least disturbed by
neighbours) of the process CPU per request and of Redis's own time per ingest script
call (INFO commandstats, evalsha usec_per_call). A and B alternate, --rounds times; the
minimum over rounds is kept. Ratio = A / B (1 = the same cost; target >= 1/1.1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from bench_ab import checkout
from common import ROOT, bench_line, machine, redis_server

# Runs inside each tree (cwd): prints {"python": us/request, "redis": us/call}.
CHILD = r"""
import json, os, sys, time, uuid
sys.path.insert(0, os.getcwd())
from redis import Redis
from logdig.config import Settings
from logdig.queue import QUEUE, Sites
from web import create_app
sys.path.insert(1, os.environ["BENCH_ROOT"])
from tests.helpers import make_event
url, batch, n = os.environ["REDIS_URL"], int(sys.argv[1]), 200
redis = Redis.from_url(url)
redis.flushall()
token = Sites(redis).create("bench").token
app = create_app(Settings(redis_url=url, rate_ip=10**9, rate_token=10**9), redis=Redis.from_url(url))
client = app.test_client()
bodies = [json.dumps([make_event(token, event_id=uuid.uuid4().hex) for _ in range(batch)]) for _ in range(n * 17)]
cpu, script = [], []
for k in range(17):
    redis.config_resetstat()
    redis.delete(QUEUE)
    start = time.process_time()
    for body in bodies[k * n : (k + 1) * n]:
        assert client.post("/logs", data=body, content_type="text/plain").status_code == 202
    if k:  # the first batch warms up
        cpu.append((time.process_time() - start) / n * 1e6)
        script.append(float(redis.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]))
print(json.dumps({"python": min(cpu), "redis": min(script)}))
"""


def run(tree: Path, redis_url: str, batch: int) -> dict[str, float]:
    env = {**os.environ, "REDIS_URL": redis_url, "BENCH_ROOT": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(batch)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="HEAD", help="the baseline (A): a git ref of this repository")
    ap.add_argument("--tree", help="the baseline (A): a folder holding another checkout (instead of --ref)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"ingest CPU A/B: A={args.tree or args.ref} B=this checkout; {machine()}")
    best: dict[tuple[str, int], dict[str, float]] = {}
    with (
        checkout(args.ref) if not args.tree else contextlib.nullcontext(Path(args.tree)) as old,
        redis_server() as server,
    ):
        for _ in range(args.rounds):
            for name, tree in (("A", old), ("B", ROOT)):
                for batch in (20, 1):
                    got = run(tree, server.url, batch)
                    print(
                        f"  {name} x{batch:<2}: python {got['python']:5.0f} us/request  redis {got['redis']:5.1f} us/call"
                    )
                    seen = best.setdefault((name, batch), got)
                    best[(name, batch)] = {k: min(v, seen[k]) for k, v in got.items()}
    for batch, label in ((20, "batched"), (1, "single")):
        a, b = best[("A", batch)], best[("B", batch)]
        a_total, b_total = a["python"] + a["redis"], b["python"] + b["redis"]
        print(
            f"  x{batch}: python {a['python']:.0f} -> {b['python']:.0f} us ({b['python'] / a['python'] - 1:+.1%}), "
            f"redis {a['redis']:.1f} -> {b['redis']:.1f} us ({b['redis'] / a['redis'] - 1:+.1%})"
        )
        print(
            bench_line(
                f"ingest_ab_cpu_{label}",
                "us_per_request",
                b_total,
                a_total,
                a_total / b_total,
                1 / 1.1,
                python_us=b["python"],
                redis_us=b["redis"],
            )
        )


if __name__ == "__main__":
    main()

"""Slow clients against the collector: other clients' p99 under the attack vs unloaded.

    python3 bench/bench_slowloris.py                     # logdig web alone, then behind nginx
    python3 bench/bench_slowloris.py --target direct     # `logdig web --workers 2` alone
    python3 bench/bench_slowloris.py --target nginx      # nginx (deploy/nginx template) in front

The attack (issue 12, item 5): `--sockets` connections (16) send `POST /logs` headers
with `Content-Length: 100000`, then one byte every `--interval` seconds (5); a connection
the server answers or closes is opened again at once. Meanwhile two other clients, one at
a time each, ask `GET /healthz` and send a valid one-event `POST /logs`. Their p99 over
`--seconds` under attack is printed beside their p99 unloaded (same run, same server),
as `ratio = unloaded / under attack` (1.0: the attack costs them nothing). A request that
gets no answer within `--timeout` counts as `--timeout` (`timeouts=` says how many).
The target is the issue's: answered within 1 s under attack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import LOAD_ENV, bench_line, gunicorn, machine, need, redis_server  # noqa: E402
from tests.helpers import make_event  # noqa: E402
from tests.security.nginx import SlowClients, nginx  # noqa: E402


class Probes:
    """Two well-behaved clients, each one request at a time: /healthz and POST /logs."""

    def __init__(self, base: str, token: str, timeout: float, context: ssl.SSLContext | None):
        self.base, self.token, self.timeout, self.context = base, token, timeout, context
        self.latencies: list[float] = []
        self.timeouts = 0
        self.failures: list[str] = []
        self._stop = threading.Event()

    def _one(self, kind: str) -> None:
        if kind == "healthz":
            request = urllib.request.Request(self.base + "/healthz")
        else:
            body = json.dumps([make_event(self.token)]).encode()
            request = urllib.request.Request(
                self.base + "/logs", data=body, method="POST", headers={"Content-Type": "text/plain"}
            )
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as r:
                r.read()
                ok = r.status in (200, 202)
        except urllib.error.HTTPError as e:
            ok = False
            self.failures.append(f"{kind}: {e.code}")
        except OSError:
            ok = None  # no answer in time (or the connection dropped)
        took = time.monotonic() - start
        if ok is None:
            self.timeouts += 1
            took = max(took, self.timeout)
        self.latencies.append(took)

    def _loop(self, kind: str) -> None:
        while not self._stop.is_set():
            self._one(kind)

    def run(self, seconds: float) -> None:
        threads = [threading.Thread(target=self._loop, args=(k,), daemon=True) for k in ("healthz", "logs")]
        for t in threads:
            t.start()
        time.sleep(seconds)
        self._stop.set()
        for t in threads:
            t.join(self.timeout + 5)

    def p99(self) -> float:
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(0.99 * len(values)))] if values else float("nan")


def measure(name: str, base: str, port: int, token: str, args, context: ssl.SSLContext | None) -> str:
    calm = Probes(base, token, args.timeout, context)
    calm.run(args.calm)
    attacked = Probes(base, token, args.timeout, context)
    host = "127.0.0.1"
    with SlowClients(host, port, args.sockets, args.interval, tls=context is not None) as attack:
        attacked.run(args.seconds)
    if calm.failures or attacked.failures:
        raise SystemExit(f"{name}: requests failed: {(calm.failures + attacked.failures)[:5]}")
    unloaded, under = calm.p99() * 1000, attacked.p99() * 1000
    return bench_line(
        f"slowloris_{name}",
        "p99_attack_ms",
        under,
        unloaded,
        unloaded / under,
        unloaded / 1000,
        target="1000ms",
        requests=len(attacked.latencies),
        timeouts=attacked.timeouts,
        max_ms=max(attacked.latencies) * 1000,
        slow_reconnects=attack.opened - args.sockets,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=("direct", "nginx", "both"), default="both")
    ap.add_argument("--sockets", type=int, default=16)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between a slow client's bytes")
    ap.add_argument("--seconds", type=float, default=60.0, help="probing time under attack")
    ap.add_argument("--calm", type=float, default=5.0, help="probing time before the attack")
    ap.add_argument("--timeout", type=float, default=180.0, help="a probe's longest wait")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    need("redis-server", "openssl")
    print(machine(), flush=True)

    from logdig.queue import Sites

    lines = []
    with redis_server() as redis:
        token = Sites(redis.client()).create("bench").token
        with gunicorn("logdig", redis.url, args.workers, env=LOAD_ENV) as (base, _pid):
            port = int(base.rsplit(":", 1)[1])
            if args.target in ("direct", "both"):
                lines.append(measure("direct", base, port, token, args, None))
                print(lines[-1], flush=True)
        # A fresh server: the direct run may have left threads stuck on slow bodies.
        env = {**LOAD_ENV, "LOGDIG_PROXY_HOPS": "1"}
        if args.target in ("nginx", "both"):
            with (
                gunicorn("logdig", redis.url, args.workers, env=env) as (base, _pid),
                nginx(base.removeprefix("http://")) as proxy,
            ):
                lines.append(measure("nginx", proxy.url, proxy.https_port, token, args, proxy.tls()))
                print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()

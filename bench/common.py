"""What every benchmark shares: private servers, gunicorn, wrk, medians, the BENCH line.

Nothing here is product code: the benchmarks start the product the way an operator
does (`logdig web`, `logdig worker`, `logdig scheduler`) against a private redis-server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `logdig` run from this checkout (processes start in ROOT): the code measured is the code
# here, whatever `logdig` on PATH points at, or without one.
LOGDIG = [sys.executable, "-m", "logdig.cli"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from tests.helpers import private_redis  # noqa: E402

# The settings every load test runs with: no rate limits (one client IP sends
# everything) and a queue cap the test never reaches.
LOAD_ENV = {
    "LOGDIG_RATE_IP": "0",
    "LOGDIG_RATE_TOKEN": "0",
    "LOGDIG_QUEUE_MAX": "100000000",
}


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        sys.exit(f"missing: {' '.join(missing)} (Debian: apt-get install -y {' '.join(missing)})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def bench_line(
    name: str, metric: str, value: float, baseline: float, ratio: float, target_ratio: float, **extra
) -> str:
    """The one summary line: figure, same-run baseline, ratio (higher is better), target."""

    def fmt(v: float) -> str:
        if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 100):
            return str(int(v))
        return f"{v:.4g}" if abs(v) < 100 else f"{v:.0f}"

    parts = [f"BENCH {name}", f"{metric}={fmt(value)}", f"baseline={fmt(baseline)}", f"ratio={ratio:.3f}"]
    parts.append(f"target_ratio={target_ratio:.3g}")
    parts += [f"{k}={fmt(v) if isinstance(v, (int, float)) else v}" for k, v in extra.items()]
    return " ".join(parts)


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return f"nproc={os.cpu_count()} cpu={model!r} load1={load:.2f}"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Direct child processes of pid (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


# -- redis-server -----------------------------------------------------------------------


# The same private redis-server the tests use.
redis_server = private_redis


# -- processes --------------------------------------------------------------------------


def wait_http(url: str, timeout: float = 30, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except Exception:
            if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str], **kw) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, **kw)
    try:
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def gunicorn(kind: str, redis_url: str, workers: int, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """`logdig web` (kind="logdig") or the null collector (kind="null") on a free port,
    with the same gunicorn settings. Yields (base URL, master pid)."""
    port = free_port()
    if kind == "logdig":
        cmd = [*LOGDIG, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    else:
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "null_collector.py"),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    full_env = {**LOAD_ENV, "LOGDIG_REDIS_URL": redis_url, **(env or {})}
    with process(cmd, full_env, stderr=subprocess.DEVNULL) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/", proc=proc)
        # Every worker has answered once it has booted; give the last ones a moment.
        deadline = time.monotonic() + 20
        while len(children(proc.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        yield base, proc.pid


# -- wrk --------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def wrk(url: str, seconds: float, connections: int, script: str, threads: int = 2) -> WrkResult:
    need("wrk")
    threads = max(1, min(threads, connections))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        script,
    ]
    done = subprocess.run([*cmd, url], capture_output=True, text=True)
    out = done.stdout
    if done.returncode or "requests in" not in out or not re.search(r"99%\s+\S+", out):
        raise RuntimeError(f"wrk failed ({done.returncode}): {out}{done.stderr}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return WrkResult(requests, rps, p50, p99, errors)

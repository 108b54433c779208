"""The real LogDig stack as separate processes, for the fault suite and the soak.

- `redis-server` with AOF (`appendfsync always` unless told otherwise), on a TCP port,
  restartable on the same port and directory;
- the S3 API server (moto in server mode, its own process) behind `proxy.Proxy`, which
  can go down and come back without losing moto's in-memory objects;
- the compose services' commands: `logdig web` (gunicorn), `logdig worker` (rq worker),
  `logdig scheduler` (rq cron), and `logdig flush` runs.

Every child runs in its own session (process group), so stopping one also stops what it
forked (gunicorn's workers, rq's work-horses); `Stack.close()` stops all of them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from logdig.config import Settings
from logdig.queue import INFLIGHT, QUEUE, Sites
from logdig.storage import RAW_KEY, open_store

ROOT = Path(__file__).resolve().parents[2]
LOGDIG = [sys.executable, "-m", "logdig.cli"]  # the `logdig` command of this interpreter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float = 30.0, what: str = "condition", every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Proc:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name, self.argv, self.log_path = name, argv, log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process, its group and its descendants: rq's work-horse puts
        itself in a process group of its own (os.setpgrp), so the group is not enough."""
        doomed = descendants(self.pid)
        self.signal(signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait(10)

    def child_pids(self) -> list[int]:
        return children(self.pid)

    def kill_children(self) -> None:
        for pid in descendants(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()  # also whatever is left in the group

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ProcessLookupError(pid)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class RedisServer:
    def __init__(self, tmp: Path, fsync: str = "always"):
        self.dir = tmp / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.fsync = fsync
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        argv += ["--appendonly", "yes", "--appendfsync", self.fsync, "--save", ""]
        self.proc = Proc("redis", argv, dict(os.environ), self.dir.parent / "redis.log")
        self.starts += 1
        wait_for(self._ping, 20, "redis-server to load its AOF and answer")

    def _ping(self) -> bool:
        try:
            with Redis.from_url(self.url, socket_connect_timeout=1) as r:
                return bool(r.ping())
        except Exception:
            assert self.proc is not None and self.proc.alive(), "redis-server exited"
            return False

    def crash(self) -> None:
        """SIGKILL: no shutdown, no final AOF rewrite; only what was fsynced survives."""
        assert self.proc is not None
        self.proc.kill()

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=10)


@dataclass
class Stored:
    ids: Counter
    objects: int
    lines: int
    bad_names: list[str] = field(default_factory=list)  # names that are not the SHA-256 of the bytes


class Stack:
    """The stack for one test. Use as a context manager; everything stops on exit."""

    def __init__(self, tmp: Path, *, redis_fsync: str = "always", **settings: str | int):
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.redis: RedisServer | None = None
        self.proxy = None
        self.moto: Proc | None = None
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.scheduler: Proc | None = None
        self._counts: Counter = Counter()
        try:
            self._start(redis_fsync, settings)
        except BaseException:
            self.close()
            raise

    def _start(self, redis_fsync: str, settings: dict) -> None:
        from tests.fault.proxy import Proxy

        self.redis = RedisServer(self.tmp, redis_fsync)
        moto_port = free_port()
        moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)]
        self.moto = self._spawn("moto", moto, dict(os.environ))
        wait_for(lambda: self._answers(moto_port), 30, "the S3 server")
        self.proxy = Proxy(("127.0.0.1", moto_port))
        self.direct_s3 = f"http://127.0.0.1:{moto_port}"
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "LOGDIG_REDIS_URL": self.redis.url,
            "LOGDIG_S3_ENDPOINT": self.proxy.url,  # LogDig reaches S3 only through the proxy
            "LOGDIG_S3_BUCKET": "logdig",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
            "LOGDIG_ADMIN_PASSWORD": "fault-suite-pw",
            "LOGDIG_BATCH_MIN": "100",
            "LOGDIG_BATCH_MAX": "500",
            "LOGDIG_FLUSH_INTERVAL": "1",
            "LOGDIG_MAX_WAIT": "2",
            "LOGDIG_RATE_IP": "0",
            "LOGDIG_RATE_TOKEN": "0",
            "LOGDIG_ANALYZE_INTERVAL": "86400",
        }
        self.env.pop("LOGDIG_TEST_FAILPOINT", None)
        self.env.update({k: str(v) for k, v in settings.items()})
        self.settings = Settings.from_env(self.env)
        open_store(self.settings.replace(s3_endpoint=self.direct_s3)).ensure_bucket()
        self.token = Sites(self.redis.client()).create("fault-suite").token

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            return http_get(port, "/")[0] < 500
        except OSError:
            return False

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        self._counts[name] += 1
        proc = Proc(name, argv, env if env is not None else self.env, self.tmp / f"{name}-{self._counts[name]}.log")
        self.procs.append(proc)
        return proc

    # -- the services ----------------------------------------------------------------

    def start_web(self, workers: int = 2) -> Proc:
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        argv = [*LOGDIG, "web", "--host", "127.0.0.1", "--port", str(self.web_port), "--workers", str(workers)]
        self.web = self._spawn("web", argv)
        wait_for(lambda: self._web_ready(workers), 30, "gunicorn and its workers")
        return self.web

    def _web_ready(self, workers: int) -> bool:
        assert self.web is not None and self.web.alive(), f"gunicorn exited:\n{self.web.log()[-3000:]}"
        return self._answers(self.web_port) and len(children(self.web.pid)) >= workers

    def web_workers(self) -> list[int]:
        assert self.web is not None
        return children(self.web.pid)

    def start_worker(self, failpoint: str | None = None) -> Proc:
        env = {**self.env, "LOGDIG_TEST_FAILPOINT": failpoint} if failpoint else None
        worker = self._spawn("worker", [*LOGDIG, "worker"], env)
        self.workers.append(worker)
        return worker

    def start_scheduler(self) -> Proc:
        self.scheduler = self._spawn("scheduler", [*LOGDIG, "scheduler"])
        return self.scheduler

    def flush(self, force: bool = True, failpoint: str | None = None, timeout: float = 120):
        env = {**self.env, "LOGDIG_TEST_FAILPOINT": failpoint} if failpoint else self.env
        argv = [*LOGDIG, "flush", *(["--force"] if force else [])]
        return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def final_flush(self) -> None:
        """Flush until nothing is queued or in flight (the flush is bounded per run)."""
        r = self.redis_client()
        try:
            for _ in range(20):
                done = self.flush(force=True)
                assert done.returncode == 0, f"logdig flush failed:\n{done.stdout}\n{done.stderr}"
                if r.llen(QUEUE) == 0 and r.llen(INFLIGHT) == 0:
                    return
            raise AssertionError(f"queue not empty after 20 flushes: {r.llen(QUEUE)} queued")
        finally:
            r.close()

    # -- observation -----------------------------------------------------------------

    def redis_client(self) -> Redis:
        assert self.redis is not None
        return self.redis.client()

    def queue_state(self) -> tuple[int, int]:
        r = self.redis_client()
        try:
            return r.llen(QUEUE), r.llen(INFLIGHT)
        finally:
            r.close()

    def metrics(self) -> dict[str, float]:
        status, _, body = http_get(self.web_port, "/metrics")
        assert status == 200, status
        return parse_metrics(body.decode())

    def stored(self) -> Stored:
        """Every raw object, read straight from moto (not through the proxy)."""
        import hashlib

        store = open_store(self.settings.replace(s3_endpoint=self.direct_s3))
        ids: Counter = Counter()
        objects = lines = 0
        bad = []
        for key in store.list():
            match = RAW_KEY.match(key)
            if not match:
                continue
            body = store.get(key)
            objects += 1
            if hashlib.sha256(body).hexdigest() != match.group(2):
                bad.append(key)
            for line in body.splitlines():
                lines += 1
                ids[json.loads(line)["event_id"]] += 1
        return Stored(ids, objects, lines, bad)

    def dashboard_health(self, timeout: float = 10) -> tuple[int, str]:
        """Log into the dashboard (its session cookie is Secure, so it is carried by hand
        over plain HTTP) and fetch the pipeline health page."""
        from urllib.parse import urlencode

        status, headers, body = http_get(self.web_port, "/dashboard/login")
        cookie = headers.get("Set-Cookie", "").split(";", 1)[0]
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        assert status == 200 and cookie and csrf, (status, headers)
        form = urlencode({"csrf_token": csrf.group(1).decode(), "password": self.env["LOGDIG_ADMIN_PASSWORD"]})
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=10)
        try:
            conn.request(
                "POST", "/dashboard/login", form,
                {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
            )  # fmt: skip
            response = conn.getresponse()
            response.read()
            assert response.status == 302, response.status
            cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
        finally:
            conn.close()
        status, _, body = http_get(self.web_port, "/dashboard/health", {"Cookie": cookie}, timeout)
        return status, body.decode(errors="replace")

    def close(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):  # keep stopping the others
                proc.stop(timeout=10)
        if self.redis is not None and self.redis.proc is not None:
            self.redis.proc.stop(timeout=10)
        if self.proxy is not None:
            self.proxy.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

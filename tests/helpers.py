"""Small helpers shared by the tests: events, HTTP posts, reading objects back."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from redis import Redis

from logdig.storage import RAW_KEY, ObjectStore

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def make_event(token: str, **fields: Any) -> dict[str, Any]:
    """The minimum a client must send (the original ten, event_id, type), plus overrides."""
    event = {
        "timestamp": "2026-11-27T10:00:00.000Z",
        "token": token,
        "user_key": "tR2VQSYNNXJwbBQLijmR",
        "current_page": "http://site.example/index.html",
        "link": "http://site.example/page.html",
        "x": 110,
        "y": 400,
        "spent_milli_sec": 1120,
        "user_agent": UA,
        "load_count": 2,
        "event_id": uuid.uuid4().hex,
        "type": "click",
    }
    event.update(fields)
    return event


def post(url: str, body: bytes | str | Any, content_type: str = "text/plain", headers: dict | None = None):
    """POST and return (status, headers, parsed JSON body)."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")


def raw_objects(store: ObjectStore) -> dict[str, bytes]:
    """Every raw event object in the store, by key."""
    return {key: store.get(key) for key in store.list() if RAW_KEY.match(key)}


def stored_events(store: ObjectStore) -> list[dict[str, Any]]:
    return [json.loads(line) for body in raw_objects(store).values() for line in body.splitlines()]


class StaticSite:
    """A customer's site on its own origin, for the browser tests. Subclasses answer
    `route(path)` with (body, content type), or None for a 404."""

    def __init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                found = site.route(urlsplit(self.path).path)
                body, content_type, status = (*found, 200) if found else (b"not found", "text/plain", 404)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, path: str) -> tuple[bytes, str] | None:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class RedisServer:
    proc: subprocess.Popen
    url: str
    sock: str
    dir: str

    def client(self) -> Redis:
        return Redis.from_url(self.url)


@contextlib.contextmanager
def private_redis(maxmemory: str | None = None) -> Iterator[RedisServer]:
    """A private redis-server on a unix socket in a temp folder, no persistence: starts
    in milliseconds with no port race. Used by the tests and the benchmarks."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
    tmp = tempfile.mkdtemp(prefix="logdig-redis-")
    sock = os.path.join(tmp, "redis.sock")
    cmd = ["redis-server", "--port", "0", "--unixsocket", sock, "--dir", tmp, "--save", "", "--appendonly", "no"]
    if maxmemory:
        cmd += ["--maxmemory", maxmemory]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"unix://{sock}"
    deadline = time.monotonic() + 10
    while True:
        try:
            Redis.from_url(url).ping()
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.02)
    try:
        yield RedisServer(proc, url, sock, tmp)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


# Playwright drives the system Chromium (never `playwright install`); these flags keep it
# quiet and sandbox-free in containers.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def system_chromium(executable: str | None = None) -> Iterator[Any]:
    """A Playwright browser on the system Chromium, with a throwaway HOME and XDG folders
    so it writes nothing to the user's own."""
    from playwright.sync_api import sync_playwright

    home = tempfile.mkdtemp(prefix="logdig-chromium-")
    env = {
        **os.environ,
        "HOME": home,
        **{k: f"{home}/{k.lower()}" for k in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")},
    }
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=executable or shutil.which("chromium"), args=CHROMIUM_ARGS, env=env
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)

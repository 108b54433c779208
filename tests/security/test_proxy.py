"""Issue 12, item 5: a few clients sending a body one byte at a time held every gunicorn
thread, so /healthz and everyone else's POST /logs waited for minutes.

The fix is the one real deployments use: nginx in front (deploy/nginx/logdig.conf.template,
the `proxy` service in docker-compose.yml) reads each body whole before web sees it, and
`logdig web` alone gives a body a deadline. These tests run Debian's real nginx with the
same template, rendered as the nginx image renders it, in front of a real `logdig web`
(gunicorn) and a private redis-server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from redis import Redis

from logdig.queue import EventQueue, Sites
from tests.helpers import make_event
from tests.security.nginx import (
    TEMPLATE,
    SlowClients,
    envsubst,
    free_port,
    nginx,
    proxy_environment,
    template_variables,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Web:
    url: str
    port: int
    token: str
    redis: Redis


@contextlib.contextmanager
def start_web(redis_url: str, redis: Redis, workers: int = 2, **env: str) -> Iterator[Web]:
    port = free_port()
    full_env = {**os.environ, "LOGDIG_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **env}
    cmd = [sys.executable, "-m", "logdig.cli", "web", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--workers", str(workers)], env=full_env, cwd=ROOT, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "logdig web did not start"
                time.sleep(0.1)
        yield Web(url, port, Sites(redis).create("site").token, redis)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def web(redis_server: str, redis: Redis) -> Iterator[Web]:
    """`logdig web --workers 2` as compose runs it behind the proxy (LOGDIG_PROXY_HOPS=1).
    Without the per-IP limit: every request here comes from 127.0.0.1, and on a fast machine
    the slow-client test's loop sends more than LOGDIG_RATE_IP's 1,200 a minute in its 8 s."""
    env = {"LOGDIG_PROXY_HOPS": "1", "LOGDIG_STORE_IP": "truncated", "LOGDIG_RATE_IP": "0"}
    with start_web(redis_server, redis, **env) as server:
        yield server


@pytest.fixture
def proxy(web: Web):
    with nginx(f"127.0.0.1:{web.port}") as server:
        yield server


def fetch(url: str, body: bytes | None = None, headers: dict | None = None, context=None, timeout: float = 10):
    """(status, headers, body) for one request; an HTTP error is an answer too."""
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    for name, value in {"Content-Type": "text/plain", **(headers or {})}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def timed(call) -> tuple[float, tuple]:
    start = time.monotonic()
    result = call()
    return time.monotonic() - start, result


def test_the_compose_template_renders_as_the_image_does_and_nginx_accepts_it(tmp_path):
    text = TEMPLATE.read_text()
    env = proxy_environment("web:8000", tmp_path / "c.pem", tmp_path / "k.pem", 80, 443)
    # Every ${NAME} the template expects, compose's proxy service sets.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["proxy"]
    assert template_variables(text) <= set(compose["environment"])
    rendered = envsubst(text, env)
    assert "${" not in rendered
    # nginx's own variables survive: none of them is a name the container's environment sets.
    for variable in ("$host", "$request_uri", "$proxy_add_x_forwarded_for", "$scheme", "$http_origin"):
        assert variable in rendered
    # The same as GNU envsubst given the image's "$defined_envs" (when it is installed).
    if shutil.which("envsubst"):
        defined = " ".join(f"${{{name}}}" for name in env)
        done = subprocess.run(["envsubst", defined], input=text, env=env, capture_output=True, text=True, check=True)
        assert done.stdout == rendered
    assert compose["volumes"][0].endswith(":/etc/nginx/templates/default.conf.template:ro")
    assert compose["volumes"][0].startswith("./deploy/nginx/logdig.conf.template:")


def test_slow_clients_do_not_starve_others_behind_nginx(web: Web, proxy):
    tls = proxy.tls()
    event = json.dumps([make_event(web.token)]).encode()
    with SlowClients("127.0.0.1", proxy.https_port, sockets=16, interval=1.0, tls=True) as attack:
        worst = 0.0
        end = time.monotonic() + 8
        while time.monotonic() < end:
            took, (status, _, _) = timed(lambda: fetch(proxy.url + "/healthz", context=tls))
            assert status == 200
            worst = max(worst, took)
            took, (status, _, body) = timed(lambda: fetch(proxy.url + "/logs", event, context=tls))
            assert status == 202, body
            worst = max(worst, took)
        # The slow clients are still connected to nginx (none was answered): they were
        # waited for cheaply there, not in gunicorn's threads.
        assert attack.opened == 16 and not attack.answers
    assert worst < 1.0, f"a request took {worst:.2f} s during the attack"


# Without the proxy, one worker (4 threads) and 8 slow clients: twice as many clients as
# threads, as 16 are for the 2 workers above. (One worker, so that no worker still booting
# while the attack starts is left free for the probe.)


def test_the_same_attack_without_nginx_starves_web_for_longer_than_a_second(redis_server, redis):
    # The control for the test above: without the proxy the attack does bite.
    with (
        start_web(redis_server, redis, workers=1) as server,
        SlowClients("127.0.0.1", server.port, sockets=8, interval=1.0),
        pytest.raises(OSError),  # no answer within 3 s
    ):
        fetch(server.url + "/healthz", timeout=3)


def test_logdig_web_alone_cuts_a_slow_body_within_seconds(redis_server, redis):
    # Without the proxy a slow body used to hold its thread as long as the client liked;
    # now it has a deadline (web/serve.py): 408, connection closed, thread free.
    with start_web(redis_server, redis, workers=1) as server:
        with SlowClients("127.0.0.1", server.port, sockets=8, interval=1.0) as attack:
            took, (status, _, _) = timed(lambda: fetch(server.url + "/healthz", timeout=60))
            assert status == 200
            deadline = time.monotonic() + 30
            while len(attack.answers) < 8 and time.monotonic() < deadline:
                time.sleep(0.5)
        assert took < 30, f"/healthz waited {took:.1f} s behind slow bodies"
        assert len(attack.answers) >= 8, "slow bodies still hold their threads after 30 s"
        assert all(a.startswith(b"HTTP/1.1 408") for a in attack.answers), attack.answers[:3]
        assert b'"field":"body"' in attack.answers[0].replace(b" ", b"")
        assert max(attack.cut_after) < 25


def test_x_forwarded_for_gives_the_real_client_ip_through_one_hop(web: Web, proxy):
    # The client lies in its own X-Forwarded-For; nginx appends the address it saw, and
    # web (LOGDIG_PROXY_HOPS=1) trusts only that last one.
    event = make_event(web.token)
    headers = {"X-Forwarded-For": "203.0.113.9"}
    status, _, body = fetch(proxy.url + "/logs", json.dumps(event).encode(), headers, context=proxy.tls())
    assert status == 202, body
    (line,) = EventQueue(web.redis).reserve(10)
    stored = json.loads(line)
    assert stored["event_id"] == event["event_id"]
    assert stored["ip"] == "127.0.0.0"  # 127.0.0.1 truncated (LOGDIG_STORE_IP=truncated)


def test_oversize_bodies_get_the_collectors_json_413_at_the_proxy(web: Web, proxy):
    body = b"[" + b" " * (1024 * 1024) + b"]"
    headers = {"Origin": "https://shop.example"}
    status, got, raw = fetch(proxy.url + "/logs", body, headers, context=proxy.tls())
    assert status == 413
    assert got["Content-Type"] == "application/json"
    assert json.loads(raw) == {"error": "larger than 1048576 bytes", "field": "body", "status": 413}
    # The tracker can read the status, and drops the batch instead of retrying it forever.
    assert got["Access-Control-Allow-Origin"] == "https://shop.example"
    # One byte under the limit still goes through to the collector (its 400: not JSON).
    status, _, raw = fetch(proxy.url + "/logs", b"x" * (1024 * 1024), context=proxy.tls())
    assert status == 400 and json.loads(raw)["field"] == "body"


def test_metrics_are_not_served_to_the_world(web: Web, proxy):
    """Found from outside: /metrics (traffic volume, rejections) was public through the proxy."""
    status, _, raw = fetch(proxy.url + "/metrics", context=proxy.tls())
    assert status == 404 and json.loads(raw)["status"] == 404
    assert fetch(web.url + "/metrics")[0] == 200  # the scraper reads web itself


def test_http_redirects_to_https_and_tls_answers(web: Web, proxy):
    sock = socket.create_connection(("127.0.0.1", proxy.http_port), timeout=5)
    with sock:
        sock.sendall(b"GET /healthz?x=1 HTTP/1.1\r\nHost: collector.example\r\nConnection: close\r\n\r\n")
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 301")
    assert "Location: https://collector.example/healthz?x=1\r\n" in head
    status, headers, body = fetch(proxy.url + "/", context=proxy.tls())
    assert (status, body) == (200, b"Success")
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    # Without the certificate's CA the client refuses: it is really TLS.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(proxy.url + "/", context=ssl.create_default_context())


def test_the_proxy_cuts_stalled_headers_and_bodies(proxy):
    # A client that stops sending is closed after client_header_timeout /
    # client_body_timeout (10 s), not kept forever.
    context = ssl.create_default_context(cafile=str(proxy.cert))
    stalled = []
    for first in (
        b"POST /logs HTTP/1.1\r\nHost: x\r\n",
        b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[1",
    ):
        sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", proxy.https_port)), server_hostname="localhost"
        )
        sock.sendall(first)
        sock.settimeout(20)
        stalled.append(sock)
    start = time.monotonic()
    for sock in stalled:
        with sock:
            try:
                while sock.recv(4096):
                    pass
            except (ConnectionResetError, ssl.SSLError):
                pass
    took = time.monotonic() - start
    assert 8 < took < 16, f"stalled clients were closed after {took:.1f} s"


def test_web_down_is_the_collectors_json_503_with_retry_after():
    # nginx's own 502/504 would be an HTML page the tracker cannot read across origins.
    with nginx(f"127.0.0.1:{free_port()}") as down:
        status, headers, raw = fetch(down.url + "/logs", b"[]", {"Origin": "https://shop.example"}, context=down.tls())
    assert status == 503 and headers["Retry-After"] == "5"
    assert json.loads(raw) == {"error": "collector unavailable, retry later", "field": "queue", "status": 503}
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"


def test_logdig_web_alone_answers_bad_body_framing_with_json_400(redis_server, redis):
    # The body is read before the app runs now; what breaks while reading it is the
    # client's fault and gets the collector's JSON shape, never gunicorn's HTML or a 500.
    head = b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    cases = {
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n[1]\r\n0\r\n\r\n": "malformed chunked framing",
        b"Content-Length: 500\r\n\r\n[1,": "ended before its Content-Length",
    }
    with start_web(redis_server, redis, workers=1) as server:
        for rest, reason in cases.items():
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(head + rest)
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            head_part, _, body = answer.partition(b"\r\n\r\n")
            assert head_part.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
            assert json.loads(body) == {"error": f"body {reason}", "field": "body", "status": 400}

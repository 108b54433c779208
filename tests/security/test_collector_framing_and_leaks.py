"""Holes an outside attacker found in the collector (issue 12, items 9 and 10): a chunked
body over the limit cut silently instead of refused, and details that leaked to anyone
(the Redis error on /readyz, a password inside the S3 endpoint URL). Each failed
before its fix."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading

import pytest
from redis import Redis

from logdig.config import Settings
from logdig.queue import Sites
from tests.helpers import make_event
from web import create_app

MAX_BODY = 1024 * 1024


def chunked_post(host: str, port: int, body: bytes, chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """POST /logs with Transfer-Encoding: chunked, framed by hand. The body is sent from a
    thread while this one reads the answer, which may come before the body is all sent."""
    sock = socket.create_connection((host, port), timeout=30)
    head = (
        "POST /logs HTTP/1.1\r\nHost: collector\r\nContent-Type: text/plain\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )

    def send() -> None:
        try:
            sock.sendall(head.encode())
            for i in range(0, len(body), chunk):
                part = body[i : i + chunk]
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before reading it all: what we want

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    # Read one answer, by its framing: the server may keep reading (werkzeug drains the
    # rest of a refused body) until the client is gone.
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        status, answer = response.status, response.read()
    except (ConnectionResetError, http.client.RemoteDisconnected):
        status, answer = 0, b""  # cut off: no answer at all
    sock.close()
    sender.join(30)
    return status, answer


def array_of(token: str, size: int) -> bytes:
    """A valid JSON array of events, padded with spaces to exactly `size` bytes."""
    events = json.dumps([make_event(token) for _ in range(500)]).encode()
    return events[:-1] + b" " * (size - len(events)) + b"]"


def test_a_chunked_body_over_the_limit_is_a_413_not_cut(live_collector, redis):
    host, port = live_collector.url.removeprefix("http://").split(":")
    body = array_of(live_collector.token, MAX_BODY) + b"garbage " * 90_000  # 1.75 MB in all
    status, answer = chunked_post(host, int(port), body)
    assert status == 413, answer[:300]
    assert redis.llen("logdig:queue") == 0


def test_a_chunked_body_within_the_limit_is_taken(live_collector, redis):
    host, port = live_collector.url.removeprefix("http://").split(":")
    status, answer = chunked_post(host, int(port), array_of(live_collector.token, MAX_BODY))
    assert status == 202, answer[:300]
    assert json.loads(answer)["accepted"] == 500 and redis.llen("logdig:queue") == 500


def test_a_chunked_body_over_the_limit_is_a_413_under_gunicorn(redis_server, redis, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = Sites(redis).create("gunicorn").token
    env = {**os.environ, "LOGDIG_REDIS_URL": redis_server, "LOGDIG_DATA_DIR": str(tmp_path), "LOGDIG_RATE_IP": "0"}
    cmd = [sys.executable, "-m", "logdig.cli", "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from bench.common import wait_http

        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        status, answer = chunked_post("127.0.0.1", port, array_of(token, MAX_BODY) + b"garbage " * 90_000)
        assert status == 413, answer[:300]
        status, answer = chunked_post("127.0.0.1", port, array_of(token, MAX_BODY))
        assert status == 202, answer[:300]
    finally:
        proc.terminate()
        proc.wait(20)
    assert redis.llen("logdig:queue") == 500


# -- item 10: nothing private in public answers or printed settings ---------------------------


def test_readyz_does_not_show_the_redis_error(tmp_path, caplog):
    dead = Redis.from_url(f"unix://{tmp_path}/nothing.sock", socket_connect_timeout=0.2)
    client = create_app(Settings(), redis=dead).test_client()
    with caplog.at_level(logging.WARNING, logger="logdig.web"):
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json == {"status": "unavailable", "redis": "unavailable"}
    assert "nothing.sock" in caplog.text  # the detail goes to the operator's log


def test_readyz_over_real_http_names_no_address(local_settings):
    import urllib.error
    import urllib.request

    from tests.conftest import start_collector

    c = start_collector(local_settings)
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        # Redis goes away under a running collector (a port where nothing listens).
        c.server.app.extensions["logdig"]["queue"].redis = dead
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(c.url + "/readyz", timeout=10)
        with e.value:
            text = e.value.read().decode()
        assert e.value.code == 503 and "127.0.0.1" not in text and "Error" not in text, text
    finally:
        c.stop()
        dead.close()


URL_WITH_PASSWORD = "http://minio-user:hunter2-secret@minio.internal:9000"


def test_settings_repr_hides_a_password_in_the_s3_endpoint():
    settings = Settings(s3_endpoint=URL_WITH_PASSWORD)
    assert "hunter2-secret" not in repr(settings) and "minio.internal:9000" in repr(settings)
    assert "hunter2-secret" not in str(settings)


def test_the_storage_description_hides_a_password_in_the_s3_endpoint():
    from logdig.storage import S3Store

    store = S3Store(Settings(s3_endpoint=URL_WITH_PASSWORD))
    assert "hunter2-secret" not in store.description and "minio.internal:9000" in store.description


def test_redact_url_hides_any_userinfo():
    from logdig.config import redact_url

    assert redact_url(URL_WITH_PASSWORD) == "http://minio-user:***@minio.internal:9000"
    assert redact_url("https://token-in-user@host.example/x") == "https://***@host.example/x"
    assert redact_url("http://host:9000") == "http://host:9000"


def test_logdig_setup_prints_the_s3_endpoint_without_its_password(s3_server, redis_server, redis):
    from click.testing import CliRunner

    from logdig.cli import main

    host = s3_server.removeprefix("http://")
    env = {
        "LOGDIG_REDIS_URL": redis_server,
        "LOGDIG_S3_ENDPOINT": f"http://minio-user:hunter2-secret@{host}",
        "LOGDIG_S3_BUCKET": "setup-redacted",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "a-long-test-secret",
        "LOGDIG_ADMIN_PASSWORD": "a-long-admin-password",
    }
    result = CliRunner().invoke(main, ["setup"], env=env)
    assert result.exit_code == 0, result.output
    assert f"s3 bucket setup-redacted at http://minio-user:***@{host}" in result.output
    assert "hunter2-secret" not in result.output

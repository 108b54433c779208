"""docker-compose.yml names commands; Docker cannot run here, so run each service's own
command (and healthcheck) against the test Redis and S3 servers and watch it work."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from redis import Redis

from logdig.queue import Sites, shared_secret
from logdig.storage import open_store
from tests.helpers import make_event, post, stored_events

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME:-default} and ${NAME:?error}, enough for our file."""

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose requires {name}: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, str(value))


@pytest.fixture(autouse=True)
def _image_path(monkeypatch):
    """In the image, `logdig` and `python` are on PATH: here, this interpreter's own bin
    (the project's .venv under `make test`, which does not activate it)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def service_env(name: str, settings) -> dict[str, str]:
    given = {
        "LOGDIG_REDIS_URL": settings.redis_url,
        "LOGDIG_S3_ENDPOINT": settings.s3_endpoint,
        "LOGDIG_S3_BUCKET": settings.s3_bucket,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "LOGDIG_ADMIN_PASSWORD": "admin-pass-123",
        "LOGDIG_FLUSH_INTERVAL": "1",
        "LOGDIG_BATCH_MIN": "10",
    }
    # `env_file: .env` hands the container all of .env; `environment` wins over it.
    env_file = given if SERVICES[name].get("env_file") in (".env", [".env"]) else {}
    env = {k: interpolate(v, given) for k, v in (SERVICES[name].get("environment") or {}).items()}
    return {**os.environ, **env_file, **env, "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name: str, port: int | None = None) -> list[str]:
    argv = shlex.split(SERVICES[name]["command"])
    if port is not None:
        argv[argv.index("--port") + 1] = str(port)
        argv[argv.index("--host") + 1] = "127.0.0.1"
    return argv


def wait_for(check, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_compose_declares_the_stack():
    assert {"redis", "minio", "web", "worker", "scheduler", "setup"} <= set(SERVICES)
    assert "--appendonly yes" in SERVICES["redis"]["command"]
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])
    assert any(v.endswith(":/data") for v in SERVICES["minio"]["volumes"])
    for name, service in SERVICES.items():
        assert service.get("restart"), f"{name} has no restart policy"
        if name != "setup" and not service.get("profiles"):  # one-shots need no healthcheck
            assert service.get("healthcheck"), f"{name} has no healthcheck"
    # MinIO's credentials come from .env, and there is no default to fall back on.
    for value in SERVICES["minio"]["environment"].values():
        assert ":?" in value


def test_each_service_command_runs_against_real_redis_and_s3(s3_settings, tmp_path):
    # setup: a one-shot that creates the bucket and checks both services.
    bucket_settings = s3_settings.replace(s3_bucket=s3_settings.s3_bucket + "-new")
    env = {**service_env("setup", bucket_settings)}
    done = subprocess.run(command("setup"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Redis: ok" in done.stdout and "Storage: ok" in done.stdout
    open_store(bucket_settings).ensure_bucket()  # exists now; must not fail

    token = Sites(Redis.from_url(s3_settings.redis_url)).create("site").token
    port = free_port()
    procs = []
    try:
        web = subprocess.Popen(command("web", port), env=service_env("web", s3_settings), cwd=tmp_path)
        procs.append(web)

        def healthy() -> bool:
            check = SERVICES["web"]["healthcheck"]["test"][1:]
            check = [c.replace("8000", str(port)) for c in check]
            return subprocess.run(check, capture_output=True, timeout=10).returncode == 0

        wait_for(healthy, what="web healthcheck")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            assert r.read() == b"Success"
        page = "http://site.example/index.html"
        events = [make_event(token, current_page=page, viewport_w=1280, viewport_h=800) for _ in range(25)]
        assert post(f"http://127.0.0.1:{port}/logs", events)[0] == 202

        procs.append(subprocess.Popen(command("scheduler"), env=service_env("scheduler", s3_settings), cwd=ROOT))
        procs.append(subprocess.Popen(command("worker"), env=service_env("worker", s3_settings), cwd=tmp_path))
        store = open_store(s3_settings)
        wait_for(lambda: len(stored_events(store)) == 25, timeout=60, what="the scheduled flush to write the events")
        assert sorted(e["event_id"] for e in stored_events(store)) == sorted(e["event_id"] for e in events)
        for name in ("worker", "scheduler"):
            check = SERVICES[name]["healthcheck"]["test"][1:]
            assert subprocess.run(check, env=service_env(name, s3_settings), timeout=30).returncode == 0
        overlay_segment(f"http://127.0.0.1:{port}", Redis.from_url(s3_settings.redis_url), token, page)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    assert all(p.returncode is not None for p in procs)
    assert sys.executable  # the commands ran from this environment's `logdig`


def overlay_segment(base: str, redis: Redis, token: str, page: str) -> None:
    """The web service serves the heat-map module and the overlay, and computes an overlay
    segment on demand from the objects in S3 (its environment reaches them)."""
    from web.dashboard import overlay

    for path in ("/clicktracker-heatmap.js", "/overlay.js"):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            assert r.status == 200 and "javascript" in r.headers["Content-Type"], path
    today = datetime.now(UTC).date().isoformat()
    sig = overlay.sign(shared_secret(redis), token, page, today, today, time.time())
    answers = []

    def answered() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/overlay/data?sig={sig}&device=desktop", timeout=30) as r:
                answers.append((r.status, json.loads(r.read())))
        except urllib.error.HTTPError as e:
            with e:
                answers.append((e.code, json.loads(e.read())))
        return answers[-1][0] != 202

    wait_for(answered, timeout=90, what="the overlay segment")
    status, body = answers[-1]
    assert status == 200 and body["segment"] == {"device": "desktop"}, answers[-1]
    assert sum(c[2] for cells in body["grids"].values() for c in cells) == 25  # make_event's UA: desktop


@pytest.mark.parametrize(
    "secret, admin",
    [("minioadmin", "admin-pass-123"), ("test-secret", ""), ("test-secret", "changeme"), ("short", "admin-pass-123")],
)
def test_setup_refuses_default_or_empty_secrets(s3_settings, secret, admin):
    env = {**service_env("setup", s3_settings), "AWS_SECRET_ACCESS_KEY": secret, "LOGDIG_ADMIN_PASSWORD": admin}
    done = subprocess.run(command("setup"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "not a known default" in done.stderr
    assert secret not in done.stderr.replace("AWS_SECRET_ACCESS_KEY", "") or secret == "short"


def test_compose_refuses_empty_secrets():
    for name in ("AWS_SECRET_ACCESS_KEY", "LOGDIG_ADMIN_PASSWORD"):
        with pytest.raises(AssertionError, match=f"compose requires {name}"):
            interpolate(COMPOSE["x-logdig-env"][name], {"AWS_SECRET_ACCESS_KEY": "", "LOGDIG_ADMIN_PASSWORD": ""})


def test_the_spark_profile_runs_the_same_jobs_over_s3a():
    spark = SERVICES["spark"]
    assert spark["profiles"] == ["spark"]
    assert spark["command"][:1] == ["spark-submit"] and "--engine" in spark["command"]
    submit = ROOT / spark["command"][spark["command"].index("--master") + 2].removeprefix("/app/")
    assert submit.is_file(), submit
    conf = (ROOT / "deploy/spark/spark-defaults.conf").read_text()
    assert "fs.s3a.path.style.access" in conf and "true" in conf

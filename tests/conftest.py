"""Shared fixtures: a private redis-server, an S3 API server, a live collector.

The servers are real processes on free ports (a unix socket for Redis), started once
per test session; each test gets an empty Redis database and a fresh bucket.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis

from logdig.config import Settings
from tests.helpers import private_redis, system_chromium


@pytest.fixture(scope="session", autouse=True)
def _own_dev_pointer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A `logdig dev` the developer runs, or one a test starts, is found through a pointer
    under XDG_STATE_HOME (logdig.devstate): the tests get a folder of their own."""
    import os

    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if before is None:
        del os.environ["XDG_STATE_HOME"]
    else:
        os.environ["XDG_STATE_HOME"] = before


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: run `bash .ci/run` or `apt-get install -y {binary}`")
    return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One system Chromium per test session, shared by the tracker and dashboard tests:
    Playwright's sync API runs once per thread, and contexts are cheap where browsers are not."""
    pytest.importorskip("playwright.sync_api")
    with system_chromium(_require("chromium")) as browser:
        yield browser


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A private redis-server on a unix socket; yields its unix:// URL."""
    _require("redis-server")
    with private_redis() as server:
        yield server.url


@pytest.fixture
def redis(redis_server: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_server)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3 API server (moto in server mode) on a free port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_server: str, redis_server: str, redis: Redis, tmp_path: Path) -> Settings:
    """Settings for the real services, with a bucket of this test's own."""
    from logdig.storage import open_store

    settings = Settings(
        redis_url=redis_server,
        s3_endpoint=s3_server,
        s3_bucket=f"t-{uuid.uuid4().hex[:12]}",
        aws_access_key_id="test",
        aws_secret_access_key="test-secret",
        data_dir=str(tmp_path / "data"),
    )
    open_store(settings).ensure_bucket()
    return settings


@pytest.fixture
def local_settings(redis_server: str, redis: Redis, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_server, data_dir=str(tmp_path / "data"))


@dataclass
class LiveCollector:
    url: str
    token: str
    settings: Settings
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # refuse, rather than hang, requests after the stop
        self.thread.join(10)


def start_collector(settings: Settings, port: int = 0, token: str | None = None, **app_kwargs) -> LiveCollector:
    """The collector app on a real HTTP server in a thread."""
    from werkzeug.serving import make_server

    from logdig.queue import Sites, connect
    from web import create_app

    redis = connect(settings.redis_url)
    if token is None:
        token = Sites(redis).create("test-site").token
    app = create_app(settings, redis=redis, **app_kwargs)
    app.config["LOGDIG_DEMO_TOKEN"] = token
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return LiveCollector(f"http://127.0.0.1:{server.server_port}", token, settings, server, thread)


@pytest.fixture
def live_collector(local_settings: Settings) -> Iterator[LiveCollector]:
    collector = start_collector(local_settings)
    yield collector
    collector.stop()


# CI (.ci/run sets LOGDIG_CI=1) has every tool scripts/install-deps installs, so a skipped
# test there is a test that did not run: the run fails and names each one. On a laptop a
# skip stays a skip.
CI = os.environ.get("LOGDIG_CI") == "1"
_skipped: list[pytest.TestReport | pytest.CollectReport] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if CI and report.skipped:
        _skipped.append(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if CI and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    if not CI:
        return
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        terminalreporter.write_line("pytest collected no tests: a suite that runs nothing proves nothing", red=True)
    if _skipped:
        terminalreporter.section(f"LOGDIG_CI=1: {len(_skipped)} skipped tests count as failures", red=True)
        for report in _skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            terminalreporter.write_line(f"{report.nodeid}: {reason.removeprefix('Skipped: ')}")

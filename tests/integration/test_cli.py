"""The `logdig` command through its public entry points: the real binary for the
long-running ones, CliRunner for the quick ones."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from logdig.apikeys import ApiKeys
from logdig.cli import main
from logdig.queue import EventQueue, Sites
from logdig.storage import LocalStore
from tests.helpers import make_event, post, stored_events

pytestmark = pytest.mark.integration


def env_for(settings) -> dict[str, str]:
    return {"LOGDIG_REDIS_URL": settings.redis_url, "LOGDIG_DATA_DIR": settings.data_dir}


def test_token_create_prints_the_token_alone_and_the_collector_accepts_it(local_settings, redis):
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["token", "create", "shop", "--origin", "https://Shop.example"],
        env=env_for(local_settings),
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and re.fullmatch(r"[A-Za-z0-9_-]{20,}", token)
    site = Sites(redis).get(token)
    assert site.name == "shop" and site.origins == ("https://shop.example",)
    listed = runner.invoke(main, ["token", "list"], env=env_for(local_settings), catch_exceptions=False)
    assert f"{token}\tshop\thttps://shop.example" in listed.stdout


def test_token_create_refuses_a_url_that_is_not_an_origin(local_settings):
    result = CliRunner().invoke(
        main, ["token", "create", "x", "--origin", "shop.example/path"], env=env_for(local_settings)
    )
    assert result.exit_code == 2 and "is not an origin" in result.output


def test_flush_exits_0_when_there_is_nothing_to_write(local_settings):
    result = CliRunner().invoke(main, ["flush"], env=env_for(local_settings), catch_exceptions=False)
    assert result.exit_code == 0 and "no object written" in result.stdout


def test_flush_force_writes_a_small_batch(local_settings, redis):
    token = Sites(redis).create("s").token
    from tests.conftest import start_collector

    c = start_collector(local_settings, token=token)
    try:
        assert post(c.url + "/logs", [make_event(token) for _ in range(3)])[0] == 202
    finally:
        c.stop()
    runner = CliRunner()
    assert "no object written" in runner.invoke(main, ["flush"], env=env_for(local_settings)).stdout
    result = runner.invoke(main, ["flush", "--force"], env=env_for(local_settings), catch_exceptions=False)
    assert result.exit_code == 0 and "wrote 3 events in 1 objects" in result.stdout
    assert len(stored_events(LocalStore(local_settings.data_dir))) == 3


def test_unreachable_redis_is_a_clear_error_not_a_traceback(tmp_path):
    env = {"LOGDIG_REDIS_URL": f"unix://{tmp_path}/nothing.sock"}
    result = CliRunner().invoke(main, ["flush"], env=env)
    assert result.exit_code == 1 and "Redis is unreachable" in result.output
    assert "Traceback" not in result.output


def test_a_bad_setting_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["flush"], env={"LOGDIG_BATCH_MIN": "many", "LOGDIG_REDIS_URL": "redis://x"})
    assert result.exit_code == 1 and "LOGDIG_BATCH_MIN must be a whole number" in result.output


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["dev"],
        ["web"],
        ["worker"],
        ["scheduler"],
        ["flush"],
        ["setup"],
        ["token"],
        ["token", "create"],
        ["status"],
        ["sessions"],
        ["sessions", "revoke"],
    ],
)
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0 and "Usage: " in result.output


def test_dev_runs_everything_in_one_process_with_no_services(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGDIG_", "AWS_"))}
    env.update(LOGDIG_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "logdig.cli", "dev", "--port", "0"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        while "Press Ctrl+C" not in banner:
            line = proc.stdout.readline()
            assert line, f"logdig dev exited early:\n{banner}"
            banner += line
        base = re.search(r"running at (http://\S+)", banner).group(1)
        token = re.search(r"token 'demo': (\S+)", banner).group(1)
        assert f'data-token="{token}"' in banner and str(tmp_path / "data") in banner
        assert re.search(r"dashboard: \S+/dashboard/  password: \S{12,}  \(generated", banner)
        events = [make_event(token) for _ in range(7)]
        assert post(base + "/logs", events)[0] == 202
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Final flush: wrote 7 events" in out
    stored = stored_events(LocalStore(tmp_path / "data"))
    assert sorted(e["event_id"] for e in stored) == sorted(e["event_id"] for e in events)
    # The demo token survives a restart (saved with the sites), so old and new events share it.
    assert token in (tmp_path / "data" / ".logdig-dev.json").read_text()


def test_status_shows_the_queue(local_settings, redis):
    EventQueue(redis).count(flushes=2)
    result = CliRunner().invoke(main, ["status"], env=env_for(local_settings), catch_exceptions=False)
    assert "queued: 0" in result.stdout and "flushes: 2" in result.stdout


def test_a_revoked_token_is_refused(local_settings, redis):
    from tests.conftest import start_collector

    runner = CliRunner()
    token = runner.invoke(main, ["token", "create", "old"], env=env_for(local_settings)).stdout.strip()
    made = runner.invoke(main, ["apikey", "create", "--token", token], env=env_for(local_settings))
    key = made.stdout.strip()
    c = start_collector(local_settings, token=token)
    try:
        assert post(c.url + "/logs", [make_event(token)])[0] == 202
        deleted = runner.invoke(main, ["token", "delete", token], env=env_for(local_settings), catch_exceptions=False)
        assert deleted.exit_code == 0 and "1 API key(s) revoked" in deleted.stdout
        assert ApiKeys(redis).verify(key) is None  # a deleted site's keys read nothing
        c.server.app.extensions["logdig"]["site_cache"].clear()  # what 10 s of waiting would do
        status, _, answer = post(c.url + "/logs", [make_event(token)])
        assert status == 403 and answer["error"] == "unknown token"
    finally:
        c.stop()
    missing = runner.invoke(main, ["token", "delete", token], env=env_for(local_settings))
    assert missing.exit_code == 1 and "no such token" in missing.output

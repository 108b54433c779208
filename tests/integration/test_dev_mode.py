"""Dev mode is one place: every `logdig` command the README names works against a running
`logdig dev`, what a user defines there survives a restart, and no command replaces
definitions it could not read. Also the CLI's refusals of nonsense (exit 2)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from logdig.cli import main
from logdig.queue import Sites
from tests.helpers import make_event, post

pytestmark = pytest.mark.integration


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGDIG_", "AWS_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def logdig(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "logdig.cli", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )


@contextlib.contextmanager
def running_dev(data: Path, cwd: Path) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "logdig.cli", "dev", "--port", "0", "--data", str(data)],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = ""
    try:
        while "Press Ctrl+C" not in banner:
            line = proc.stdout.readline()
            assert line, f"logdig dev exited early:\n{banner}"
            banner += line
        yield {
            "url": re.search(r"running at (http://\S+)", banner).group(1),
            "token": re.search(r"token 'demo': (\S+)", banner).group(1),
            "password": re.search(r"password: (\S+)", banner).group(1),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, banner + out


def test_every_readme_command_works_against_a_running_dev_and_survives_a_restart(tmp_path):
    data, work = tmp_path / "elsewhere", tmp_path / "work"
    work.mkdir()
    today = datetime.now(UTC).date().isoformat()
    with running_dev(data, work) as dev:
        created = logdig("token", "create", "mysite", "--origin", "https://my.example", cwd=work)
        assert created.returncode == 0, created.stderr
        mine = created.stdout.strip()
        assert "using the running `logdig dev`" in created.stderr
        steps = ["--step", "url:*/index.html", "--step", "event:purchase"]
        assert logdig("funnel", "add", "buy", *steps, cwd=work).returncode == 0
        added = logdig(
            "experiment",
            "add",
            "exp",
            "--goal",
            "event:purchase",
            "--weight",
            "control=0.5",
            "--weight",
            "b=0.5",
            cwd=work,
        )
        assert added.returncode == 0, added.stderr
        token, password = dev["token"], dev["password"]
        events = [
            make_event(token, type="pageview", link=None, x=None, y=None),
            make_event(token, type="custom", name="purchase", link=None, x=None, y=None),
            make_event(token, type="exposure", name="exp", variant="control", link=None, x=None, y=None),
        ]
        assert post(dev["url"] + "/logs", events)[0] == 202
        status = logdig("status", cwd=work)
        assert status.returncode == 0 and "queued: 3" in status.stdout, status.stdout + status.stderr
        flushed = logdig("flush", "--force", cwd=work)
        assert flushed.returncode == 0 and "wrote 3 events" in flushed.stdout, flushed.stdout + flushed.stderr
        analysed = logdig("analyze", cwd=work)
        assert analysed.returncode == 0, analysed.stderr
        funnels = json.loads((data / f"results/funnels/{token}/{today}.json").read_text())
        assert "buy" in json.dumps(funnels)
        experiments = json.loads((data / f"results/experiments/{token}/{today}.json").read_text())
        assert "exp" in json.dumps(experiments)
        assert not (work / "logdig-data").exists(), "a command wrote to ./logdig-data instead of dev's folder"

    # Stopped: analyze reads what dev saved, and says where the data went when asked elsewhere.
    missing = logdig("analyze", cwd=work)
    assert missing.returncode == 1 and f"kept its data in {data}" in missing.stderr
    assert not (work / "logdig-data").exists()
    again = logdig("analyze", "--job", "funnels", cwd=work, env=clean_env(LOGDIG_DATA_DIR=str(data)))
    assert again.returncode == 0, again.stderr
    assert "buy" in (data / f"results/funnels/{token}/{today}.json").read_text()

    with running_dev(data, work) as dev:
        assert dev["token"] == token
        assert dev["password"] == password  # the browser's saved password still fits
        assert (data / ".logdig-dev-password").stat().st_mode & 0o077 == 0
        assert '"buy"' in logdig("funnel", "list", cwd=work).stdout
        assert '"exp"' in logdig("experiment", "list", cwd=work).stdout
        assert f"{mine}\tmysite\thttps://my.example" in logdig("token", "list", cwd=work).stdout


def test_analyze_never_replaces_definitions_it_could_not_read(tmp_path):
    data = tmp_path / "data"
    day = datetime.now(UTC).date().isoformat()
    kept = data / f"results/funnels/tok/{day}.json"
    kept.parent.mkdir(parents=True)
    kept.write_text('{"funnels": ["the real ones"]}')
    refused = logdig("analyze", cwd=tmp_path, env=clean_env(LOGDIG_DATA_DIR=str(data)))
    assert refused.returncode == 1
    assert "cannot read the funnel and experiment definitions" in refused.stderr
    assert os.environ["XDG_STATE_HOME"] in refused.stderr  # it says where it looked
    assert kept.read_text() == '{"funnels": ["the real ones"]}'
    pages = logdig("analyze", "--job", "pages", cwd=tmp_path, env=clean_env(LOGDIG_DATA_DIR=str(data)))
    assert pages.returncode == 0, pages.stderr


def test_analyze_without_a_data_folder_fails_and_creates_none(tmp_path):
    result = logdig("analyze", "--job", "pages", cwd=tmp_path)
    assert result.returncode == 1 and "no data folder at" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "logdig-data").exists()


@pytest.mark.parametrize("url", ["notaurl", "S3cretPW", "redis://user:S3cretPW@[::1"])
def test_a_redis_url_that_is_not_one_is_a_one_line_error_without_the_value(tmp_path, url):
    """Not a URL may be a secret pasted in the wrong place: never echoed (the bracket one
    was a traceback, found from outside)."""
    result = logdig("status", cwd=tmp_path, env=clean_env(LOGDIG_REDIS_URL=url))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: LOGDIG_REDIS_URL '***' is not a Redis URL (")
    assert "S3cretPW" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["analyze", "--token", "nosuch"], "no site has the token 'nosuch'"),
        (["funnel", "add", "f", "--step", "url:*/a", "--step", "url:*/b", "--token", "nosuch"], "no site has"),
        (["experiment", "add", "e", "--goal", "event:x", "--token", "nosuch"], "no site has"),
        (["token", "create", ""], "NAME must be 1-200 printable characters"),
        (["token", "create", "   "], "NAME must be 1-200 printable characters"),
        (["token", "create", "taken"], "a site named 'taken' exists already"),
        (["forget", "bad key!"], "is not a user key clicktracker.js makes"),
        (
            ["experiment", "add", "e", "--goal", "event:x", "--weight", "control=0.7", "--weight", "b=0.6"],
            "add up to 1.3, more than 1",
        ),
    ],
)
def test_nonsense_is_refused_with_exit_2(args, says, local_settings, redis):
    Sites(redis).create("taken")
    env = {"LOGDIG_REDIS_URL": local_settings.redis_url, "LOGDIG_DATA_DIR": local_settings.data_dir}
    Path(local_settings.data_dir).mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert len(Sites(redis).all()) == 1 and not redis.exists(
        "logdig:definitions:funnel", "logdig:definitions:experiment"
    )


def test_dev_queue_is_open_to_this_account_only(tmp_path):
    """Found from outside: dev's stand-in listened on a loopback port, so any local user
    could read the dashboard's signing key from it and forge a session."""
    with running_dev(tmp_path / "data", tmp_path):
        pointer = json.loads((Path(os.environ["XDG_STATE_HOME"]) / "logdig" / "dev.json").read_text())
        assert pointer["redis_url"].startswith("unix://")
        folder = Path(pointer["redis_url"].removeprefix("unix://")).parent
        assert folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077 == 0
        assert (Path(os.environ["XDG_STATE_HOME"]) / "logdig" / "dev.json").stat().st_mode & 0o077 == 0
        status = logdig("status", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
    assert not folder.exists()  # removed with the process


def test_the_dev_queue_answers_a_reply_of_megabytes(tmp_path):
    """Found from outside: `logdig flush --force` with 5,000 queued events (2.9 MB) said
    "Redis is unreachable (Connection closed by server.)": the stand-in's socket is
    non-blocking, and a reply larger than the socket's buffer failed half written."""
    import redis as redis_py

    from devmode.run import StandIn

    standin = StandIn(str(tmp_path))
    try:
        standin.redis.rpush("big", *[b"x" * 600] * 5000)
        client = redis_py.Redis.from_url(standin.url)
        assert len(client.lrange("big", 0, -1)) == 5000
        client.close()
    finally:
        standin.close()

"""The analysis commands, through click's runner (as `logdig` will call them)."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest
from click.testing import CliRunner
from redis import Redis

from analysis.cli import analyze_cmd, day_range, experiment_group, funnel_group
from logdig.queue import Sites
from logdig.storage import LocalStore

from .conftest import event, store_lines


@pytest.fixture
def env(tmp_path, redis_server, redis, monkeypatch):
    monkeypatch.setenv("LOGDIG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOGDIG_REDIS_URL", redis_server)
    monkeypatch.delenv("LOGDIG_S3_ENDPOINT", raising=False)
    return tmp_path


def invoke(cmd, args):
    return CliRunner().invoke(cmd, args, catch_exceptions=False)


def test_funnel_and_experiment_commands(env):
    r = invoke(funnel_group, ["add", "signup", "--step", "url:*/pricing", "--step", "event:signup", "--window", "600"])
    assert r.exit_code == 0, r.output
    r = invoke(funnel_group, ["list"])
    assert json.loads(r.output)["steps"] == [{"url": "*/pricing"}, {"event": "signup"}]
    r = invoke(experiment_group, ["add", "btn", "--goal", "event:buy", "--weight", "control=0.5", "--weight", "b=0.5"])
    assert r.exit_code == 0, r.output
    assert json.loads(invoke(experiment_group, ["list"]).output)["weights"] == {"control": 0.5, "b": 0.5}
    assert invoke(experiment_group, ["remove", "btn"]).exit_code == 0
    assert "no experiments defined" in invoke(experiment_group, ["list"]).output
    assert invoke(funnel_group, ["remove", "nope"]).exit_code == 1


@pytest.mark.parametrize(
    ("cmd", "args", "message"),
    [
        (funnel_group, ["add", "f", "--step", "url:/a"], "2 to 20 steps"),
        (funnel_group, ["add", "f", "--step", "page:/a", "--step", "url:/b"], "url:PATTERN or event:NAME"),
        (experiment_group, ["add", "e", "--goal", "event:x", "--weight", "b"], "VARIANT=SHARE"),
        (analyze_cmd, ["--from", "2026-13-01"], "is not a date"),
        (analyze_cmd, ["--from", "2026-11-27", "--to", "2026-11-01"], "after --to"),
        (analyze_cmd, ["--engine", "oracle"], "oracle"),
    ],
)
def test_bad_input_is_a_clear_error(env, cmd, args, message):
    r = CliRunner().invoke(cmd, args)
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit)  # no traceback
    assert message in r.output


def test_analyze_writes_results(env):
    store_lines(env, "2026-11-25", [event(event_id="a", type="pageview"), "garbage"])
    invoke(funnel_group, ["add", "f", "--step", "url:*", "--step", "event:x"])
    r = invoke(analyze_cmd, ["--from", "2026-11-25", "--to", "2026-11-25"])
    assert r.exit_code == 0, r.output
    assert "2026-11-25: 2 lines, 1 valid, 0 repeats, 1 bad" in r.output
    keys = set(LocalStore(env).list("results/"))
    assert {f"results/{job}/tok/2026-11-25.json" for job in ("heatmap", "pages", "funnels", "experiments")} <= keys
    doc = json.loads(LocalStore(env).get("results/funnels/tok/2026-11-25.json"))
    assert doc["data"]["funnels"][0]["steps"][0]["users"] == 1
    assert "warning: funnel f" in r.stderr and "(event x) matched nothing" in r.stderr  # a step nobody reached
    Sites(Redis.from_url(os.environ["LOGDIG_REDIS_URL"])).create("other site", token="other")
    r = invoke(analyze_cmd, ["--from", "2026-11-25", "--to", "2026-11-25", "--token", "other", "--job", "pages"])
    assert "wrote 0 results" in r.output


def test_analyze_without_redis(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGDIG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOGDIG_REDIS_URL", raising=False)
    monkeypatch.delenv("LOGDIG_S3_ENDPOINT", raising=False)
    r = CliRunner().invoke(analyze_cmd, [])
    assert r.exit_code == 1 and "cannot read the funnel and experiment definitions" in r.output
    r = CliRunner().invoke(analyze_cmd, ["--job", "heatmap", "--job", "pages"])
    assert r.exit_code == 0, r.output


def test_default_days():
    today = date(2026, 11, 27)
    assert day_range(None, None, today) == ["2026-11-26", "2026-11-27"]
    assert day_range(date(2026, 11, 20), date(2026, 11, 21), today) == ["2026-11-20", "2026-11-21"]
    assert day_range(None, date(2026, 11, 1), today) == ["2026-10-31", "2026-11-01"]


def test_goal_commands(env):
    from analysis.cli import goal_group

    r = invoke(goal_group, ["add", "pricing", "url:*/pricing/"])
    assert r.exit_code == 0 and "url */pricing" in r.output
    assert invoke(goal_group, ["add", "bought", "event:purchase"]).exit_code == 0
    listed = [json.loads(line) for line in invoke(goal_group, ["list"]).output.splitlines()]
    assert [g["goal"] for g in listed] == [{"event": "purchase"}, {"url": "*/pricing"}]
    bad = invoke(goal_group, ["add", "x", "click:#buy"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output and "url:PATTERN or event:NAME" in bad.output
    assert invoke(goal_group, ["remove", "pricing"]).exit_code == 0
    assert invoke(goal_group, ["remove", "pricing"]).exit_code != 0

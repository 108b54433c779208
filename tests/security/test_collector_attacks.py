"""Holes an outside attacker found in the collector (issue 12, items 1, 2, 3 and 10),
each as a test that failed before its fix. The Flask app runs in-process on a real
redis-server (the `redis` and `local_settings` fixtures)."""

from __future__ import annotations

import json
import logging

import pytest

from logdig.events import PROPS_MAX_DEPTH
from logdig.queue import EventQueue, Sites
from tests.helpers import make_event
from web import create_app

DEEP = f"nested deeper than {PROPS_MAX_DEPTH} levels"


def nested(depth: int, kind: str = "dict") -> str:
    """JSON text nested `depth` levels deep, built without recursion (json.dumps would need it)."""
    if kind == "dict":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "1" + "]" * depth


def with_field(token: str, name: str, text: str, **fields) -> str:
    """An event whose field `name` holds the JSON text `text`."""
    event = make_event(token, **{name: "@@VALUE@@"}, **fields)
    return json.dumps(event).replace('"@@VALUE@@"', text)


@pytest.fixture
def app(local_settings, redis):
    return create_app(local_settings.replace(rate_ip=0, rate_token=0), redis=redis)


@pytest.fixture
def token(redis):
    return Sites(redis).create("attacked").token


def assert_no_traceback_logged(caplog) -> None:
    for record in caplog.records:
        assert record.levelno < logging.ERROR and not record.exc_info, record.getMessage()[:300]
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


# -- item 1: deep nesting is a 400 naming the field, never a 500 ------------------------------

FIELDS = ["props", "link", "user_agent", "x", "current_page", "unknown_field", "received_at"]


@pytest.mark.parametrize("depth", [500, 1000])
@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("name", FIELDS)
def test_a_deeply_nested_field_is_a_400_naming_it(app, token, caplog, name, kind, depth):
    body = with_field(token, name, nested(depth, kind), type="custom")
    assert len(body) < 8_000  # a few kilobytes are enough
    response = app.test_client().post("/logs", data=body, content_type="text/plain")
    assert response.status_code == 400, response.data[:300]
    errors = response.json["rejected"][0]["errors"]
    if name == "received_at":
        assert {"field": name, "reason": "set by the server; do not send it"} in errors
    else:
        assert {"field": name, "reason": DEEP} in errors, errors
        assert response.json["field"] == name
    assert_no_traceback_logged(caplog)


def test_deep_values_in_several_fields_of_one_event_are_each_named(app, token, caplog):
    event = make_event(token, type="custom", props="@P@", link="@L@", selector="@S@")
    body = json.dumps(event)
    for mark, kind in (("@P@", "dict"), ("@L@", "list"), ("@S@", "dict")):
        body = body.replace(f'"{mark}"', nested(900, kind))
    response = app.test_client().post("/logs", data=body, content_type="application/json")
    assert response.status_code == 400
    errors = response.json["rejected"][0]["errors"]
    assert sorted(e["field"] for e in errors if e["reason"] == DEEP) == ["link", "props", "selector"]
    assert_no_traceback_logged(caplog)


def test_a_deep_event_in_a_batch_leaves_the_good_ones_accepted(app, token, redis, caplog):
    good = [json.dumps(make_event(token)) for _ in range(3)]
    deep = with_field(token, "props", nested(700), type="custom")
    deep_list = with_field(token, "link", nested(700, "list"))
    body = f"[{good[0]},{deep},{good[1]},{deep_list},{good[2]}]"
    response = app.test_client().post("/logs", data=body, content_type="text/plain")
    assert response.status_code == 202, response.data[:300]
    assert response.json["accepted"] == 3
    assert [(r["index"], r["errors"][0]["field"]) for r in response.json["rejected"]] == [(1, "props"), (3, "link")]
    assert redis.llen("logdig:queue") == 3
    assert_no_traceback_logged(caplog)


def test_props_one_level_too_deep_still_says_so(app, token):
    body = with_field(token, "props", nested(PROPS_MAX_DEPTH + 1), type="custom")
    response = app.test_client().post("/logs", data=body, content_type="text/plain")
    assert response.status_code == 400 and response.json["rejected"][0]["errors"] == [
        {"field": "props", "reason": DEEP}
    ]
    ok = with_field(token, "props", nested(PROPS_MAX_DEPTH), type="custom")
    assert app.test_client().post("/logs", data=ok, content_type="text/plain").status_code == 202


# -- item 2: invalid bodies are charged against the per-IP limit, and cheaply -----------------


def test_invalid_bodies_count_against_the_ip_limit(local_settings, redis, token):
    client = create_app(local_settings.replace(rate_ip=3), redis=redis).test_client()
    junk = [{"not": "an event"}] * 20
    statuses = [client.post("/logs", json=junk).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 429, 429]
    # Over the limit, a valid request from the same address waits too; another address does not.
    assert client.post("/logs", json=make_event(token)).status_code == 429
    other = client.post("/logs", json=make_event(token), environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 202


def test_a_body_of_many_invalid_events_costs_more_of_the_ip_limit(local_settings, redis, token):
    client = create_app(local_settings.replace(rate_ip=60), redis=redis).test_client()
    junk = [{"not": "an event"}] * 1000  # 1 request + 1000 / 20 more
    assert [client.post("/logs", json=junk).status_code for _ in range(3)] == [400, 400, 429]
    # A request of good events costs one, however many it holds: 59 from another address pass.
    visitor = {"REMOTE_ADDR": "192.0.2.10"}
    statuses = {client.post("/logs", json=[make_event(token)] * 3, environ_base=visitor).status_code for _ in range(59)}
    assert statuses == {202}


def test_an_address_over_its_limit_gets_429_before_its_body_is_read(local_settings, redis, token):
    client = create_app(local_settings.replace(rate_ip=1), redis=redis).test_client()
    assert client.post("/logs", json=make_event(token)).status_code == 202
    # Over the limit, even a body that would be a 413 or a 415 is a 429: nothing was read.
    assert client.post("/logs", data=b"x" * (2 << 20), content_type="text/plain").status_code == 429
    assert client.post("/logs", data=b"{}", content_type="image/png").status_code == 429


def test_the_rejected_list_stops_at_20_and_says_how_many_in_all(app, token, caplog):
    client = app.test_client()
    junk = [{"event_id": "x", "type": "nope"}] * 1000
    response = client.post("/logs", json=junk)
    assert response.status_code == 400
    answer = response.json
    assert len(answer["rejected"]) == 20 and answer["rejected_count"] == 1000
    assert [r["index"] for r in answer["rejected"]] == list(range(20))
    assert len(response.data) < 20_000

    mixed = [make_event(token, x=-1) for _ in range(30)] + [make_event(token) for _ in range(5)]
    response = client.post("/logs", json=mixed)
    assert response.status_code == 202
    answer = response.json
    assert answer["accepted"] == 5 and len(answer["rejected"]) == 20 and answer["rejected_count"] == 30
    assert answer["rejected"][0]["errors"] == [{"field": "x", "reason": "below the minimum of 0"}]
    stats = EventQueue(app.extensions["logdig"]["redis"]).stats()
    assert stats["rejected:invalid"] == 1030  # every rejected event is counted, listed or not
    assert_no_traceback_logged(caplog)


def test_a_short_rejected_list_has_no_count(app, token):
    response = app.test_client().post("/logs", json=[make_event(token), make_event(token, x=-1)])
    assert response.status_code == 202 and "rejected_count" not in response.json


# -- item 3: one address cannot spend a whole token's budget ----------------------------------


def test_one_address_gets_at_most_its_share_of_a_tokens_budget(local_settings, redis, token):
    settings = local_settings.replace(rate_ip=0, rate_token=100, rate_token_ip_share=10)
    client = create_app(settings, redis=redis).test_client()
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    first = client.post("/logs", json=[make_event(token) for _ in range(10)], environ_base=attacker)
    assert first.status_code == 202
    second = client.post("/logs", json=[make_event(token)], environ_base=attacker)
    assert second.status_code == 429 and second.headers["Retry-After"]
    # Every other visitor of the site still gets in.
    for i in range(5):
        visitor = {"REMOTE_ADDR": f"203.0.113.{i + 1}"}
        assert client.post("/logs", json=[make_event(token)], environ_base=visitor).status_code == 202
    assert redis.llen("logdig:queue") == 15


def test_a_share_of_zero_turns_the_per_address_budget_off(local_settings, redis, token):
    settings = local_settings.replace(rate_ip=0, rate_token=100, rate_token_ip_share=0)
    client = create_app(settings, redis=redis).test_client()
    assert client.post("/logs", json=[make_event(token) for _ in range(60)]).status_code == 202


def test_the_share_must_be_a_percentage():
    from logdig.config import ConfigError, Settings

    assert Settings.from_env({"LOGDIG_RATE_TOKEN_IP_SHARE": "25"}).rate_token_ip_share == 25
    for bad in ("101", "-1", "ten"):
        with pytest.raises(ConfigError, match="LOGDIG_RATE_TOKEN_IP_SHARE"):
            Settings.from_env({"LOGDIG_RATE_TOKEN_IP_SHARE": bad})


# -- item 10: rate_limited counts answers, not events -----------------------------------------


def test_rate_limited_counts_requests_answered_429(local_settings, redis, token):
    client = create_app(local_settings.replace(rate_ip=2, rate_token=0), redis=redis).test_client()
    answers = [client.post("/logs", json=[make_event(token) for _ in range(7)]).status_code for _ in range(5)]
    assert answers == [202, 202, 429, 429, 429]
    assert EventQueue(redis).stats()["rejected:rate_limited"] == 3


def test_token_rate_limited_counts_requests_answered_429(local_settings, redis, token):
    client = create_app(
        local_settings.replace(rate_ip=0, rate_token=10, rate_token_ip_share=0), redis=redis
    ).test_client()
    answers = [client.post("/logs", json=[make_event(token) for _ in range(6)]).status_code for _ in range(4)]
    assert answers == [202, 429, 429, 429]
    assert EventQueue(redis).stats()["rejected:rate_limited"] == 3

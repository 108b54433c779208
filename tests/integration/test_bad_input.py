"""Every kind of bad input gets a 4xx with a JSON body naming the field and the reason,
over real HTTP against a real Redis - and loses nothing that was good."""

from __future__ import annotations

import json

import pytest

from logdig.queue import EventQueue, Sites
from tests.conftest import start_collector
from tests.helpers import make_event, post

pytestmark = pytest.mark.integration


@pytest.fixture
def collector(local_settings):
    c = start_collector(local_settings.replace(max_body=64 * 1024, max_events=50))
    yield c
    c.stop()


def cases(token):
    good = make_event(token)
    return [
        # (name, body, content type, status, field, words in the reason)
        ("malformed JSON", b'{"timestamp": ', "text/plain", 400, "body", "malformed JSON"),
        ("not UTF-8", b'{"a": "\xff\xfe"}', "text/plain", 400, "body", "not UTF-8"),
        (
            "NaN is not JSON",
            json.dumps(good).replace('"x": 110', '"x": NaN'),
            "text/plain",
            400,
            "body",
            "malformed JSON",
        ),
        (
            "lone surrogate",
            json.dumps({**good, "text": "a"}).replace('"text": "a"', '"text": "\\ud800"'),
            "text/plain",
            400,
            "body",
            "surrogate",
        ),
        ("a bare string", '"hello"', "text/plain", 400, "event", "must be a JSON object"),
        ("empty array", "[]", "application/json", 400, "body", "empty array"),
        ("wrong type", {**good, "x": "110"}, "text/plain", 400, "x", "must be number"),
        ("missing field", {k: v for k, v in good.items() if k != "user_key"}, "text/plain", 400, "user_key", "missing"),
        ("unknown field", {**good, "password": "x"}, "text/plain", 400, "password", "unknown field"),
        (
            "server field",
            {**good, "received_at": "2020-01-01T00:00:00Z"},
            "text/plain",
            400,
            "received_at",
            "set by the server",
        ),
        ("bad type value", {**good, "type": "hover"}, "text/plain", 400, "type", "must be one of"),
        ("out of range", {**good, "y": 1_000_001}, "text/plain", 400, "y", "maximum"),
        ("negative", {**good, "spent_milli_sec": -1}, "text/plain", 400, "spent_milli_sec", "minimum"),
        ("float count", {**good, "load_count": 1.5}, "text/plain", 400, "load_count", "must be integer"),
        (
            "timestamp without zone",
            {**good, "timestamp": "2026-11-27T10:00:00"},
            "text/plain",
            400,
            "timestamp",
            "does not match",
        ),
        (
            "long url",
            {**good, "current_page": "http://a/" + "p" * 8200},
            "text/plain",
            400,
            "current_page",
            "too long: at most 8192",
        ),
        ("long string", {**good, "user_agent": "u" * 2049}, "text/plain", 400, "user_agent", "too long: at most 2048"),
        ("click without x", {**good, "x": None}, "text/plain", 400, "x", "must be number"),
        ("move without points", {**good, "type": "move", "x": None, "y": None}, "text/plain", 400, "points", "missing"),
        (
            "too many points",
            {**good, "type": "move", "x": None, "y": None, "points": [[1, 2, 3]] * 301},
            "text/plain",
            400,
            "points",
            "too long",
        ),
        (
            "point off the page",
            {**good, "type": "move", "x": None, "y": None, "points": [[1, 2_000_000, 3]]},
            "text/plain",
            400,
            "points.0.1",
            "maximum",
        ),
        (
            "short point",
            {**good, "type": "move", "x": None, "y": None, "points": [[1, 2]]},
            "text/plain",
            400,
            "points.0",
            "too short",
        ),
        (
            "attention of 9",
            {**good, "type": "pageleave", "attention": [1] * 9},
            "text/plain",
            400,
            "attention",
            "too short",
        ),
        ("dead not boolean", {**good, "dead": "yes"}, "text/plain", 400, "dead", "must be boolean"),
        (
            "deep props",
            {**good, "type": "custom", "props": {"a": {"b": {"c": {"d": 1}}}}},
            "text/plain",
            400,
            "props",
            "deeper",
        ),
        ("big props", {**good, "type": "custom", "props": {"a": "x" * 9000}}, "text/plain", 400, "props", "bytes"),
        ("too many events", [make_event(token) for _ in range(51)], "text/plain", 413, "body", "limit is 50"),
        (
            "oversize body",
            [make_event(token, text="t" * 2000) for _ in range(40)],
            "text/plain",
            413,
            "body",
            "larger than",
        ),
        (
            "wrong content type",
            good,
            "application/x-www-form-urlencoded",
            415,
            "Content-Type",
            "must be application/json",
        ),
        ("no content type", good, "", 415, "Content-Type", "none"),
        ("unknown token", {**good, "token": "nope"}, "text/plain", 403, "token", "unknown token"),
    ]


@pytest.mark.parametrize("index", range(31), ids=[c[0] for c in cases("t")])
def test_bad_input_gets_a_clear_4xx(collector, redis, index):
    name, body, content_type, status, field, words = cases(collector.token)[index]
    got, headers, answer = post(collector.url + "/logs", body, content_type)
    assert got == status, answer
    assert headers["Content-Type"] == "application/json"
    assert answer["field"] == field, answer
    assert words in answer["error"] or any(
        words in e["reason"] for r in answer.get("rejected", []) for e in r["errors"]
    ), answer
    assert EventQueue(redis).state().length == 0


def test_good_events_beside_bad_ones_are_kept(collector, redis):
    good = [make_event(collector.token) for _ in range(3)]
    body = [good[0], {**good[0], "event_id": "bad id!"}, good[1], {"what": 1}, good[2], {**good[0], "token": "nope"}]
    status, _, answer = post(collector.url + "/logs", body)
    assert status == 202
    assert answer["accepted"] == 3 and answer["duplicates"] == 0
    assert [r["index"] for r in answer["rejected"]] == [1, 3, 5]
    assert answer["rejected"][0]["errors"] == [{"field": "event_id", "reason": "does not match ^[A-Za-z0-9_-]+$"}]
    assert answer["rejected"][2]["errors"] == [{"field": "token", "reason": "unknown token"}]
    queued = [json.loads(x)["event_id"] for x in redis.lrange("logdig:queue", 0, -1)]
    assert queued == [e["event_id"] for e in good]
    stats = EventQueue(redis).stats()
    assert stats["accepted"] == 3 and stats["rejected:invalid"] == 2 and stats["rejected:unknown_token"] == 1


def test_origins_are_enforced_through_the_origin_header_and_cors(local_settings, redis):
    site = Sites(redis).create("shop", ["https://shop.example"])
    c = start_collector(local_settings, token=site.token)
    try:
        event = make_event(site.token)
        ok = post(c.url + "/logs", [event], headers={"Origin": "https://shop.example"})
        assert ok[0] == 202 and ok[1]["Access-Control-Allow-Origin"] == "https://shop.example"
        refused = post(c.url + "/logs", [make_event(site.token)], headers={"Origin": "https://evil.example"})
        assert refused[0] == 403 and "origin" in refused[2]["error"]
        assert "Access-Control-Allow-Origin" not in refused[1]
        no_origin = post(c.url + "/logs", [make_event(site.token)])
        assert no_origin[0] == 403  # a restricted token needs a page origin
    finally:
        c.stop()
    assert redis.llen("logdig:queue") == 1


def test_a_full_queue_answers_503_with_retry_after(local_settings, redis):
    c = start_collector(local_settings.replace(queue_max=5))
    try:
        assert post(c.url + "/logs", [make_event(c.token) for _ in range(5)])[0] == 202
        status, headers, answer = post(c.url + "/logs", [make_event(c.token)])
        assert status == 503 and headers["Retry-After"] and answer["field"] == "queue"
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(c.url + "/readyz")
        with e.value:
            assert e.value.code == 503
    finally:
        c.stop()
    assert redis.llen("logdig:queue") == 5

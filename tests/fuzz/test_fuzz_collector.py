"""Bad input at scale: schemathesis from /openapi.json, and hypothesis strategies for
malformed events. Zero 5xx, every rejection a 4xx JSON error naming the problem, and
no invalid event queued or stored.

The app runs in-process (WSGI) on fakeredis with its Lua scripts, so thousands of
cases take seconds; the real-Redis HTTP path is covered by tests/integration.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from redis import Redis

from logdig.config import Settings
from logdig.events import schema
from logdig.queue import Sites
from tests.helpers import make_event
from web import create_app

pytestmark = pytest.mark.fuzz

STORED = Draft7Validator(schema())

# Counted by the tests below, so the suite proves how many cases it ran.
CASES = {"schemathesis": 0, "hypothesis": 0, "deep": 0}


@pytest.fixture(scope="module")
def fuzz(redis_server):
    """The collector in-process (WSGI, no sockets) on a real redis-server."""
    redis = Redis.from_url(redis_server)
    redis.flushall()
    token = Sites(redis).create("fuzz").token
    app = create_app(Settings(max_events=50, max_body=64 * 1024, rate_ip=0, rate_token=0), redis=redis)
    yield SimpleNamespace(app=app, redis=redis, token=token, client=app.test_client())
    redis.flushall()
    redis.close()


@pytest.fixture(scope="module")
def api(fuzz):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz.app)


# The Stats API (/api/v1/) is fuzzed with a valid key in tests/integration/test_stats_api.py:
# here, without one, its 5 operations would only ever answer 401, at 1,500 cases each.
API = schemathesis.pytest.from_fixture("api").exclude(path_regex=r"^/api/")


def assert_clean_answer(status: int, body: bytes, content_type: str) -> None:
    assert status < 500, (status, body[:500])
    if status >= 400 and status != 405:
        assert content_type.startswith("application/json"), content_type
        answer = json.loads(body)
        assert answer["field"] and answer["error"] and answer["status"] == status
        assert b"Traceback" not in body


def assert_queue_valid(redis) -> None:
    for line in redis.lrange("logdig:queue", 0, -1):
        STORED.validate(json.loads(line))


@API.parametrize()
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis(case, fuzz):
    CASES["schemathesis"] += 1
    response = case.call()
    headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()}
    assert_clean_answer(response.status_code, response.content, headers.get("content-type", ""))
    case.validate_response(
        response,
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.response_schema_conformance,
        ],
    )


# -- hypothesis: events that are almost right ---------------------------------------------

# Text with any code point, lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=50)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), ANY_TEXT)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
FIELDS = list(schema()["properties"])


@st.composite
def mutated_events(draw):
    event = make_event("TOKEN", event_id=draw(st.text("abcXYZ019_-", min_size=1, max_size=20)))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if action == "set":
            event[draw(st.sampled_from(FIELDS))] = draw(JSON)
        elif action == "drop" and event:
            event.pop(draw(st.sampled_from(sorted(event))))
        else:
            event[draw(st.text(max_size=8))] = draw(JSON)
    return event


BODIES = st.one_of(
    mutated_events().map(json.dumps),
    st.lists(mutated_events(), max_size=8).map(json.dumps),
    JSON.map(json.dumps),
    mutated_events().map(lambda e: json.dumps(e, ensure_ascii=False)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@given(body=BODIES, content_type=st.sampled_from(["text/plain", "application/json", "text/plain;charset=UTF-8"]))
@settings(max_examples=8600, deadline=None, suppress_health_check=list(HealthCheck))
def test_hypothesis_malformed_events(fuzz, body, content_type):
    CASES["hypothesis"] += 1
    data = body.replace("TOKEN", fuzz.token).encode("utf-8", "surrogatepass")
    response = fuzz.client.post("/logs", data=data, content_type=content_type)
    assert_clean_answer(response.status_code, response.data, response.content_type)
    if response.status_code == 202:
        answer = response.json
        sent = json.loads(body)
        n = len(sent) if isinstance(sent, list) else 1
        assert answer["accepted"] + answer["duplicates"] + answer.get("rejected_count", len(answer["rejected"])) == n


# -- hypothesis: values nested 0..2000 levels deep, in any field ----------------------------


def nested_text(depth: int, kind: str) -> str:
    """JSON text `depth` levels deep, built as text: json.dumps would recurse."""
    opener = {"dict": lambda i: '{"a":', "list": lambda i: "[", "mixed": lambda i: '{"a":' if i % 2 else "["}[kind]
    closer = {"{": "}", "[": "]"}
    opens = [opener(i) for i in range(depth)]
    return "".join(opens) + "1" + "".join(closer[o[0]] for o in reversed(opens))


@st.composite
def deep_events(draw):
    """An event with one to three fields (known or not) nested 0..2000 levels deep."""
    event = make_event("TOKEN", type=draw(st.sampled_from(["custom", "click"])))
    # props (the one field that may nest) drawn more often; depths past Python's recursion
    # limit but under orjson's (1,024) too, where the holes were
    names = draw(st.lists(st.sampled_from(["props"] * 8 + [*FIELDS, "extra"]), min_size=1, max_size=3, unique=True))
    values = {}
    for i, name in enumerate(names):
        event[name] = f"@@DEEP{i}@@"
        values[f'"@@DEEP{i}@@"'] = nested_text(
            draw(st.integers(0, 2000) | st.integers(400, 1100)), draw(st.sampled_from(["dict", "list", "mixed"]))
        )
    text = json.dumps(event)
    for mark, value in values.items():
        text = text.replace(mark, value)
    return text


DEEP_BODIES = st.one_of(
    deep_events(),
    # mixed with good events: the good ones must still be taken
    st.lists(st.one_of(deep_events(), st.builds(lambda: json.dumps(make_event("TOKEN")))), min_size=1, max_size=6).map(
        lambda events: "[" + ",".join(events) + "]"
    ),
)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@given(body=DEEP_BODIES)
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_hypothesis_deep_values(fuzz, body):
    CASES["deep"] += 1
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        response = fuzz.client.post("/logs", data=body.replace("TOKEN", fuzz.token), content_type="text/plain")
    finally:
        logging.getLogger().removeHandler(errors)
    assert_clean_answer(response.status_code, response.data, response.content_type)
    assert not errors.records, [r.getMessage() for r in errors.records]  # no traceback in the log
    sent = orjson.loads(body) if response.status_code == 202 else None  # it took them: <= 1,024 deep
    if sent is not None:
        n = len(sent) if isinstance(sent, list) else 1
        answer = response.json
        assert answer["accepted"] + answer["duplicates"] + answer.get("rejected_count", len(answer["rejected"])) == n


def test_zz_enough_cases_ran_and_nothing_invalid_was_queued(fuzz):
    assert_queue_valid(fuzz.redis)
    total = CASES["schemathesis"] + CASES["hypothesis"] + CASES["deep"]
    print(f"fuzz cases: {CASES} total {total}; queued events {fuzz.redis.llen('logdig:queue')}, all valid")
    if CASES["hypothesis"]:  # only when the whole module ran
        assert total >= 10_000


def event_body(**fields) -> bytes:
    return json.dumps(make_event("TOKEN", **fields)).encode()


NAMED = {
    # name: (body with TOKEN as the placeholder, content type, expected status)
    "invalid UTF-8": (b"\xff\xfe{}", "text/plain", 400),
    "lone surrogate": (event_body(text="a").replace(b'"text": "a"', b'"text": "\\udc00x"'), "text/plain", 400),
    # encoded as UTF-8 bytes, in a field with a pattern (the fast decoder's regex needs text)
    "surrogate bytes in a timestamp": (
        event_body().replace(b'"timestamp": "', b'"timestamp": "\xed\xa0\x80', 1),
        "text/plain",
        400,
    ),
    "NUL and control characters": (event_body(text="a\x00b\x07c\x1b"), "text/plain", 202),
    "NaN": (event_body().replace(b'"x": 110', b'"x": NaN'), "text/plain", 400),
    "Infinity": (event_body().replace(b'"y": 400', b'"y": -Infinity'), "text/plain", 400),
    "number too large": (event_body(x=10**400), "text/plain", 400),
    "1 MB string": (event_body(text="s" * 1_000_000), "text/plain", 400),
    "deep props": (
        event_body(type="custom").replace(
            b'"type": "custom"', b'"type": "custom", "props": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000
        ),
        "text/plain",
        400,
    ),
    # 500-1,000 levels: under orjson's limit, past Python's recursion (once a 500)
    "props 900 deep": (
        event_body(type="custom").replace(
            b'"type": "custom"', b'"type": "custom", "props": ' + nested_text(900, "dict").encode()
        ),
        "text/plain",
        400,
    ),
    "link 900 deep, as lists": (
        event_body().replace(
            b'"link": "http://site.example/page.html"', b'"link": ' + nested_text(900, "list").encode()
        ),
        "text/plain",
        400,
    ),
    "100,000 events": (json.dumps([{"a": 1}] * 100_000).encode(), "text/plain", 413),
    "10 MB body": (b"[" + b" " * 10_000_000 + b"]", "text/plain", 413),
    "wrong content type": (event_body(), "multipart/form-data", 415),
    "missing content type": (event_body(), None, 415),
    "year 1970": (event_body(timestamp="1970-01-01T00:00:00Z"), "text/plain", 202),
    "year 3000": (event_body(timestamp="3000-01-01T00:00:00Z"), "text/plain", 202),
    "negative x": (event_body(x=-5), "text/plain", 400),
    "huge y": (event_body(y=1e300), "text/plain", 400),
    "unknown token": (json.dumps(make_event("not-a-token")).encode(), "text/plain", 403),
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_hostile_cases(fuzz, name):
    body, content_type, status = NAMED[name]
    client = create_app(Settings(rate_ip=0), redis=fuzz.redis).test_client()  # the default limits
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/logs", data=body.replace(b"TOKEN", fuzz.token.encode()), **kwargs)
    assert response.status_code == status, (name, response.data[:300])
    assert_clean_answer(response.status_code, response.data, response.content_type)
    assert len(response.data) < 10_000, "the answer must not echo the input"
    assert_queue_valid(fuzz.redis)


def test_a_foreign_origin_with_a_known_token(fuzz):
    site = Sites(fuzz.redis).create("shop", ["https://shop.example"])
    client = fuzz.client
    response = client.post("/logs", json=make_event(site.token), headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "origin" in response.json["error"]
    assert "Access-Control-Allow-Origin" not in response.headers


def test_duplicate_event_ids_in_one_batch(fuzz):
    event = make_event(fuzz.token)
    response = fuzz.client.post("/logs", json=[event, event, event])
    assert response.status_code == 202 and response.json == {"accepted": 1, "duplicates": 2, "rejected": []}

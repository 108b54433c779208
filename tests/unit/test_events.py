"""The schema's checks, without services."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft7Validator

from logdig.events import ClientError, check_event, parse_body, received_at, schema, stored_line
from tests.helpers import make_event


def test_the_schema_file_is_valid_json_schema():
    Draft7Validator.check_schema(schema())


def test_the_minimum_event_is_valid_and_non_clicks_may_have_null_coordinates():
    assert check_event(make_event("t")) == []
    assert check_event(make_event("t", type="pageview", x=None, y=None, link=None)) == []


def test_stored_events_validate_against_the_schema():
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    stored = json.loads(stored_line(make_event("t", spent_milli_sec=12.7, x=3), now))
    Draft7Validator(schema()).validate(stored)
    assert stored["received_at"] == "2026-01-02T03:04:05.678Z"
    assert stored["timestamp"] == "2026-11-27T10:00:00.000Z"
    assert stored["x"] == 3.0 and isinstance(stored["x"], float)
    assert stored["spent_milli_sec"] == 13
    assert stored["browser"] == "Chrome" and stored["bot"] is False


def test_crawlers_are_marked():
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    assert json.loads(stored_line(make_event("t", user_agent=ua), datetime.now(UTC)))["bot"] is True


def test_timestamps_need_a_zone_and_are_kept_as_sent():
    for ok in ("2026-11-27T10:00:00Z", "2026-11-27T10:00:00.123456+09:00", "2026-11-27T10:00+0900"):
        assert check_event(make_event("t", timestamp=ok)) == []
    for bad in ("2026-11-27 10:00:00", "2026-11-27T10:00:00", "yesterday", 1700000000):
        assert check_event(make_event("t", timestamp=bad))[0]["field"] == "timestamp"


def test_parse_body_accepts_one_event_or_an_array():
    assert len(parse_body(json.dumps(make_event("t")).encode(), 10)) == 1
    assert len(parse_body(json.dumps([make_event("t")] * 3).encode(), 10)) == 3
    with pytest.raises(ClientError) as e:
        parse_body(json.dumps([make_event("t")] * 11).encode(), 10)
    assert e.value.status == 413


def test_received_at_is_utc_with_milliseconds():
    assert received_at(datetime(2026, 5, 6, 7, 8, 9, 999999, tzinfo=UTC)) == "2026-05-06T07:08:09.999Z"


def test_booleans_are_not_numbers():
    assert check_event(make_event("t", x=True))[0]["field"] == "x"
    assert check_event(make_event("t", load_count=False))[0]["field"] == "load_count"


def test_the_day_comes_from_the_servers_received_at_even_if_props_holds_one():
    from logdig.events import received_day

    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    event = make_event("t", type="custom", props={"received_at": "1999-01-01T00:00:00Z"})
    assert received_day(stored_line(event, now)) == "2026-03-04"
    assert received_day(b'{"received_at":"2026-01-02T00:00:00.000Z"}') == "2026-01-02"

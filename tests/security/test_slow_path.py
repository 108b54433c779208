"""Found from outside: bodies that cost the collector 60x a valid one without being
refused early. 260 valid move events of 300 points each, but with `"load_count": 1.0`,
took every event through jsonschema (4.5 s for 1 MB, against 0.07 s); wrong points cost
20 ms an event to explain. Ten connections at one request a second starved the
collector. jsonschema must not walk long arrays, nor see valid events at all."""

from __future__ import annotations

import json
import uuid

import pytest

from logdig import events
from tests.helpers import make_event, post

POINTS = [[1.5, 2.5, 3]] * 300


def move(**fields):
    return make_event("tok", type="move", link=None, x=None, y=None, points=list(POINTS), **fields)


@pytest.fixture
def schema_calls(monkeypatch):
    """Every instance jsonschema is asked about (the validator wrapped, still answering)."""
    seen = []
    real = events._validator()

    class Spy:
        def iter_errors(self, instance):
            seen.append(instance)
            return real.iter_errors(instance)

        def is_valid(self, instance):
            seen.append(instance)
            return real.is_valid(instance)

    monkeypatch.setattr(events, "_validator", lambda: Spy())
    return seen


def body(items) -> bytes:
    return json.dumps(items).encode()


def test_valid_events_with_an_integral_float_never_reach_jsonschema(schema_calls):
    checked = events.read_events(body([move(load_count=1.0) for _ in range(50)]), 1000)
    assert len(checked.valid) == 50 and checked.valid[0][1].load_count == 1
    assert schema_calls == []


def test_explaining_a_wrong_point_shows_jsonschema_one_point_and_names_it(schema_calls):
    bad = move()
    bad["points"] = [*POINTS[:299], [1.5, 2.5, -3]]
    checked = events.read_events(body([bad] * 30), 1000)
    assert checked.invalid == 30 and len(checked.rejected) == events.MAX_EXPLAINED
    assert checked.rejected[0]["errors"] == [{"field": "points.299.2", "reason": "below the minimum of 0"}]
    assert schema_calls and all(len(i.get("points", [])) <= 1 for i in schema_calls)


def test_too_many_points_is_named_without_walking_them(schema_calls):
    long = move()
    long["points"] = [[1, 2, 3]] * 301
    errors = events.check_event(long)
    assert errors == [{"field": "points", "reason": "too long: at most 300 items"}]
    assert all(len(i.get("points", [])) <= 1 for i in schema_calls)


def test_a_wrong_point_in_a_valid_looking_event_past_the_explained_ones_is_still_refused():
    bad = move()
    bad["points"] = [*POINTS[:150], [1.5, 2e6, 3], *POINTS[:149]]
    checked = events.read_events(body([bad] * 25 + [move()]), 1000)
    assert checked.invalid == 25 and len(checked.valid) == 1
    assert checked.rejected[0]["errors"] == [{"field": "points.150.1", "reason": "above the maximum of 1000000"}]


@pytest.mark.integration
def test_the_collector_names_the_wrong_point(live_collector):
    bad = make_event(live_collector.token, type="move", link=None, x=None, y=None, points=[[1, 2, 3]] * 40)
    bad["points"][37] = [1, "two", 3]
    good = make_event(live_collector.token, type="move", link=None, x=None, y=None, points=POINTS, load_count=2.0)
    good["event_id"] = uuid.uuid4().hex
    status, _, answer = post(live_collector.url + "/logs", [bad, good])
    assert status == 202 and answer["accepted"] == 1
    assert answer["rejected"] == [{"index": 0, "errors": [{"field": "points.37.1", "reason": "must be number"}]}]

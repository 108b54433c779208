"""The msgspec Struct compiled from event.schema.json takes exactly what the schema takes."""

from __future__ import annotations

import json

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from logdig.event_schema import SERVER_FIELDS, _field_type, _rule, schema
from logdig.events import ClientError, check_event, read_events
from tests.helpers import make_event

FIELDS = list(schema()["properties"])
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 5.0, 12.5, -0.0, 1e6, 1e6 + 0.5, 100, 100.5, 2**31 - 1, 2**31, 1e11, 1e11 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "click", "pageview", "exposure", "2026-11-27T10:00:00Z", "2026-11-27T10:00Z\n", "a b"]),
    st.sampled_from(["x" * 64, "x" * 65, "é" * 2048, "😀" * 2049, "1" * 2049]),
    st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=3),
    st.lists(st.integers(), max_size=2),
    # move points ([x, y, ms] triples) and attention (10 numbers), good and bad
    st.lists(
        st.lists(st.sampled_from([0, 1.5, 7, -1, 1e6, 1e6 + 1, 1e11 + 1, True, "1"]), min_size=2, max_size=4),
        max_size=3,
    ),
    st.lists(st.sampled_from([0, 3.5, 1e11, -1, 1e11 + 1]), min_size=9, max_size=11),
)


@st.composite
def events(draw):
    event = make_event("tok", event_id=draw(st.sampled_from(["e1", "e-2_3", "bad id", "é", "x" * 65])))
    event["type"] = draw(st.sampled_from(["click", "pageview", "custom", "move"]))
    if event["type"] == "move" and draw(st.booleans()):
        event["points"] = [[10, 20, 300], [11.5, 0, 1e11]]
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        event[name] = draw(ODD_VALUES)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        event.pop(name, None)
    if draw(st.booleans()):
        event[draw(st.sampled_from(["extra", "Type", ""]))] = 1
    return event


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=4))
def test_the_fast_path_takes_exactly_what_the_schema_takes(batch):
    validator = Draft7Validator(schema())
    checked = read_events(json.dumps(batch).encode(), max_events=10)
    taken = {index for index, _ in checked.valid}
    for index, event in enumerate(batch):
        # the oracle: jsonschema itself (the generated props are small and shallow)
        schema_ok = validator.is_valid(event) and not any(f in event for f in SERVER_FIELDS)
        assert (index in taken) == schema_ok, event
        assert (check_event(event) == []) == schema_ok, event
    for index, event in checked.valid:
        # what is stored is what was sent as the JSON parser reads it (integers past
        # 64 bits become doubles), typed as the schema says
        sent = orjson.loads(json.dumps(batch[index]))
        stored = orjson.loads(msgspec.json.encode(event))
        assert stored.keys() == sent.keys()
        assert all(stored[k] == sent[k] for k in sent), (stored, sent)


def test_a_schema_keyword_the_struct_cannot_express_is_refused_not_ignored():
    with pytest.raises(ValueError, match="format"):
        _field_type({"type": "string", "format": "uri"})
    with pytest.raises(ValueError, match="allOf"):
        _rule({"if": {"properties": {"type": {"const": "click"}}}, "then": {"required": ["x"]}})


def test_arrays_translate_to_lists_and_tuples_with_their_limits():
    point = {"type": "number", "minimum": 0, "maximum": 1}
    kind = _field_type(
        {
            "type": "array",
            "maxItems": 2,
            "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": [point, point]},
        }
    )
    assert msgspec.convert([[0, 1]], kind) == [(0, 1)]
    for bad in ([[0, 1, 1]], [[0, 2]], [[0, 1]] * 3, [[0]]):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, kind)
    with pytest.raises(ValueError, match="tuple"):
        _field_type({"type": "array", "items": [point, point]})
    with pytest.raises(ValueError, match="array"):
        _field_type({"type": "array", "items": {"type": "number"}, "uniqueItems": True})


def test_move_and_attention_values_are_checked_and_named():
    good = make_event("t", type="move", x=None, y=None, points=[[1, 2, 3], [4.5, 1e6, 1e11]])
    leave = make_event("t", type="pageleave", x=None, y=None, attention=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9.5])
    bad = {
        "points": make_event("t", type="move", x=None, y=None, points=[[1, 2, 3]] * 301),
        "attention": make_event("t", type="pageleave", x=None, y=None, attention=[1] * 9),
        "dead": make_event("t", dead="yes"),
        "interactive": make_event("t", interactive=1),
    }
    no_points = make_event("t", type="move", x=None, y=None)
    out_of_range = make_event("t", type="move", x=None, y=None, points=[[1e6 + 1, 0, 0]])
    checked = read_events(orjson.dumps([good, leave, *bad.values(), no_points, out_of_range]), max_events=10)
    assert [i for i, _ in checked.valid] == [0, 1]
    named = [r["errors"][0]["field"] for r in checked.rejected]
    assert named[:4] == list(bad) and named[5].startswith("points"), checked.rejected
    assert "points" in named[4], checked.rejected


def test_a_click_without_coordinates_takes_the_slow_path_and_is_named():
    checked = read_events(orjson.dumps([make_event("t"), make_event("t", x=None)]), max_events=10)
    assert [i for i, _ in checked.valid] == [0]
    assert checked.rejected[0]["errors"][0]["field"] == "x"


def test_what_the_fast_decoder_cannot_take_goes_the_slow_way_not_to_a_500():
    deep = b'{"a":' * 3000 + b"1" + b"}" * 3000
    body = json.dumps(make_event("t", type="custom", props="@")).encode().replace(b'"@"', deep)
    with pytest.raises(ClientError) as e:
        read_events(body, max_events=10)
    assert e.value.status == 400 and e.value.field == "body"
    huge = json.dumps(make_event("t", type="custom", props={"n": 2**70})).encode()
    checked = read_events(huge, max_events=10)
    assert len(checked.valid) == 1 and checked.valid[0][1].props == {"n": float(2**70)}

"""A request's events: decode and check them against the schema (logdig.stored then
encodes them as stored lines with what the server adds).

The schema is logdig/event.schema.json (see logdig.event_schema). Checks JSON
Schema cannot express - finite numbers, the size and depth of `props`, fields only
the server may set - live here, next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
import orjson
from jsonschema import Draft7Validator

from logdig.event_schema import ARRAY_FIELDS, INTEGER_FIELDS, SERVER_FIELDS, Event, conforms, schema
from logdig.stored import (
    URL_FIELDS,
    Privacy,
    StoredLines,
    received_at,
    received_day,
    truncate_ip,
    user_agent,
)

# Re-exported: the schema's and the stored lines' users import them from here.
__all__ = [
    "SERVER_FIELDS",
    "URL_FIELDS",
    "Event",
    "Privacy",
    "StoredLines",
    "received_at",
    "received_day",
    "schema",
    "truncate_ip",
    "user_agent",
]

PROPS_MAX_BYTES = 8 * 1024
PROPS_MAX_DEPTH = 3
# No field may nest deeper than props may; checked without recursion before any
# recursive code (msgspec, jsonschema, orjson, repr) sees a client's value.
MAX_DEPTH = PROPS_MAX_DEPTH
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
# Rejected events explained (jsonschema, error by error) per request; the rest are only
# counted. An explanation costs ~15x a valid event's check: 1,000 would be a cheap flood.
MAX_EXPLAINED = 20


class ClientError(Exception):
    """A request we cannot take at all. `status` is the HTTP answer, `kind` the metric
    label of the rejection. The tracker never retries these (except 503)."""

    def __init__(self, status: int, field: str, reason: str, kind: str = "invalid", **extra: Any):
        super().__init__(f"{field}: {reason}")
        self.status, self.field, self.reason, self.kind, self.extra = status, field, reason, kind, extra

    def body(self) -> dict[str, Any]:
        return {"error": self.reason, "field": self.field, **self.extra}


@dataclass
class Checked:
    """The outcome of validating one request's events."""

    valid: list[tuple[int, Event]] = field(default_factory=list)  # (index, event)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_EXPLAINED, explained
    invalid: int = 0  # every rejected event, listed or not


@cache
def _validator() -> Draft7Validator:
    """jsonschema lists every error with its path; used only once an event has failed."""
    return Draft7Validator(schema())


def parse_body(body: bytes, max_events: int) -> list[Any]:
    """Decode a POST /logs body into a list of (unchecked) events.

    orjson refuses what would later break storage or Spark: invalid UTF-8, lone
    surrogates, NaN and Infinity, nesting deeper than 1,024.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        reason = f"not UTF-8: {e}" if "UTF-8" in str(e) else f"malformed JSON: {e}"
        raise ClientError(400, "body", reason, "malformed") from None
    events = data if isinstance(data, list) else [data]
    if not events:
        raise ClientError(400, "body", "an empty array holds no events")
    if len(events) > max_events:
        raise ClientError(413, "body", f"{len(events)} events in one request; the limit is {max_events}", "too_large")
    return events


def deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests objects/arrays more than `limit` levels deep.

    A loop over an explicit stack, never recursion: a 4 KB body can nest 1,000 levels,
    which recursion (ours, jsonschema's, repr's) turns into a RecursionError. Depth-first,
    so a deep chain is found after about `limit` steps and the walk stops there.
    """
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _path(error: Any) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # "'x' is a required property": name the missing field itself.
        parts.append(error.message.split("'")[1])
    elif error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ",".join(name or '""' for name in extra)
    return ".".join(parts) or "event"


def _reason(error: Any) -> str:
    """The reason in words, never echoing the value: it may be a megabyte of anything."""
    rule, limit = error.validator, error.validator_value
    if rule == "required":
        return "missing"
    if rule == "additionalProperties":
        return "unknown field"
    if rule == "type":
        return f"must be {' or '.join(limit) if isinstance(limit, list) else limit}"
    if rule == "enum":
        return f"must be one of {', '.join(map(str, limit))}"
    if rule == "maxLength":
        return f"too long: at most {limit} characters"
    if rule == "minLength":
        return f"too short: at least {limit} characters"
    if rule == "maxItems":
        return f"too long: at most {limit} items"
    if rule == "minItems":
        return f"too short: at least {limit} items"
    if rule == "maximum":
        return f"above the maximum of {limit}"
    if rule == "minimum":
        return f"below the minimum of {limit}"
    if rule == "pattern":
        return f"does not match {limit}"
    return error.message[:200]


def _props_problems(props: dict[str, Any], size: int | None = None) -> list[dict[str, str]]:
    """The size of `props`, once its depth is known to be within MAX_DEPTH."""
    errors = []
    size = len(msgspec.json.encode(props)) if size is None else size  # msgspec: any integer
    if size > PROPS_MAX_BYTES:
        errors.append({"field": "props", "reason": f"{size} bytes serialised; the limit is {PROPS_MAX_BYTES}"})
    return errors


def _to_event(fields: dict[str, Any], strict: bool) -> Event:
    """The Struct's checks, then the schema's conditional rules; ValidationError if either fails."""
    event = msgspec.convert(fields, Event, strict=strict)
    if not conforms(event):
        raise msgspec.ValidationError("the schema's conditional rules")
    return event


def _split(event: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """(errors no validator needs to find, the fields left to validate): fields only the
    server sets, and fields nested too deep, which are kept away from every recursive check."""
    errors = [{"field": f, "reason": "set by the server; do not send it"} for f in SERVER_FIELDS if f in event]
    clean = {}
    for name, value in event.items():
        if name in SERVER_FIELDS:
            continue
        if isinstance(value, (dict, list)) and deeper_than(value, MAX_DEPTH):
            errors.append({"field": name or '""', "reason": TOO_DEEP})  # "" is a JSON key too
        elif isinstance(value, float) and name in INTEGER_FIELDS and value.is_integer() and abs(value) < 2**63:
            # 5.0 is an integer to JSON Schema; as 5 the event stays on the Struct's path in C
            # (a body of valid events each with 1.0 cost 60x a plain one in jsonschema).
            clean[name] = int(value)
        else:
            clean[name] = value
    return errors, clean


SHORT_ARRAY = 20  # items: jsonschema walks arrays this short itself


def _fits(item: Any, kind: Any) -> bool:
    try:
        msgspec.convert(item, kind, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def _for_jsonschema(clean: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, int]]:
    """(the event as jsonschema should see it, errors found without it, {field: index}).

    A long array's items are checked by the Struct's types in C; jsonschema then sees one
    item: the first wrong one (its path is put back from `offsets`), else the first. A
    body of 300-point arrays otherwise cost 20 ms an event in Python."""
    out, found, offsets = clean, [], {}
    for name, (kind, least, most) in ARRAY_FIELDS.items():
        value = clean.get(name)
        if not isinstance(value, list) or len(value) <= max(SHORT_ARRAY, least):
            continue
        if most is not None and len(value) > most:
            found.append({"field": name, "reason": f"too long: at most {most} items"})
            bad = 0
        elif _fits(value, list[kind]):  # one call in C for the whole array
            bad = 0
        else:
            bad = next((i for i, item in enumerate(value) if not _fits(item, kind)), 0)
        out, offsets[name] = {**out, name: value[bad : bad + max(least, 1)]}, bad
    return out, found, offsets


def _schema_errors(clean: dict[str, Any]) -> list[dict[str, str]]:
    """What jsonschema finds wrong with an event, by field."""
    seen, found, offsets = _for_jsonschema(clean)
    for e in _validator().iter_errors(seen):
        field = _path(e)
        name, _, rest = field.partition(".")
        if name in offsets and rest:  # name.0.2 -> name.<the item's own index>.2
            index, _, tail = rest.partition(".")
            field = ".".join(p for p in (name, str(int(index) + offsets[name]), tail) if p)
        found.append({"field": field, "reason": _reason(e)})
    return found


def _check(event: Any, explain: bool = True) -> tuple[list[dict[str, str]], Event | None]:
    """(what is wrong, the Event when nothing is) for one decoded event. Without
    `explain`, the errors say only that the event is invalid (no jsonschema listing)."""
    if not isinstance(event, dict):
        return [{"field": "event", "reason": f"must be a JSON object, got {type(event).__name__}"}], None
    errors, clean = _split(event)
    try:
        checked = _to_event(clean, strict=True)
    except msgspec.ValidationError:
        # jsonschema decides and explains. When it finds nothing the Struct was merely
        # stricter (5.0 for an integer): convert leniently, which gives 5.
        checked = None
        if explain:
            deep = {e["field"] for e in errors}  # taken out of `clean`: not "missing" too
            found = _schema_errors(clean)
            errors += [e for e in found if e["field"] not in deep]
        if not errors:
            try:
                checked = _to_event(clean, strict=False)
            except msgspec.ValidationError as e:
                errors.append({"field": "event", "reason": str(e)[:200]})
        # Past the explained ones: what even a lenient Struct refuses is refused (in C);
        # what it takes ("5" for 5 too) jsonschema confirms, stopping at the first error.
        if not explain and checked is not None and _schema_errors(clean):
            errors.append({"field": "event", "reason": "invalid"})
    if isinstance(clean.get("props"), dict):
        errors += _props_problems(clean["props"])
    return errors, None if errors else checked


def check_event(event: Any) -> list[dict[str, str]]:
    """All that is wrong with one event, as [{"field", "reason"}]; empty when it is valid."""
    return _check(event)[0]


def check_events(events: list[Any]) -> Checked:
    """Every event checked; the first MAX_EXPLAINED rejected ones explained, the rest counted."""
    checked = Checked()
    for index, event in enumerate(events):
        errors, valid = _check(event, explain=checked.invalid < MAX_EXPLAINED)
        if valid is not None:
            checked.valid.append((index, valid))
            continue
        if checked.invalid < MAX_EXPLAINED:
            checked.rejected.append({"index": index, "errors": errors})
        checked.invalid += 1
    return checked


_DECODE = msgspec.json.Decoder(list[Event] | Event)


def read_events(body: bytes, max_events: int) -> Checked:
    """Decode and check a POST /logs body.

    A body that is all valid events is decoded straight into Events (in C). Anything
    else takes the slow path, event by event, to say which events are wrong and why.
    """
    try:
        decoded = _DECODE.decode(body)
    # ValidationError is a DecodeError. Invalid UTF-8 inside a string with a pattern gives
    # UnicodeDecodeError (the regex needs text). Each: the slow path, where orjson explains.
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        decoded = None
    if decoded is not None:
        events = decoded if isinstance(decoded, list) else [decoded]
        if 0 < len(events) <= max_events and _all_valid(events):
            return Checked(valid=list(enumerate(events)))
    return check_events(parse_body(body, max_events))


def _all_valid(events: list[Event]) -> bool:
    """What the Struct could not check: the schema's conditional rules and `props`."""
    for event in events:
        if not conforms(event):
            return False
        if event.props is not msgspec.UNSET:
            if deeper_than(event.props, PROPS_MAX_DEPTH):  # before orjson's recursion sees it
                return False
            try:
                size = len(orjson.dumps(event.props))
            except TypeError:  # an integer past 64 bits: the slow path reads it as orjson does (a float)
                return False
            if _props_problems(event.props, size):
                return False
    return True


def stored_line(
    event: dict[str, Any],
    now: datetime,
    privacy: Privacy | None = None,
    ip: str | None = None,
    country: str | None = None,
) -> bytes:
    """One event as the collector would store it (for tests, tools and benchmarks)."""
    errors, checked = _check(event)
    if checked is None:
        raise ValueError(f"not a valid event: {errors}")
    return StoredLines(received_at(now), privacy or Privacy(), ip, country)(checked)

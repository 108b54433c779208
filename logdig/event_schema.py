"""The event schema: logdig/event.schema.json, and a msgspec Struct compiled from it.

The JSON Schema file is the one definition of an event: the OpenAPI spec publishes
it, jsonschema explains failures with it, the README documents it field by field.
The Struct is derived from it at import so that a valid body is decoded and checked
in C, about 2 us an event instead of 10 in Python.

The Struct must never accept what the schema refuses; it may refuse more (it takes
no 5.0 for an integer, for one): the collector then asks jsonschema, which decides.
tests/unit/test_event_schema.py checks that direction on generated events.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec

from logdig.sources import UTM_FIELDS

# Fields the schema documents (they are in every stored event) but only the server sets.
SERVER_FIELDS = ("received_at", "browser", "os", "device", "bot", "ip", "channel", "country", *UTM_FIELDS)


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files("logdig").joinpath("event.schema.json").read_text("utf-8"))


_TYPES: dict[str, Any] = {"string": str, "number": float, "integer": int, "boolean": bool, "object": dict[str, Any]}
_LIMITS = {"maxLength": "max_length", "minLength": "min_length", "pattern": "pattern", "minimum": "ge", "maximum": "le"}
_ARRAY_LIMITS = {"maxItems": "max_length", "minItems": "min_length"}


def _array_type(spec: dict[str, Any]) -> Any:
    """`type: array`: `items` one schema (a list of it) or a list of schemas (a tuple of
    exactly those, so minItems = maxItems = their number); minItems/maxItems as lengths."""
    unknown = set(spec) - {*_ARRAY_LIMITS, "type", "description", "items"}
    items = spec.get("items")
    if unknown or not isinstance(items, dict | list):
        raise ValueError(f"event.schema.json has an array event_schema.py does not translate: {spec}")
    meta = {_ARRAY_LIMITS[k]: v for k, v in spec.items() if k in _ARRAY_LIMITS}
    if isinstance(items, list):
        if spec.get("minItems") != len(items) or spec.get("maxItems") != len(items):
            raise ValueError(f"event.schema.json: a tuple array needs minItems = maxItems = {len(items)}: {spec}")
        return tuple[tuple(_field_type(item) for item in items)]
    return Annotated[list[_field_type(items)], msgspec.Meta(**meta)] if meta else list[_field_type(items)]


def _field_type(spec: dict[str, Any]) -> Any:
    if "enum" in spec:
        return Literal[tuple(spec["enum"])]
    if spec.get("type") == "array":
        return _array_type(spec)
    names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    unknown = set(names) - {*_TYPES, "null"} or set(spec) - {*_LIMITS, "type", "description"}
    if unknown:
        raise ValueError(f"event.schema.json uses {sorted(unknown)}, which event_schema.py does not translate")
    meta = {_LIMITS[k]: v for k, v in spec.items() if k in _LIMITS}
    result: Any = None
    for name in names:
        if name != "null":
            kind = Annotated[_TYPES[name], msgspec.Meta(**meta)] if meta else _TYPES[name]
            result = kind if result is None else result | kind
    return result | None if "null" in names else result


def _event_struct() -> type[msgspec.Struct]:
    """The client's fields, in the schema's order; absent optional fields stay absent (UNSET)."""
    spec = schema()
    if spec.get("additionalProperties") is not False:
        raise ValueError("event.schema.json must set additionalProperties: false")
    required = set(spec["required"])
    fields = []
    for name, field in spec["properties"].items():
        if name not in SERVER_FIELDS:
            kind = _field_type(field)
            fields.append((name, kind) if name in required else (name, kind, msgspec.UNSET))
    return msgspec.defstruct("Event", fields, kw_only=True, forbid_unknown_fields=True)


# The scalar types of _TYPES, as isinstance() takes them (a generic dict[...] it does not).
_PYTHON: dict[str, type] = {name: kind for name, kind in _TYPES.items() if isinstance(kind, type)} | {"array": list}


def _rule(rule: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """An allOf entry of the one shape the schema uses: "if field F is C, then fields
    P... have type T" -> (F, C, {P: Python type}). A field of type array must be present
    (the schema's rule says so with `required`)."""
    try:
        if set(rule) - {"description", "if", "then"} or set(rule["then"]) - {"properties", "required"}:
            raise KeyError
        ((name, test),) = rule["if"]["properties"].items()
        types = {p: _PYTHON[t["type"]] for p, t in rule["then"]["properties"].items() if set(t) == {"type"}}
        if set(test) != {"const"} or len(types) != len(rule["then"]["properties"]):
            raise KeyError
        # An array must be required (else an absent one would pass the schema but not conforms()).
        if {p for p, t in types.items() if t is list} != set(rule["then"].get("required", [])):
            raise KeyError
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"event.schema.json has an allOf rule event_schema.py does not translate: {rule}") from None
    return name, test["const"], types


Event = _event_struct()


def _kinds(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type", [])
    return kind if isinstance(kind, list) else [kind]


# Fields JSON Schema types "integer": it takes 5.0 for one, the strict Struct does not.
INTEGER_FIELDS = tuple(n for n, f in schema()["properties"].items() if "integer" in _kinds(f))
# Array fields: (the Struct type of an item, least and most items). msgspec checks a long
# array's items in C, so jsonschema, explaining an event, need not walk them in Python.
ARRAY_FIELDS = {
    n: (_field_type(f["items"]), f.get("minItems", 0), f.get("maxItems"))
    for n, f in schema()["properties"].items()
    if "array" in _kinds(f) and isinstance(f.get("items"), dict) and n not in SERVER_FIELDS
}
_RULES = [_rule(rule) for rule in schema().get("allOf", [])]


def conforms(event: Event) -> bool:
    """The schema's conditional rules (a click has coordinates), which a Struct cannot say."""
    for name, const, types in _RULES:
        if getattr(event, name) == const:
            for field, kind in types.items():
                if not isinstance(getattr(event, field), kind):
                    return False
    return True

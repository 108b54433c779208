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


def _field_type(spec: dict[str, Any]) -> Any:
    if "enum" in spec:
        return Literal[tuple(spec["enum"])]
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
_PYTHON: dict[str, type] = {name: kind for name, kind in _TYPES.items() if isinstance(kind, type)}


def _rule(rule: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """An allOf entry of the one shape the schema uses: "if field F is C, then fields
    P... have type T" -> (F, C, {P: Python type})."""
    try:
        if set(rule) - {"description", "if", "then"} or set(rule["then"]) != {"properties"}:
            raise KeyError
        ((name, test),) = rule["if"]["properties"].items()
        types = {p: _PYTHON[t["type"]] for p, t in rule["then"]["properties"].items() if set(t) == {"type"}}
        if set(test) != {"const"} or len(types) != len(rule["then"]["properties"]):
            raise KeyError
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"event.schema.json has an allOf rule event_schema.py does not translate: {rule}") from None
    return name, test["const"], types


Event = _event_struct()
_RULES = [_rule(rule) for rule in schema().get("allOf", [])]


def conforms(event: Event) -> bool:
    """The schema's conditional rules (a click has coordinates), which a Struct cannot say."""
    for name, const, types in _RULES:
        if getattr(event, name) == const:
            for field, kind in types.items():
                if not isinstance(getattr(event, field), kind):
                    return False
    return True

"""The collector's OpenAPI description, served at /openapi.json.

The event schema is the one file logdig/event.schema.json; it is embedded here, not
copied, so the spec cannot drift from what the collector validates.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from logdig.events import SERVER_FIELDS, schema
from web.api import spec as api_spec

ERROR = {
    "type": "object",
    "required": ["error", "field", "status"],
    "properties": {
        "error": {"type": "string", "description": "the reason, in words"},
        "field": {"type": "string", "description": "the field or part of the request at fault"},
        "status": {"type": "integer"},
        "rejected": {"$ref": "#/components/schemas/Rejected"},
        "rejected_count": {"$ref": "#/components/schemas/RejectedCount"},
    },
}


def _dialect_2020(spec: Any) -> Any:
    """The schema in OpenAPI 3.1's JSON Schema dialect (2020-12): a tuple is `prefixItems`
    (draft-07, the event schema's dialect, writes it as a list under `items`)."""
    if isinstance(spec, list):
        return [_dialect_2020(v) for v in spec]
    if not isinstance(spec, dict):
        return spec
    out = {k: _dialect_2020(v) for k, v in spec.items()}
    if isinstance(spec.get("items"), list):
        out["prefixItems"] = out.pop("items")
        out["items"] = False
    return out


def _client_event() -> dict[str, Any]:
    """The event as a client sends it: the stored schema without the server's fields."""
    event = {k: v for k, v in schema().items() if k not in ("$schema", "$id")}
    event["properties"] = {k: v for k, v in event["properties"].items() if k not in SERVER_FIELDS}
    return _dialect_2020(event)


@cache
def openapi() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LogDig collector and Stats API",
            "version": "1",
            "description": "Takes web activity events from clicktracker.js or any client.",
        },
        "paths": {
            "/": {
                "get": {
                    "summary": "Deployment check",
                    "responses": {"200": {"description": "Success", "content": text}},
                }
            },
            "/logs": {
                "post": {
                    "summary": "Send one event or an array of events",
                    "description": "application/json or text/plain (sendBeacon, no CORS preflight); the body is JSON either way.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Event"},
                                        {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                                    ]
                                }
                            },
                            **text,
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Taken; good events are kept even when others were rejected",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                        },
                        "400": api_spec.error_response(
                            "Bad JSON, shape or fields (a value nested deeper than 3 levels, too): nothing taken"
                        ),
                        "403": api_spec.error_response("Unknown token, or an Origin the token does not allow"),
                        "405": api_spec.error_response("Method not allowed"),
                        "413": api_spec.error_response(
                            "Body (however framed, chunked too) or event count over the limit"
                        ),
                        "415": api_spec.error_response("Content type is not application/json or text/plain"),
                        "429": api_spec.error_response(
                            "Rate limited: requests per client IP (charged before the body is read; "
                            "every 20 invalid events in a body count as one more), "
                            "events per token, or one IP's share of a token's events",
                            retry_after=True,
                        ),
                        "503": api_spec.error_response("Queue over capacity or Redis unreachable", retry_after=True),
                    },
                }
            },
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {
                "get": {
                    "summary": "Redis answers and the queue is under its cap",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
                }
            },
            "/metrics": {"get": {"summary": "Prometheus text", "responses": {"200": {"description": "metrics"}}}},
            **api_spec.paths(),  # the Stats API (web/api/spec.py)
        },
        "components": {
            "securitySchemes": api_spec.components()["securitySchemes"],
            "schemas": {
                **api_spec.components()["schemas"],
                "Event": _client_event(),
                "Error": ERROR,
                "RejectedCount": {
                    "type": "integer",
                    "minimum": 21,
                    "description": "How many events were rejected in all; present only when `rejected` "
                    "was cut to its first 20 (past those, events are checked but not explained).",
                },
                "Rejected": {
                    "type": "array",
                    "maxItems": 20,
                    "description": "The first 20 rejected events, by index, each with what is wrong.",
                    "items": {
                        "type": "object",
                        "required": ["index", "errors"],
                        "properties": {
                            "index": {"type": "integer", "minimum": 0},
                            "errors": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["field", "reason"],
                                    "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["accepted", "duplicates", "rejected"],
                    "properties": {
                        "accepted": {"type": "integer", "minimum": 0},
                        "duplicates": {"type": "integer", "minimum": 0},
                        "rejected": {"$ref": "#/components/schemas/Rejected"},
                        "rejected_count": {"$ref": "#/components/schemas/RejectedCount"},
                    },
                },
            },
        },
    }

"""The Stats API's part of /openapi.json (merged in by web.openapi)."""

from __future__ import annotations

from typing import Any

from web.api import LIMIT_MAX
from web.api.stats import METRICS, PROPERTIES
from web.dashboard.results import MAX_DAYS

_DATE = {"type": "string", "format": "date"}
_NUMBER = {"type": ["number", "null"]}


def _param(name: str, description: str, schema: dict, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


_TOKEN = _param("token", "The site's token; the API key must be this site's (else 403).", {"type": "string"}, True)
_RANGE = [
    _param("from", f"First UTC day (default: 29 days before `to`); at most {MAX_DAYS} days in all.", _DATE),
    _param("to", "Last UTC day (default: today).", _DATE),
]
_METRICS = _param(
    "metrics",
    f"Comma-separated, default visitors: {', '.join(METRICS)}. Visitors over several days are "
    "summed per day (user-days); bounce_rate is a percentage, visit_duration a mean in seconds.",
    {"type": "string"},
)
_FILTERS = _param(
    "filters",
    "Plausible's syntax: property==value or property!=value, a|b for either, * for any characters, "
    "; between conditions; a page value starting with / matches the URL's path. All conditions must name "
    "one property: the breakdown's own, or (aggregate, timeseries) one whose rows hold the metrics asked; "
    "anything else is a 400 naming filters.",
    {"type": "string"},
)


def error_response(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return response


def _results(schema: dict) -> dict[str, Any]:
    body = {
        "type": "object",
        "required": ["results", "meta"],
        "properties": {"results": schema, "meta": {"$ref": "#/components/schemas/StatsMeta"}},
    }
    return {"description": "The figures", "content": {"application/json": {"schema": body}}}


def _get(summary: str, params: list[dict], ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": ["Stats API"],
            "security": [{"apiKey": []}],
            "parameters": [_TOKEN, *params],
            "responses": {
                "200": ok,
                "400": error_response("A parameter the results cannot answer, or a malformed one: field names it"),
                "401": error_response("No key, or a malformed, unknown or revoked key"),
                "403": error_response("The key is not for this site"),
                "429": error_response(
                    "Over LOGDIG_RATE_API requests a minute from the client IP or with the key", retry_after=True
                ),
                "503": error_response("Redis unreachable", retry_after=True),
            },
        }
    }


_ROW = {"type": "object", "additionalProperties": True}


def paths() -> dict[str, Any]:
    metrics_object = {
        "type": "object",
        "properties": {m: {"type": "object", "properties": {"value": _NUMBER}} for m in METRICS},
    }
    return {
        "/api/v1/stats/aggregate": _get("Metrics summed over the range", [*_RANGE, _METRICS, _FILTERS], _results(metrics_object)),
        "/api/v1/stats/timeseries": _get(
            "Metrics per UTC day (null where the day has no analysis result)",
            [*_RANGE, _METRICS, _FILTERS, _param("interval", "date (the only one)", {"type": "string", "enum": ["date", "day"]})],
            _results({"type": "array", "items": {**_ROW, "required": ["date"]}}),
        ),
        "/api/v1/stats/breakdown": _get(
            "Metrics per value of a property, sorted by the first metric",
            [
                _param("property", "What to break down by", {"type": "string", "enum": list(PROPERTIES)}, True),
                *_RANGE,
                _METRICS,
                _FILTERS,
                _param("limit", "Rows per page (default 100)", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX}),
                _param("page", "Page of rows, from 1", {"type": "integer", "minimum": 1, "maximum": 10**6}),
            ],
            _results({"type": "array", "items": _ROW}),
        ),
        "/api/v1/stats/realtime/visitors": _get(
            "Visitors in the last 5 minutes (the live layer)",
            [],
            {"description": "A number", "content": {"application/json": {"schema": {"type": "integer", "minimum": 0}}}},
        ),
        "/api/v1/live": _get(
            "The last 30 minutes, as the dashboard's Live page shows them",
            [],
            {"description": "Live figures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Live"}}}},
        ),
    }  # fmt: skip


def components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "A Stats API key from `logdig apikey create --token T`",
            }
        },
        "schemas": {
            "StatsMeta": {
                "type": "object",
                "required": ["from", "to", "days_without_results"],
                "properties": {
                    "from": _DATE,
                    "to": _DATE,
                    "days_without_results": {"type": "array", "items": _DATE},
                    "visitors": {"type": "string"},
                },
            },
            "Live": {
                "type": "object",
                "required": ["token", "now", "visitors_5m", "visitors_30m", "per_minute", "pages", "sources"],
                "properties": {
                    "token": {"type": "string"},
                    "now": {"type": "string"},
                    "visitors_5m": {"type": "integer"},
                    "visitors_30m": {"type": "integer"},
                    "events_30m": {"type": "integer"},
                    "pageviews_30m": {"type": "integer"},
                    "per_minute": {"type": "array", "items": _ROW},
                    "pages": {"type": "array", "items": _ROW},
                    "sources": {"type": "array", "items": _ROW},
                    "countries": {"type": "array", "items": _ROW},
                },
            },
        },
    }

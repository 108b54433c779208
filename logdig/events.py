"""The event schema: parse a request body, validate each event, enrich it on the server.

The schema is logdig/event.schema.json (documented field by field). Checks JSON
Schema cannot express - finite numbers, the size and depth of `props`, fields only
the server may set - live here, next to it.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import fastjsonschema
import orjson
from jsonschema import Draft7Validator

SERVER_FIELDS = ("received_at", "browser", "os", "device", "bot", "ip")
PROPS_MAX_BYTES = 8 * 1024
PROPS_MAX_DEPTH = 3


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

    valid: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (index, event)
    rejected: list[dict[str, Any]] = field(default_factory=list)


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files("logdig").joinpath("event.schema.json").read_text("utf-8"))


@cache
def _fast_check():
    """The schema compiled to Python: about 30x faster than jsonschema on valid events."""
    return fastjsonschema.compile(schema())


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


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


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
    if rule == "maximum":
        return f"above the maximum of {limit}"
    if rule == "minimum":
        return f"below the minimum of {limit}"
    if rule == "pattern":
        return f"does not match {limit}"
    return error.message[:200]


def check_event(event: Any) -> list[dict[str, str]]:
    """All that is wrong with one event, as [{"field", "reason"}]; empty when it is valid."""
    if not isinstance(event, dict):
        return [{"field": "event", "reason": f"must be a JSON object, got {type(event).__name__}"}]
    errors = [{"field": f, "reason": "set by the server; do not send it"} for f in SERVER_FIELDS if f in event]
    clean = {k: v for k, v in event.items() if k not in SERVER_FIELDS}
    try:
        _fast_check()(clean)
    except fastjsonschema.JsonSchemaValueException as fast:
        detailed = [{"field": _path(e), "reason": _reason(e)} for e in _validator().iter_errors(clean)]
        errors += detailed or [{"field": fast.name.removeprefix("data.") or "event", "reason": fast.message[:200]}]
    props = event.get("props")
    if isinstance(props, dict):
        size = len(orjson.dumps(props))
        if size > PROPS_MAX_BYTES:
            errors.append({"field": "props", "reason": f"{size} bytes serialised; the limit is {PROPS_MAX_BYTES}"})
        if _depth(props) > PROPS_MAX_DEPTH:
            errors.append({"field": "props", "reason": f"nested deeper than {PROPS_MAX_DEPTH} levels"})
    return errors


def check_events(events: list[Any]) -> Checked:
    checked = Checked()
    for index, event in enumerate(events):
        errors = check_event(event)
        if errors:
            checked.rejected.append({"index": index, "errors": errors})
        else:
            checked.valid.append((index, event))
    return checked


def received_at(now: datetime) -> str:
    """The server's receive time: ISO-8601 UTC with milliseconds, as JavaScript prints it."""
    now = now.astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


_RECEIVED = b'"received_at":"'


def received_day(line: bytes) -> str:
    """The YYYY-MM-DD day folder of an encoded event, from its received_at.

    Read from the bytes, not a parse: encode() writes received_at after every client
    field, so its last occurrence is the server's even if `props` holds the same key.
    """
    at = line.rfind(_RECEIVED)
    if at < 0:
        return orjson.loads(line)["received_at"][:10]
    start = at + len(_RECEIVED)
    return line[start : start + 10].decode()


@lru_cache(maxsize=4096)  # bounded: user agents are many but skewed
def user_agent(ua: str) -> dict[str, Any]:
    from ua_parser import parse

    result = parse(ua).with_defaults()
    return {
        "browser": result.user_agent.family,
        "os": result.os.family,
        "device": result.device.family,
        "bot": result.device.family == "Spider",
    }


# Spark infers a column's type from the values it sees: 110 gives bigint, 110.5 double.
# Normalising here makes every object type the same way, whatever one client sent.
FLOAT_FIELDS = ("x", "y", "viewport_w", "viewport_h", "page_w", "page_h", "offset_x", "offset_y", "scroll_depth")
INT_FIELDS = ("spent_milli_sec",)


def normalise(event: dict[str, Any]) -> dict[str, Any]:
    """A copy with pixel and percent fields as doubles, milliseconds as whole numbers."""
    out = dict(event)
    for name in FLOAT_FIELDS:
        if isinstance(out.get(name), int) and not isinstance(out[name], bool):
            out[name] = float(out[name])
    for name in INT_FIELDS:
        if isinstance(out.get(name), float):
            out[name] = round(out[name])
    return out


URL_FIELDS = ("current_page", "link", "referrer")


@dataclass(frozen=True)
class Privacy:
    """What the collector keeps, from LOGDIG_STORE_IP and LOGDIG_URL_QUERY."""

    store_ip: str = "off"  # or "truncated"
    url_query: str = "keep"  # or "strip", or "allow:a,b"

    def url(self, url: Any) -> Any:
        if self.url_query == "keep" or not isinstance(url, str) or "://" not in url:
            return url  # link descriptions (tag;class;id) are not URLs
        parts = urlsplit(url)
        if self.url_query == "strip":
            return urlunsplit(parts._replace(query="", fragment=""))
        allowed = set(self.url_query.removeprefix("allow:").split(","))
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k in allowed])
        return urlunsplit(parts._replace(query=query, fragment=""))


def truncate_ip(ip: str) -> str | None:
    """IPv4 to its /24, IPv6 to its /48: enough for a region, not a household."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def enrich(
    event: dict[str, Any], now: datetime | str, privacy: Privacy = Privacy(), ip: str | None = None
) -> dict[str, Any]:
    """Normalise number types, apply the privacy settings and add what only the server
    knows. The timestamp stays exactly as the client sent it. `now` may be given already
    formatted by received_at(), once per request."""
    stamp = now if isinstance(now, str) else received_at(now)
    out = normalise(event)
    out["received_at"] = stamp
    out.update(user_agent(event["user_agent"]))
    for name in URL_FIELDS:
        if name in out:
            out[name] = privacy.url(out[name])
    if privacy.store_ip == "truncated" and ip and (truncated := truncate_ip(ip)):
        out["ip"] = truncated
    return out


def encode(event: dict[str, Any]) -> bytes:
    """One JSON Lines line (UTF-8, compact, without its newline). Encoded once, at ingest,
    so a retried flush writes exactly the same bytes and the SHA-256 name stays the same."""
    return orjson.dumps(event)

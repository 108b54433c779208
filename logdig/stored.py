"""Stored lines: a checked event encoded as the collector stores it, with what the
server adds (receive time, user agent, source, country, the IP only when asked).

Split from logdig.events, which decodes and checks; this module encodes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
import orjson

from logdig.event_schema import Event
from logdig.sources import Source, classify


def received_at(now: datetime) -> str:
    """The server's receive time: ISO-8601 UTC with milliseconds, as JavaScript prints it."""
    return now.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


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


# Spark infers a column's type from the values it sees: 110 gives bigint, 110.5 double.
# The Struct makes pixels and percents doubles whatever a client sent; milliseconds are
# rounded to whole numbers here, so every object types the same way.
_ENCODE = msgspec.json.Encoder()


SOURCE_CACHE_KEY_MAX = 1024  # (page, referrer) pairs longer than this are not kept in the LRU


@lru_cache(maxsize=4096)  # bounded: at most ~4,096 x 1 KiB of keys
def _classified(page: str, referrer: str | None) -> tuple[Source, bytes]:
    """A (page URL, referrer) pair's Source and its stored fields, encoded."""
    source = classify(page, referrer)
    return source, b"," + orjson.dumps({"channel": source.channel, **source.utm})[1:-1]


class StoredLines:
    """Encodes one request's checked events as stored lines (JSON Lines, without the
    newline): the client's fields, then the server's (received_at, user agent, ip,
    channel and UTM fields, country).

    Encoded once, at ingest, so a retried flush writes exactly the same bytes and the
    SHA-256 name stays the same. received_at follows every client field, so the last
    "received_at" in a line is the server's and received_day() can find it.
    """

    def __init__(self, received: str, privacy: Privacy = Privacy(), ip: str | None = None, country: str | None = None):
        self.received, self.privacy, self.country = received, privacy, country
        self.ip = truncate_ip(ip) if privacy.store_ip == "truncated" and ip else None
        self._agents: dict[str, bytes] = {}  # by user agent: its server fields, encoded
        self._sources: dict[tuple[str, str | None], tuple[Source, bytes]] = {}  # by (page, referrer)
        tail: dict[str, Any] = {"ip": self.ip} if self.ip else {}
        self._tail = b"," + orjson.dumps({**tail, "country": country})[1:]  # with the closing brace

    def _agent(self, ua: str) -> bytes:
        agent = self._agents[ua] = b"," + orjson.dumps({"received_at": self.received, **user_agent(ua)})[1:-1]
        return agent

    def _source(self, key: tuple[str, str | None]) -> tuple[Source, bytes]:
        short = len(key[0]) + len(key[1] or "") <= SOURCE_CACHE_KEY_MAX
        found = self._sources[key] = _classified(*key) if short else _classified.__wrapped__(*key)
        return found

    def encode(self, event: Event) -> tuple[bytes, Source]:
        """The stored line, and where the event's visitor came from (from its URLs as sent,
        before the privacy step)."""
        key = (event.current_page, event.referrer if isinstance(event.referrer, str) else None)
        source, encoded = self._sources.get(key) or self._source(key)
        event.spent_milli_sec = round(event.spent_milli_sec)
        if self.privacy.url_query != "keep":
            for name in URL_FIELDS:
                setattr(event, name, self.privacy.url(getattr(event, name)))
        agent = self._agents.get(event.user_agent) or self._agent(event.user_agent)
        return b"".join((_ENCODE.encode(event)[:-1], agent, encoded, self._tail)), source

    def __call__(self, event: Event) -> bytes:
        return self.encode(event)[0]

"""Read-only Stats API keys, one site each, kept hashed.

A key reads as ``ldk_<id>_<secret>``: ``id`` (12 hex characters) names the key and is
what ``logdig apikey list`` shows and ``revoke`` takes; ``secret`` is 32 random bytes
(base64url). The key is shown once, when it is made. Redis keeps, per id (a hash whose
name is in ``logdig.queue``: ``APIKEYS``), only the SHA-256 of the whole key, the site's
token, a name and the creation time, so a copy of Redis (or of `logdig dev`'s saved
definitions) gives no usable key.

Checking a key: its id is looked up, then the SHA-256 of what was sent is compared with
the stored one by ``hmac.compare_digest`` (constant time). A revoked key's record is
deleted, so it fails like a key that never existed. Nothing is cached: a revocation
takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from logdig.queue import APIKEYS

KEY_PREFIX = "ldk_"
KEY_RE = re.compile(r"ldk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
NAME_MAX = 100


@dataclass(frozen=True)
class ApiKey:
    id: str
    token: str
    name: str
    created_at: str

    @property
    def prefix(self) -> str:
        """What identifies the key without revealing it (the part before its secret)."""
        return f"{KEY_PREFIX}{self.id}"


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Stats API keys in Redis: make, list, revoke, check."""

    def __init__(self, redis: Any):
        self.redis = redis

    def create(self, token: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``token``: (its record, the key itself, to show once)."""
        name = name.strip()
        if len(name) > NAME_MAX or any(not c.isprintable() for c in name):
            raise ValueError(f"the name must be at most {NAME_MAX} printable characters")
        while True:
            key_id = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            key = f"{KEY_PREFIX}{key_id}_{secret}"
            record = {"token": token, "name": name, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            record["sha256"] = _sha256(key)
            if self.redis.hsetnx(APIKEYS, key_id, json.dumps(record)):  # a repeated id: draw again
                return ApiKey(key_id, token, name, record["created_at"]), key

    def list(self, token: str | None = None) -> list[ApiKey]:
        """The keys (of one site, or all), oldest first; never the key or its hash."""
        found = [self._record(k.decode(), raw) for k, raw in self.redis.hgetall(APIKEYS).items()]
        return sorted((k for k in found if token is None or k.token == token), key=lambda k: (k.created_at, k.id))

    def revoke(self, prefix: str, token: str | None = None) -> ApiKey | None:
        """Delete a key by its id or prefix (``ldk_<id>``, or the whole key); with ``token``,
        only that site's key. Returns what was revoked, or None."""
        key_id = prefix.removeprefix(KEY_PREFIX).split("_", 1)[0].lower()
        raw = self.redis.hget(APIKEYS, key_id) if re.fullmatch(r"[0-9a-f]{12}", key_id) else None
        if raw is None:
            return None
        found = self._record(key_id, raw)
        if token is not None and found.token != token:
            return None
        return found if self.redis.hdel(APIKEYS, key_id) else None

    def verify(self, key: str) -> ApiKey | None:
        """The key's record when ``key`` is a live key, else None (malformed, unknown, revoked)."""
        match = KEY_RE.fullmatch(key)
        if not match:
            return None
        raw = self.redis.hget(APIKEYS, match.group(1))
        if raw is None:
            return None
        stored = json.loads(raw).get("sha256", "")
        if not hmac.compare_digest(_sha256(key).encode(), str(stored).encode()):
            return None
        return self._record(match.group(1), raw)

    @staticmethod
    def _record(key_id: str, raw: bytes | str) -> ApiKey:
        record = json.loads(raw)
        return ApiKey(key_id, record["token"], record.get("name", ""), record.get("created_at", ""))

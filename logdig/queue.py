"""The Redis list that stands in for SQS: push, reserve a batch, acknowledge, recover.

Every Redis key name LogDig uses is defined in this module.

A flush moves a batch atomically from the queue into an in-flight list, writes it,
then acknowledges it. A flusher that dies leaves the in-flight list behind and the
next flush writes the same bytes again, under the same SHA-256 names. Concurrent
flushers are harmless for the same reason; the acknowledgement deletes the
in-flight list only if it still holds exactly the batch that was written.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from logdig.live import FIELD_CAP, INGEST_LUA, LIVE_TTL, LiveCounts

PREFIX = "logdig:"
QUEUE = PREFIX + "queue"
INFLIGHT = PREFIX + "inflight"
SITES = PREFIX + "sites"
STATS = PREFIX + "stats"
LAST_FLUSH = PREFIX + "last_flush"  # hash: at, result, ok
SEEN = PREFIX + "seen:"  # + window number: a set of (token, event_id) digests
RATE = PREFIX + "rate:"  # + scope + ":" + who, a fixed-window counter
DEFINITIONS = PREFIX + "definitions:"  # + kind ("funnel", "experiment"), for analysis
LIVE = PREFIX + "live:"  # + token + ":" + minute: the live layer's counters (logdig.live)
REFRESH = PREFIX + "refresh:"  # + token: the dashboard's running "Refresh now", a lock (logdig.refresh)
REFRESHED = PREFIX + "refreshed:"  # + token: the last "Refresh now"'s outcome (logdig.refresh)
JOBS = "logdig"  # the rq queue (rq:queue:logdig) the worker serves: flush, analysis, refresh jobs
APIKEYS = PREFIX + "apikeys"  # hash: key id -> the Stats API key's record, its SHA-256 only (logdig.apikeys)
# What a user defines, as opposed to traffic: `logdig dev` saves these across restarts.
DURABLE_HASHES = (SITES, DEFINITIONS + "funnel", DEFINITIONS + "experiment", DEFINITIONS + "goal", APIKEYS)

# Lua's unpack() has a stack limit of about 8,000 values: push in chunks below it.
_CHUNK = 1000
_DIGEST_SIZE = 12  # bytes of blake2b per (token, event_id): collisions need ~2^48 events

# KEYS: queue, stats, this window's seen-set, the last window's, t token counters, then t
#       (token, client IP) counters, then the live layer's keys.
# ARGV: queue_max, seen-set lifetime, rate window, token limit, (token, IP) limit, t, t event
#       counts, k, k (reason, count) pairs of rejections, n, the n event digests joined, the n events,
#       then the live layer's counts.
# One round trip: rate limits, the cap check, the repeat check, the push, the counters and
# the live layer's per-minute counters (a handful of calls per token, not per event).
# The per-IP request limit is not here: it is charged before the body is read (_CHARGE).
# A (token, IP) pair over its share is refused before the token is charged, so one
# address cannot spend a site's budget by being refused either.
# The repeat check asks both windows about the whole request at once (SMISMEMBER),
# not event by event: a call from Lua costs about as much as the check itself.
# Returns {accepted, 0}, {-1, 0} when the queue is full, {-2, retry_after} when rate limited
# (counted once: rejected:rate_limited counts answers, not events).
_INGEST = """
local queue_max, lifetime, rate_window = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local token_limit, token_ip_limit, t = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local k = tonumber(ARGV[7 + t])
local n = tonumber(ARGV[8 + t + 2 * k])
local joined, lines = ARGV[9 + t + 2 * k], 9 + t + 2 * k
for j = 0, k - 1 do
  redis.call('HINCRBY', KEYS[2], 'rejected:' .. ARGV[8 + t + 2 * j], ARGV[9 + t + 2 * j])
end
local function over(key, amount, limit)
  if limit <= 0 then return 0 end
  local count = redis.call('INCRBY', key, amount)
  if count == amount then redis.call('EXPIRE', key, rate_window) end
  if count > limit then return math.max(redis.call('TTL', key), 1) end
  return 0
end
local wait = 0
for i = 1, t do
  local amount = tonumber(ARGV[6 + i])
  if wait == 0 then wait = over(KEYS[4 + t + i], amount, token_ip_limit) end
  if wait == 0 then wait = over(KEYS[4 + i], amount, token_limit) end
end
if wait > 0 then
  redis.call('HINCRBY', KEYS[2], 'rejected:rate_limited', 1)
  return {-2, wait}
end
if n == 0 then return {0, 0} end
if redis.call('LLEN', KEYS[1]) >= queue_max then
  redis.call('HINCRBY', KEYS[2], 'rejected:queue_full', n)
  return {-1, 0}
end
local fresh, digests, taken = {}, {}, {}
for first = 1, n, CHUNK do
  local last = math.min(first + CHUNK - 1, n)
  local part = {}
  for i = first, last do part[#part + 1] = string.sub(joined, (i - 1) * DIGEST + 1, i * DIGEST) end
  local now = redis.call('SMISMEMBER', KEYS[3], unpack(part))
  local before = redis.call('SMISMEMBER', KEYS[4], unpack(part))
  for j = 1, #part do
    local d = part[j]
    if now[j] == 0 and before[j] == 0 and not taken[d] then
      taken[d] = true
      digests[#digests + 1] = d
      fresh[#fresh + 1] = ARGV[lines + first + j - 1]
    end
  end
end
for i = 1, #fresh, CHUNK do
  local last = math.min(i + CHUNK - 1, #fresh)
  redis.call('SADD', KEYS[3], unpack(digests, i, last))
  redis.call('RPUSH', KEYS[1], unpack(fresh, i, last))
end
redis.call('EXPIRE', KEYS[3], lifetime)
redis.call('HINCRBY', KEYS[2], 'accepted', #fresh)
if #fresh < n then redis.call('HINCRBY', KEYS[2], 'duplicates', n - #fresh) end
-- the live layer's per-minute counters: logdig.live.INGEST_LUA
LIVE_LUA
return {#fresh, 0}
""".replace("CHUNK", str(_CHUNK)).replace("DIGEST", str(_DIGEST_SIZE))
_INGEST = _INGEST.replace("LIVE_LUA", INGEST_LUA)

# KEYS: the client IP's request counter, stats. ARGV: limit, window seconds, amount.
# Amount 1 (a request, before its body is read): returns 0, or the seconds until the
# window resets and counts the 429 answer. More (a charge for bad events) only counts.
_CHARGE = """
local amount = tonumber(ARGV[3])
local count = redis.call('INCRBY', KEYS[1], amount)
if count == amount then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if amount == 1 and count > tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[2], 'rejected:rate_limited', 1)
  return math.max(redis.call('TTL', KEYS[1]), 1)
end
return 0
"""

# KEYS: queue, inflight. ARGV: most events to take.
# An existing in-flight batch is returned as is (recovery), never mixed with new events.
_RESERVE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('LRANGE', KEYS[2], 0, -1) end
local length = redis.call('LLEN', KEYS[1])
if length == 0 then return {} end
if length <= tonumber(ARGV[1]) then
  -- the whole queue is one batch: move it in O(1) instead of copying it
  redis.call('RENAME', KEYS[1], KEYS[2])
  return redis.call('LRANGE', KEYS[2], 0, -1)
end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for i = 1, #items, CHUNK do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + CHUNK - 1, #items)))
end
if #items > 0 then redis.call('LTRIM', KEYS[1], #items, -1) end
return items
""".replace("CHUNK", str(_CHUNK))

# KEYS: inflight. ARGV: the batch's length, first and last event.
# Every event carries its own event_id and receive time, so these three tell one
# batch from another; the next batch is never deleted by a late acknowledgement.
_ACK = """
if redis.call('LLEN', KEYS[1]) == tonumber(ARGV[1])
   and redis.call('LINDEX', KEYS[1], 0) == ARGV[2]
   and redis.call('LINDEX', KEYS[1], -1) == ARGV[3] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def connect(url: str) -> Redis:
    """A Redis client for LOGDIG_REDIS_URL (redis://, rediss://, unix://).

    An empty URL gives an in-process stand-in (fakeredis), for `logdig dev` only.
    """
    if not url:
        import fakeredis

        return fakeredis.FakeRedis()
    try:
        return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)
    except ValueError as e:  # not a URL redis-py understands: say so, without the password
        from logdig.config import ConfigError, redact_url

        raise ConfigError(f"LOGDIG_REDIS_URL {redact_url(url)!r} is not a Redis URL ({e})") from None


class QueueFull(Exception):
    """The queue is over LOGDIG_QUEUE_MAX: the collector answers 503 (backpressure)."""


class RateLimited(Exception):
    """A client IP or token is over its rate limit: the collector answers 429."""

    def __init__(self, retry_after: int):
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class IngestLimits:
    queue_max: int
    dedupe_window: int
    ip_limit: int = 0  # requests per rate_window per client IP (charge_ip); 0 = no limit
    token_limit: int = 0  # events per rate_window per token; 0 = no limit
    rate_window: int = 60
    token_ip_limit: int = 0  # events per rate_window per (token, client IP); 0 = no limit


@dataclass(frozen=True)
class Site:
    token: str
    name: str
    origins: tuple[str, ...] = ()

    def allows(self, origin: str | None) -> bool:
        """No origins configured: any page may send. Otherwise the Origin must be listed."""
        return not self.origins or (origin is not None and origin.lower() in self.origins)


@dataclass(frozen=True)
class QueueState:
    length: int
    oldest_received_at: datetime | None
    inflight: int


def live_keys(token: str, minute: int) -> tuple[str, str]:
    """A token's live keys for one minute (epoch seconds // 60): counters hash, HyperLogLog."""
    return f"{LIVE}{token}:{minute}", f"{LIVE}{token}:{minute}:u"


def _digest(token: str, event_id: str) -> bytes:
    return hashlib.blake2b(f"{token}\0{event_id}".encode(), digest_size=_DIGEST_SIZE).digest()


def _parse_received_at(item: bytes) -> datetime | None:
    try:
        stamp = json.loads(item)["received_at"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None


class EventQueue:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._ingest = redis.register_script(_INGEST)
        self._charge = redis.register_script(_CHARGE)
        self._reserve = redis.register_script(_RESERVE)
        self._ack = redis.register_script(_ACK)

    # -- collector side -----------------------------------------------------------------

    def charge_ip(self, client: str, limit: int, window: int) -> int:
        """Count one request from a client IP, before its body is read; 0 when allowed,
        else the seconds to wait (Retry-After), the 429 counted as rejected:rate_limited."""
        return int(self._charge(keys=[f"{RATE}ip:{client}", STATS], args=[limit, window, 1]))

    def charge_ip_extra(self, client: str, requests: int, window: int) -> None:
        """Count a request's cost as `requests` more requests against its IP's limit
        (the collector does so for bodies full of invalid events)."""
        self._charge(keys=[f"{RATE}ip:{client}", STATS], args=[0, window, requests])

    def push(
        self,
        events: Sequence[tuple[str, str, bytes]],
        limits: IngestLimits,
        rejected: Mapping[str, int] | None = None,
        client: str = "-",
        now: float | None = None,
        live: Mapping[str, LiveCounts] | None = None,
    ) -> tuple[int, int]:
        """Queue (token, event_id, encoded line) triples, dropping repeats, and count
        the request's rejections by reason - all in one round trip.

        Repeats are remembered in one set per LOGDIG_DEDUPE_WINDOW-long window, as a
        12-byte digest of (token, event_id): an event is a repeat if it is in this window's
        set or the last one's, so it is remembered for one to two windows. A set member
        costs about a third of what a key per event would.

        Returns (accepted, duplicates). Raises RateLimited or QueueFull.
        """
        now = time.time() if now is None else now
        window = int(now // limits.dedupe_window)
        per_token = Counter(token for token, _, _ in events)
        reasons = [x for reason, n in (rejected or {}).items() if n for x in (reason, n)]
        keys = [QUEUE, STATS, f"{SEEN}{window}", f"{SEEN}{window - 1}"]
        keys += [f"{RATE}token:{t}" for t in per_token]
        keys += [f"{RATE}token_ip:{t}:{client}" for t in per_token]
        args = [limits.queue_max, 2 * limits.dedupe_window + 60, limits.rate_window, limits.token_limit]
        args += [limits.token_ip_limit, len(per_token), *per_token.values(), len(reasons) // 2, *reasons]
        args += [len(events), b"".join(_digest(token, event_id) for token, event_id, _ in events)]
        args += [line for _, _, line in events]
        live = {t: c for t, c in (live or {}).items() if t in per_token}
        keys += [key for t in live for key in live_keys(t, int(now // 60))]
        args += [LIVE_TTL, FIELD_CAP, len(live), *[x for counts in live.values() for x in counts.args()]]
        accepted, wait = (int(x) for x in self._ingest(keys=keys, args=args))
        if accepted == -2:
            raise RateLimited(wait)
        if accepted == -1:
            raise QueueFull(f"the queue holds {limits.queue_max} events or more")
        return accepted, len(events) - accepted

    # -- flush side ---------------------------------------------------------------------

    def state(self) -> QueueState:
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(QUEUE)
        pipe.lindex(QUEUE, 0)
        pipe.llen(INFLIGHT)
        length, oldest, inflight = pipe.execute()
        return QueueState(length, _parse_received_at(oldest) if oldest else None, inflight)

    def reserve(self, most: int) -> list[bytes]:
        """Move up to `most` events into the in-flight list, or return the one left there."""
        return list(self._reserve(keys=[QUEUE, INFLIGHT], args=[most]))

    def ack(self, batch: Sequence[bytes]) -> bool:
        """Forget a written batch. False when another flusher already acknowledged it."""
        return bool(self._ack(keys=[INFLIGHT], args=[len(batch), batch[0], batch[-1]]))

    def count(self, **fields: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for name, n in fields.items():
            pipe.hincrby(STATS, name, n)
        pipe.execute()

    def record_flush(self, at: datetime, result: str, ok: bool) -> None:
        """The last flush's time and outcome, for the dashboard's health page."""
        self.redis.hset(LAST_FLUSH, mapping={"at": at.isoformat(), "result": result, "ok": int(ok)})

    def last_flush(self) -> dict[str, Any] | None:
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(LAST_FLUSH).items()}
        if not raw:
            return None
        return {"at": datetime.fromisoformat(raw["at"]), "result": raw["result"], "ok": raw["ok"] == "1"}

    def stats(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(STATS).items()}


class Sites:
    """Registered sites: a token each, and the origins allowed to send with it."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def create(self, name: str, origins: Iterable[str] = (), token: str | None = None) -> Site:
        site = Site(token or secrets.token_urlsafe(18), name, tuple(o.lower() for o in origins))
        record = {"name": site.name, "origins": list(site.origins), "created_at": datetime.now(UTC).isoformat()}
        self.redis.hset(SITES, site.token, json.dumps(record))
        return site

    def get(self, token: str) -> Site | None:
        return self.get_many([token])[token]

    def get_many(self, tokens: Sequence[str]) -> dict[str, Site | None]:
        """Look several tokens up in one round trip."""
        raws = self.redis.hmget(SITES, list(tokens)) if tokens else []
        return {t: self._site(t, raw) if raw else None for t, raw in zip(tokens, raws, strict=True)}

    def all(self) -> list[Site]:
        return sorted(
            (self._site(token.decode(), raw) for token, raw in self.redis.hgetall(SITES).items()),
            key=lambda s: s.name,
        )

    def by_name(self, name: str) -> Site | None:
        return next((s for s in self.all() if s.name == name), None)

    def delete(self, token: str) -> bool:
        return bool(self.redis.hdel(SITES, token))

    @staticmethod
    def _site(token: str, raw: bytes | str) -> Site:
        record: dict[str, Any] = json.loads(raw)
        return Site(token, record["name"], tuple(record.get("origins", ())))


SECRET = PREFIX + "secret"  # the dashboard's session signing key, shared by every worker
# Dashboard logins (logdig.sessions): a sorted set, SHA-256 of each session id -> login time;
# and a scrypt of the admin password they were made under, keyed by SECRET.
SESSIONS = PREFIX + "sessions"
SESSIONS_PASSWORD = PREFIX + "sessions:password"


def shared_secret(redis: Redis) -> bytes:
    """A random key made once and shared by every process (SET NX keeps the first)."""
    redis.set(SECRET, secrets.token_hex(32), nx=True)
    return redis.get(SECRET)


SEGMENT_LOCK = PREFIX + "segment:"  # + token: the site's running filtered computation (web.dashboard.segments)
# + SHA-256 of a signed overlay link: a set of the segments it asked for (web.dashboard.overlay),
# expiring with the link
OVERLAY_SEGMENTS = PREFIX + "overlay:segments:"

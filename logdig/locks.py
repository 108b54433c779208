"""Locks and limits shared by every process through Redis: fixed-window rate limits
(:class:`RateLimits`) and one filtered computation at a time per site (:class:`SegmentLocks`).
Their key names are in logdig.queue, with every other Redis key.
"""

from __future__ import annotations

import secrets

from redis import Redis

from logdig.queue import RATE, SEGMENT_LOCK

# KEYS: counter. ARGV: limit, window seconds. Returns 0, or the seconds until the window resets.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return math.max(redis.call('TTL', KEYS[1]), 1) end
return 0
"""


class RateLimits:
    """Fixed-window counters in Redis, shared by every gunicorn worker."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self._hit = redis.register_script(_HIT)

    def hit(self, scope: str, who: str, limit: int, window: int) -> int:
        """Count one attempt; returns 0 when allowed, else seconds to wait (Retry-After)."""
        return int(self._hit(keys=[f"{RATE}{scope}:{who}"], args=[limit, window]))

    def reset(self, scope: str, who: str) -> None:
        self.redis.delete(f"{RATE}{scope}:{who}")


# KEYS: lock. ARGV: the holder's value. Deletes the lock only if it is still that holder's.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SegmentLocks:
    """One filtered (on-demand) computation at a time per site, across every web worker.
    A lock expires by itself, so a worker that dies mid-computation blocks nothing for long."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def acquire(self, token: str, seconds: int) -> str | None:
        """A holder value when the lock was free (keep it for :meth:`release`), else None."""
        value = secrets.token_hex(8)
        return value if self.redis.set(SEGMENT_LOCK + token, value, nx=True, ex=seconds) else None

    def release(self, token: str, value: str) -> None:
        self.redis.eval(_UNLOCK, 1, SEGMENT_LOCK + token, value)

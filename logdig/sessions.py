"""Dashboard sessions, kept in Redis: the browser holds only a random id.

- A login makes a random id (``secrets.token_urlsafe(32)``). Redis keeps its SHA-256
  (so a copy of Redis holds no cookie that works) in the sorted set ``SESSIONS``,
  scored by the login time.
- A session lasts ``LIFETIME`` (12 h) from login, however active: refreshing the
  cookie does not extend it.
- Logout ends one session; ``revoke_all`` (``logdig sessions revoke``) ends them all.
- So does a new admin password: ``SESSIONS_PASSWORD`` holds a scrypt of the password
  the sessions were made under, salted with the shared secret. A process whose
  password differs accepts none of them, and ends them all (``sync``) on its first
  dashboard request, so they stay ended even if the old password comes back.

Core module: Redis and the key names only, so the CLI uses it without Flask.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from logdig.queue import SESSIONS, SESSIONS_PASSWORD, shared_secret

LIFETIME = 12 * 3600  # seconds from login: a working day

# KEYS: sessions, password fingerprint. ARGV: fingerprint, then for a login: digest, now, lifetime.
# A different fingerprint ends every session first. Returns the number of sessions ended.
_SYNC = """
local ended = 0
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  ended = redis.call('ZCARD', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1])
end
if ARGV[2] then
  local now, lifetime = tonumber(ARGV[3]), tonumber(ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lifetime)
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('EXPIRE', KEYS[1], lifetime)
end
return ended
"""


@dataclass(frozen=True)
class SessionsInfo:
    count: int
    oldest_login: float | None  # unix seconds


@functools.lru_cache(maxsize=8)
def _fingerprint(password: str, secret: bytes) -> str:
    # Slow on purpose (about 50 ms, once per process): a copy of Redis must not make
    # guessing the password cheap.
    return hashlib.scrypt(password.encode(), salt=b"logdig-admin:" + secret, n=2**14, r=8, p=1, dklen=32).hex()


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time, lifetime: int = LIFETIME):
        self.redis, self.clock, self.lifetime = redis, clock, lifetime
        self._sync = redis.register_script(_SYNC)

    def fingerprint(self, password: str) -> str:
        return _fingerprint(password, shared_secret(self.redis))

    def sync(self, password: str) -> int:
        """End every session if they were made under another password; returns how many."""
        return int(self._sync(keys=[SESSIONS, SESSIONS_PASSWORD], args=[self.fingerprint(password)]))

    def start(self, password: str) -> str:
        """A new session (after the password was checked); returns its id, for the cookie."""
        session_id = secrets.token_urlsafe(32)
        args = [self.fingerprint(password), _digest(session_id), self.clock(), self.lifetime]
        self._sync(keys=[SESSIONS, SESSIONS_PASSWORD], args=args)
        return session_id

    def valid(self, session_id: str, password: str) -> bool:
        if not session_id:
            return False
        fingerprint = self.fingerprint(password)
        with self.redis.pipeline(transaction=False) as pipe:
            stored, login_at = pipe.get(SESSIONS_PASSWORD).zscore(SESSIONS, _digest(session_id)).execute()
        if login_at is None:
            return False
        if not hmac.compare_digest(stored or b"", fingerprint.encode()):
            self.sync(password)  # made under another password: ended for good
            return False
        return self.clock() - login_at < self.lifetime

    def end(self, session_id: str) -> bool:
        return bool(session_id) and bool(self.redis.zrem(SESSIONS, _digest(session_id)))

    def revoke_all(self) -> int:
        """End every session now; returns how many were live."""
        with self.redis.pipeline() as pipe:
            live, _ = pipe.zcount(SESSIONS, f"({self.clock() - self.lifetime}", "+inf").delete(SESSIONS).execute()
        return int(live)

    def info(self) -> SessionsInfo:
        since = f"({self.clock() - self.lifetime}"
        with self.redis.pipeline(transaction=False) as pipe:
            count, oldest = (
                pipe.zcount(SESSIONS, since, "+inf")
                .zrangebyscore(SESSIONS, since, "+inf", start=0, num=1, withscores=True)
                .execute()
            )
        return SessionsInfo(int(count), oldest[0][1] if oldest else None)

"""The live layer: what a site's visitors did in the last minutes, counted on ingest.

The collector counts each request's accepted events per token in Python
(:class:`LiveCounts`) and the ingest script (``logdig.queue``) adds them, in the same
single round trip as the push, to two keys per token and minute (names in
``logdig.queue``: ``live_keys``):

- a hash: ``e`` events, ``v`` page views, and per page view ``p:<page>`` (the page URL
  without query or fragment), ``s:<source>`` (``utm_source``, else the referrer's host;
  ``s:`` alone for none) and ``c:<country>`` (``c:`` alone for unknown). At most
  :data:`FIELD_CAP` distinct pages, sources and countries each per minute; past it they
  are counted under ``(other)``. ``#p``, ``#s`` and ``#c`` hold how many are distinct.
- a HyperLogLog of user keys (PFADD): unique visitors over any set of minutes by PFCOUNT
  of their union, within about 1%.

Both expire :data:`LIVE_TTL` seconds after the minute's first event, so memory is
bounded by the minutes kept, whatever the traffic. A request whose events were all
repeats counts nothing; one with some repeats counts whole (the tracker resends whole
batches, so this is rare). :func:`live` reads the last 30 minutes in one round trip.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

LIVE_TTL = 35 * 60  # seconds each minute's keys live: 30 shown, and some slack
FIELD_CAP = 100  # distinct pages / sources / countries kept per token and minute
MINUTES = 30  # the per-minute series and the top lists
VISITOR_MINUTES = 5  # "visitors now"
TOP = 10
FIELD_MAX = 512  # characters of a page or source kept as a hash field


# The ingest script's live part (spliced into logdig.queue._INGEST, after the push; it
# sees that script's locals: lines, n, t and fresh). After the events, ARGV holds: TTL,
# field cap, u, then per token: events, page views, h, h user keys, f, f (field, count)
# pairs; KEYS end with u (hash, HyperLogLog) pairs. A request whose events were all
# repeats counts nothing. A new page, source or country past the cap goes to (other).
INGEST_LUA = """
local at = lines + n + 1
local ttl, cap, u = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
at = at + 3
for i = 1, (#fresh > 0 and u or 0) do
  local hash, hll = KEYS[3 + 2 * t + 2 * i], KEYS[4 + 2 * t + 2 * i]
  local events, h = tonumber(ARGV[at]), tonumber(ARGV[at + 2])
  local first = redis.call('HINCRBY', hash, 'e', events) == events
  if ARGV[at + 1] ~= '0' then redis.call('HINCRBY', hash, 'v', ARGV[at + 1]) end
  redis.call('PFADD', hll, unpack(ARGV, at + 3, at + 2 + h))
  if first then
    redis.call('EXPIRE', hash, ttl)
    redis.call('EXPIRE', hll, ttl)
  end
  at = at + 3 + h
  for j = at + 1, at + 2 * tonumber(ARGV[at]), 2 do
    local name, amount = ARGV[j], tonumber(ARGV[j + 1])
    if redis.call('HINCRBY', hash, name, amount) == amount then  -- a new page, source or country
      local kind = string.sub(name, 1, 2)
      if redis.call('HINCRBY', hash, '#' .. kind, 1) > cap then
        redis.call('HDEL', hash, name)
        redis.call('HINCRBY', hash, '#' .. kind, -1)
        redis.call('HINCRBY', hash, kind .. '(other)', amount)
      end
    end
  end
  at = at + 1 + 2 * tonumber(ARGV[at])
end
"""


class LiveCounts:
    """One token's share of one request: what the ingest script adds for it."""

    __slots__ = ("events", "views", "users", "pageviews")

    def __init__(self) -> None:
        self.events = 0
        self.views = 0
        self.users: set[str] = set()
        self.pageviews: dict[tuple[str, str | None, str | None], int] = {}  # (page, source, country)

    def add(self, kind: str, user_key: str, page: str, source: str | None, country: str | None) -> None:
        """One accepted event (on the hot path: a few dict and set operations)."""
        self.events += 1
        self.users.add(user_key)
        if kind == "pageview":
            self.views += 1
            key = (page, source, country)
            self.pageviews[key] = self.pageviews.get(key, 0) + 1

    def fields(self) -> Counter[str]:
        """The hash fields to add: p:<page without query or fragment>, s:<source>, c:<country>."""
        fields: Counter[str] = Counter()
        for (page, source, country), n in self.pageviews.items():
            fields["p:" + page.split("?", 1)[0].split("#", 1)[0][:FIELD_MAX]] += n
            fields["s:" + (source or "")[:FIELD_MAX]] += n
            fields["c:" + (country or "")] += n
        return fields

    def args(self) -> list[Any]:
        """The ingest script's arguments for this token (see logdig.queue._INGEST)."""
        fields = self.fields()
        pairs = [x for item in fields.items() for x in item]
        return [self.events, self.views, len(self.users), *self.users, len(fields), *pairs]


def _top(counts: Counter[str], prefix: str, label: str, empty: str) -> list[dict[str, Any]]:
    rows = [(k[len(prefix) :], n) for k, n in counts.items() if k.startswith(prefix) and n > 0]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return [{label: name or empty, "views": n} for name, n in rows[:TOP]]


def live(redis: Any, token: str, now: float) -> dict[str, Any]:
    """The live figures of one token at `now` (epoch seconds), in one round trip."""
    from logdig.queue import live_keys

    minute = int(now // 60)
    minutes = list(range(minute - MINUTES + 1, minute + 1))
    keys = [live_keys(token, m) for m in minutes]
    pipe = redis.pipeline(transaction=False)
    for hash_key, _ in keys:
        pipe.hgetall(hash_key)
    pipe.pfcount(*[hll for _, hll in keys[-VISITOR_MINUTES:]])
    pipe.pfcount(*[hll for _, hll in keys])
    *hashes, visitors_now, visitors_all = pipe.execute()
    per_minute, total = [], Counter()
    for m, raw in zip(minutes, hashes, strict=True):
        counts = Counter({k.decode(errors="replace"): int(v) for k, v in raw.items()})
        total.update({k: v for k, v in counts.items() if not k.startswith("#")})
        at = datetime.fromtimestamp(m * 60, UTC).isoformat().replace("+00:00", "Z")
        per_minute.append({"minute": at, "events": counts["e"], "pageviews": counts["v"]})
    return {
        "token": token,
        "now": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "visitors_5m": int(visitors_now),
        "visitors_30m": int(visitors_all),
        "events_30m": total["e"],
        "pageviews_30m": total["v"],
        "per_minute": per_minute,
        "pages": _top(total, "p:", "page", "(unknown)"),
        "sources": _top(total, "s:", "source", "Direct / none"),
        "countries": _top(total, "c:", "country", "Unknown"),
    }

"""The dashboard's "Refresh now": one run at a time per site, and its last outcome.

A run is: write out the queued events (a forced flush), then analyse today for one site
(``worker.jobs.refresh``). The dashboard takes the lock (``start``) before it hands the run
to a worker, so a second click while one runs is refused at once; whoever runs it records
the outcome (``finish``), which also frees the lock. A run that dies frees it when the lock
expires (``LOCK_SECONDS``, longer than the job's own timeout). Key names: logdig.queue.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis import Redis

from logdig.queue import REFRESH, REFRESHED

JOB_TIMEOUT = 300  # seconds a refresh job may run before rq stops it
QUEUED_SECONDS = 600  # a job no worker started by then is dropped (the schedule has run by then)
LOCK_SECONDS = QUEUED_SECONDS + JOB_TIMEOUT  # a run that died or was dropped frees its site after this
OUTCOME_SECONDS = 7 * 86400  # how long the last outcome is kept ("last refreshed at ...")

# KEYS: lock, outcome. ARGV: run id, outcome JSON, its lifetime. The outcome is recorded
# in any case; the lock goes only if it is still this run's (an expired run's late finish
# must not free a newer run's lock).
_FINISH = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^%S+') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class Refreshes:
    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time):
        self.redis, self.clock = redis, clock
        self._finish = redis.register_script(_FINISH)

    def start(self, token: str) -> str | None:
        """Take the site's lock: a new run id, or None when a run already holds it."""
        run_id = secrets.token_hex(8)
        held = f"{run_id} {self.clock():.3f}"  # the id first: _FINISH compares it
        return run_id if self.redis.set(REFRESH + token, held, nx=True, ex=LOCK_SECONDS) else None

    def running(self, token: str) -> dict[str, Any] | None:
        """The run holding the site's lock ({id, started}), or None."""
        held = self.redis.get(REFRESH + token)
        if held is None:
            return None
        run_id, _, started = (held.decode() if isinstance(held, bytes) else held).partition(" ")
        try:
            return {"id": run_id, "started": float(started)}
        except ValueError:
            return {"id": run_id, "started": None}

    def finish(self, token: str, run_id: str, outcome: dict[str, Any]) -> None:
        """Record how the run went (``ok``, ``seconds``, ``error``...) and free the lock."""
        doc = json.dumps({**outcome, "id": run_id, "finished": self.clock()})
        self._finish(keys=[REFRESH + token, REFRESHED + token], args=[run_id, doc, OUTCOME_SECONDS])

    def cancel(self, token: str, run_id: str, reason: str) -> None:
        """Free the lock of a run that never started (no worker to run it)."""
        self.finish(token, run_id, {"ok": False, "error": reason})

    def last(self, token: str) -> dict[str, Any] | None:
        """The last finished run's outcome, or None."""
        return _json(self.redis.get(REFRESHED + token))

    def wait(
        self, token: str, run_id: str, seconds: float, sleep: Callable[[float], None] = time.sleep
    ) -> dict[str, Any] | None:
        """The outcome of run ``run_id`` once it finished, or None after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            outcome = self.last(token)
            if outcome is not None and outcome.get("id") == run_id:
                return outcome
            if time.monotonic() >= deadline:
                return None
            sleep(0.1)


def _json(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None

"""A load generator that behaves like the tracker's outbox.

New batches of events with unique event_ids are made at a steady rate and put in an
outbox. Sender threads POST them to /logs. A batch leaves the outbox only on a 202; on
a 503 or 429 it goes back after Retry-After (capped, see RETRY_CAP), and on a broken
connection or any other answer after a short pause, exactly as the tracker keeps
un-acknowledged events and sends them again. A resend of an event the collector had
already taken (its 202 was lost) comes back counted in "duplicates"; it is acknowledged
all the same and must not be stored twice.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass

from tests.helpers import make_event

# Honour Retry-After, but wait at most this long: the collector asks for 5 s (Redis
# down) or 30 s (queue full), and the tracker's own backoff is jittered and shorter at
# first. The cap keeps a CI run short; every refused batch is still resent.
RETRY_CAP = 1.0


@dataclass
class Batch:
    events: list[dict]
    body: bytes
    attempts: int = 0
    not_before: float = 0.0


class LoadGen:
    def __init__(self, port: int, token: str, *, prefix: str, rate: float, batch: int = 50, threads: int = 4):
        self.port, self.token, self.prefix = port, token, prefix
        self.rate, self.batch_size = rate, batch
        self.sent: set[str] = set()  # every event id posted at least once
        self.acked: set[str] = set()  # ids of events in a 202's "accepted" or "duplicates"
        self.statuses: Counter = Counter()  # HTTP status (or "conn-error") per request
        self.retry_after: Counter = Counter()  # Retry-After values seen, by status
        self.server_duplicates = 0  # the sum of "duplicates" in 202 answers
        self.resent_batches = 0
        self.errors: list[str] = []  # 5xx other than 503, bad 202 bodies
        self._outbox: list[Batch] = []
        self._busy = 0
        self._seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._generating = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._produce, daemon=True, name="loadgen-produce")]
        self._threads += [threading.Thread(target=self._send, daemon=True, name=f"loadgen-{i}") for i in range(threads)]

    # -- control ---------------------------------------------------------------------

    def start(self) -> LoadGen:
        self._generating.set()
        for t in self._threads:
            t.start()
        return self

    def stop_generating(self) -> None:
        self._generating.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(len(b.events) for b in self._outbox) + self._busy

    def drain(self, timeout: float = 90) -> None:
        """Stop making events and wait until every one has been acknowledged."""
        self.stop_generating()
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.pending()} events still unacknowledged after {timeout} s: {self.statuses}")
            time.sleep(0.1)

    def close(self) -> None:
        self._generating.clear()
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for t in self._threads:
            if t.ident is not None:
                t.join(15)

    def __enter__(self) -> LoadGen:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def count(self, status: int | str) -> int:
        with self._lock:
            return self.statuses[status]

    # -- threads -----------------------------------------------------------------------

    def _produce(self) -> None:
        every = self.batch_size / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            if not self._generating.is_set():
                time.sleep(0.05)
                next_at = time.monotonic()
                continue
            now = time.monotonic()
            if now < next_at:
                time.sleep(min(next_at - now, 0.05))
                continue
            next_at += every
            events = []
            for _ in range(self.batch_size):
                self._seq += 1
                events.append(make_event(self.token, event_id=f"{self.prefix}-{self._seq:08d}"))
            with self._wake:
                self._outbox.append(Batch(events, json.dumps(events).encode()))
                self._wake.notify()

    def _take(self) -> Batch | None:
        with self._wake:
            while not self._stop.is_set():
                now = time.monotonic()
                ready = [b for b in self._outbox if b.not_before <= now]
                if ready:
                    batch = min(ready, key=lambda b: b.not_before)
                    self._outbox.remove(batch)
                    self._busy += len(batch.events)
                    return batch
                self._wake.wait(0.05)
        return None

    def _give_back(self, batch: Batch, wait: float) -> None:
        with self._wake:
            batch.not_before = time.monotonic() + wait
            self._outbox.append(batch)
            self._busy -= len(batch.events)

    def _send(self) -> None:
        while (batch := self._take()) is not None:
            if batch.attempts:
                self.resent_batches += 1
            batch.attempts += 1
            with self._lock:
                self.sent.update(e["event_id"] for e in batch.events)
            try:
                status, retry_after, body = self._post(batch.body)
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.statuses["conn-error"] += 1
                self._give_back(batch, 0.2)
                continue
            with self._lock:
                self.statuses[status] += 1
                if retry_after is not None:
                    self.retry_after[(status, retry_after)] += 1
            if status == 202:
                self._took(batch, body)
            elif status in (429, 503):
                if retry_after is None:
                    self._error(f"{status} without Retry-After")
                self._give_back(batch, min(float(retry_after or 1), RETRY_CAP))
            else:
                if status >= 500:
                    self._error(f"{status}: {body[:200]!r}")
                self._give_back(batch, 0.5)

    def _took(self, batch: Batch, body: bytes) -> None:
        try:
            answer = json.loads(body)
            taken = answer["accepted"] + answer["duplicates"]
            ok = taken == len(batch.events) and not answer["rejected"]
        except (ValueError, KeyError, TypeError):
            answer, ok = {}, False
        if not ok:
            self._error(f"unexpected 202 body: {body[:300]!r}")
        with self._wake:
            self.server_duplicates += answer.get("duplicates", 0)
            self.acked.update(e["event_id"] for e in batch.events)
            self._busy -= len(batch.events)

    def _error(self, message: str) -> None:
        with self._lock:
            if len(self.errors) < 50:
                self.errors.append(message)

    def _post(self, body: bytes) -> tuple[int, str | None, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("POST", "/logs", body, {"Content-Type": "text/plain"})
            response = conn.getresponse()
            return response.status, response.getheader("Retry-After"), response.read()
        finally:
            conn.close()

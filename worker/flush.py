"""The old Lambda's job: move queued events into day-partitioned objects.

reserve -> group by received day -> encode -> write (retried) -> acknowledge.
Nothing is acknowledged before every object of the batch is written, and the
object names are the SHA-256 of their bytes, so a retry after a crash rewrites
the same objects instead of adding new ones.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from logdig.config import Settings
from logdig.events import received_day
from logdig.queue import EventQueue
from logdig.storage import ObjectStore, StorageError, raw_key

log = logging.getLogger("logdig.flush")

# Seconds between write attempts; the batch stays in Redis throughout.
RETRY_DELAYS = (0.5, 1, 2, 4, 8)

# TEST ONLY: LOGDIG_TEST_FAILPOINT kills the process (exit 137, like SIGKILL) at one point
# of a flush, so the fault suite can prove that no crash point loses or duplicates an
# event: `before-write` (batch reserved, nothing written), `mid-batch` (before the second
# object of a flush run: another day of the batch, or the next batch), `after-write`
# (every object of the batch written, not yet acknowledged). Never set it in production.
FAILPOINT_ENV = "LOGDIG_TEST_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        log.error("test failpoint %s: exiting now", name)
        os._exit(137)


@dataclass
class FlushReport:
    objects: list[str] = field(default_factory=list)
    events: int = 0
    bytes: int = 0
    recovered: int = 0
    reason: str = "nothing queued"

    def summary(self) -> str:
        if not self.objects:
            return f"no object written ({self.reason})"
        return f"wrote {self.events} events in {len(self.objects)} objects ({self.bytes} bytes)"


def group_by_day(batch: list[bytes]) -> dict[date, bytes]:
    """One object body per UTC receive day, lines kept in queue order."""
    days: dict[str, list[bytes]] = {}
    for line in batch:
        days.setdefault(received_day(line), []).append(line)
    return {date.fromisoformat(day): b"\n".join(lines) + b"\n" for day, lines in days.items()}


class Flusher:
    def __init__(
        self,
        queue: EventQueue,
        store: ObjectStore,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.queue, self.store, self.settings = queue, store, settings
        self.clock, self.sleep = clock, sleep

    def due(self, force: bool) -> str | None:
        """Why a batch should be written now, or None to wait."""
        state = self.queue.state()
        if state.inflight:
            return "recovering an unacknowledged batch"
        if not state.length:
            return None
        if force:
            return "forced"
        if state.length >= self.settings.batch_min:
            return f"{state.length} events queued"
        if state.oldest_received_at is not None:
            age = (self._now() - state.oldest_received_at).total_seconds()
            if age >= self.settings.max_wait:
                return f"oldest event waited {age:.0f} s"
        return None

    def waiting(self) -> str:
        """Why nothing is written now (when :meth:`due` says wait)."""
        if not self.queue.state().length:
            return "queue empty"
        return "queue below LOGDIG_BATCH_MIN and younger than LOGDIG_MAX_WAIT"

    def flush(self, force: bool = False) -> FlushReport:
        """Write batches while one is due. Raises StorageError when a write keeps failing."""
        try:
            report = self._flush(force)
        except StorageError as e:
            self.queue.record_flush(self._now(), f"failed: {e}", ok=False)
            raise
        self.queue.record_flush(self._now(), report.summary(), ok=True)
        return report

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _flush(self, force: bool) -> FlushReport:
        report = FlushReport()
        # Bounded, so a busy queue cannot keep one flush running for ever.
        for _ in range(self.queue.state().length // self.settings.batch_max + 2):
            reason = self.due(force)
            if reason is None:
                if not report.objects:
                    report.reason = self.waiting()
                break
            report.reason = reason
            batch = self.queue.reserve(self.settings.batch_max)
            if not batch:
                break
            self._write(batch, report)
            failpoint("after-write")
            if not self.queue.ack(batch):
                log.info("batch already acknowledged by another flusher")
        return report

    def _write(self, batch: list[bytes], report: FlushReport) -> None:
        failpoint("before-write")
        for day, body in group_by_day(batch).items():
            if report.objects:  # some objects of this flush written, more to come
                failpoint("mid-batch")
            key = raw_key(day, body)
            self._put(key, body)
            report.objects.append(key)
            report.bytes += len(body)
            self.queue.count(objects_written=1, bytes_written=len(body))
        report.events += len(batch)
        self.queue.count(flushes=1)

    def _put(self, key: str, body: bytes) -> None:
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            try:
                self.store.put(key, body)
                return
            except StorageError as e:
                if delay is None:
                    self.queue.count(flush_failures=1)
                    raise
                self.queue.count(write_retries=1)
                log.warning("write %s failed (attempt %d), retrying in %s s: %s", key, attempt, delay, e)
                self.sleep(delay)

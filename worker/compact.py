"""Compaction: a closed day's raw objects -> Parquet parts in the lake, and the day's manifest.

    lake/events/day=YYYY-MM-DD/token=<token>/part-<sha256>.parquet
    lake/_manifests/day=YYYY-MM-DD.json

The rows are those the analysis reads (``analysis.run.raw_unique`` on DuckDB: the same
reading, checks and repeat removal; bad rows and repeats left out and counted, bots kept
and flagged). A day is compacted once it is *closed*: its UTC day ended more than
``LOGDIG_MAX_WAIT`` + :data:`MARGIN` ago, so the flush has written everything received
that day. It is compacted again when its raw objects change (a late or restored object,
``logdig forget``, ``logdig prune``): the manifest lists the objects it came from.

Order of the steps, so that a compaction killed at any point leaves the old day or the new
one, never a mix, for a reader that goes by the manifest (LogDig's):

1. write the new parts (content-addressed: a part whose rows did not change keeps its key);
2. write the manifest (one PUT, atomic): from here on the new day is what LogDig reads;
3. delete the parts the new manifest does not list.

Before 2 the old manifest still lists the old parts, all still stored; after 2 the new one
lists the new parts, all written. A plain ``spark.read.parquet(".../lake/events")`` lists
the files instead: between 1 and 3 it sees a changed site's old and new part together
(its events twice), and after a kill there until the next compaction finishes step 3.
See analysis/README.md ("The lake").
"""

from __future__ import annotations

import io as _io
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from logdig.config import Settings
from logdig.storage import (
    RAW_KEY,
    ObjectStore,
    lake_manifest_key,
    lake_part_key,
    lake_parts,
)
from worker.flush import failpoint

log = logging.getLogger("logdig.compact")

MARGIN = 3600  # seconds after the day's end + LOGDIG_MAX_WAIT before a day is closed
ROW_GROUP_ROWS = 1_000_000  # Parquet row groups: Spark reads one a task (~10-30 MB zstd)
PART_ROWS = 4_000_000  # most rows in one part; a larger site-day gets several
BATCH_BYTES = 256 * 2**20  # raw bytes read together (one DuckDB pass; its memory is about 4x)
BATCH_DAYS = 8
ZSTD_LEVEL = 3
ENCODERS = 2  # threads encoding Parquet parts
ORDER = ("user_key", "ts_ms", "event_id")  # sorted in a part: visitors' rows together compress well


@dataclass
class CompactReport:
    days: list[str] = field(default_factory=list)  # compacted now
    current: list[str] = field(default_factory=list)  # already up to date
    open_days: list[str] = field(default_factory=list)  # not closed yet: left raw
    left: list[str] = field(default_factory=list)  # past the time budget: for the next run (read raw meanwhile)
    failed: list[str] = field(default_factory=list)  # their batch raised: read raw, tried again next run
    events: int = 0  # rows written (valid, unique, bots included)
    raw_bytes: int = 0
    lake_bytes: int = 0
    seconds: float = 0.0
    site: str | None = None  # --token: only this site's parts were rebuilt

    def summary(self) -> str:
        parts = [
            f"compacted {len(self.days)} days ({self.events} events, {self.raw_bytes} raw bytes -> {self.lake_bytes} lake bytes)"
        ]
        if self.site is not None and self.days and not self.events:
            parts.append(f"site {self.site} has no events in them")
        if self.current:
            parts.append(f"{len(self.current)} up to date")
        if self.open_days:
            parts.append(f"{len(self.open_days)} not closed yet ({', '.join(self.open_days)})")
        if self.left:
            parts.append(f"{len(self.left)} left for the next run (time budget)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({', '.join(self.failed)}; read raw, tried again next run)")
        return "; ".join(parts)


def closed(day: str, now: datetime, settings: Settings) -> bool:
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), UTC)
    return now >= end + timedelta(seconds=settings.max_wait + MARGIN)


def raw_days(store: ObjectStore) -> dict[str, list[str]]:
    """{day: its raw object keys, sorted} for every day with raw objects."""
    out: dict[str, list[str]] = {}
    for key in store.list():
        match = RAW_KEY.match(key)
        if match:
            out.setdefault(match.group(1), []).append(key)
    return {d: sorted(keys) for d, keys in sorted(out.items())}


def parquet_bytes(table: Any) -> bytes:
    import pyarrow.parquet as pq

    buf = _io.BytesIO()
    pq.write_table(
        table,
        buf,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=True,
    )
    return buf.getvalue()


@dataclass
class SortedRows:
    names: list[str]  # unique_events' columns in order (the manifest's "order")
    schema: Any  # the stored columns' Arrow schema (the partition columns are in the path)
    table: Any  # the batch's rows (stored columns), as exported
    order: Any  # indices into table: by day, token, then ORDER
    spans: dict[tuple[str, str], tuple[int, int]]  # (day, token) -> (first position in order, rows)

    def rows(self, day: str, token: str) -> int:
        return self.spans.get((day, token), (0, 0))[1]

    def part(self, day: str, token: str, start: int) -> Any:
        """Rows ``start`` to ``start + PART_ROWS`` of the site's day, sorted: a copy of those alone."""
        first, n = self.spans[(day, token)]
        return self.table.take(self.order.slice(first + start, min(PART_ROWS, n - start)))


def sorted_rows(conn: Any) -> SortedRows:
    """The ``unique_events`` of a batch as Arrow, with the order that sorts each (day, token)
    by :data:`ORDER`.

    One export and one sort of the keys in Arrow; each part takes its rows when it is
    encoded (in the encoding threads, one part's copy at a time). A DuckDB ``ORDER BY`` per
    site and day scanned the whole batch each time and moved the wide rows (lists of points)
    through its sort."""
    import pyarrow.compute as pc

    from analysis import lake

    names = [d[0] for d in conn.execute("SELECT * FROM unique_events LIMIT 0").description]
    stored = [n for n in names if n not in lake.PARTITIONS]
    columns = ", ".join(f'"{c}"' for c in ["day", "token", *stored])
    table = conn.execute(f"SELECT {columns} FROM unique_events").to_arrow_table()
    keys = ["day", "token", *ORDER]  # byte order, as DuckDB's ORDER BY; no nulls in these
    order = pc.sort_indices(table.select(keys), [(k, "ascending") for k in keys])
    counts = conn.execute('SELECT "day", "token", count(*) FROM unique_events GROUP BY ALL ORDER BY ALL').fetchall()
    spans, first = {}, 0
    for day, token, n in counts:
        spans[(day, token)] = (first, n)
        first += n
    rows = table.drop_columns(["day", "token"])
    return SortedRows(names, rows.schema, rows, order, spans)


def _encode(batch: SortedRows, day: str, token: str, start: int) -> bytes:
    return parquet_bytes(batch.part(day, token, start))


class Compactor:
    def __init__(self, store: ObjectStore, settings: Settings, clock: Callable[[], float] = time.time):
        self.store, self.settings, self.clock = store, settings, clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def plan(
        self, start: date | None = None, end: date | None = None, token: str | None = None
    ) -> tuple[list[str], list[str], CompactReport]:
        """(days to compact whole, days to rebuild for ``token`` only, report so far): closed
        days with raw objects in range whose manifest is not current; with ``token``, also
        that site's part of the current ones."""
        from analysis import lake

        report = CompactReport()
        whole, one_site = [], []
        now = self._now()
        for day, objects in raw_days(self.store).items():
            if (start and day < start.isoformat()) or (end and day > end.isoformat()):
                continue
            if not closed(day, now, self.settings):
                report.open_days.append(day)
                continue
            manifest = lake.read_manifest(self.store, day)
            if not lake.current(self.store, day, manifest, objects):
                whole.append(day)
            elif token is not None:
                one_site.append(day)
            else:
                self._tidy(day, manifest)
                report.current.append(day)
        return whole, one_site, report

    def _tidy(self, day: str, manifest: dict) -> None:
        """Finish an interrupted step 3: delete parts the current manifest does not list."""
        listed = {k for keys in manifest["parts"].values() for k in keys}
        for key in lake_parts(self.store, day):
            if key not in listed:
                self.store.delete(key)

    def _batches(self, days: list[str]) -> Iterator[list[str]]:
        """``days`` in batches read together: at most :data:`BATCH_BYTES` raw bytes (or one
        day) and :data:`BATCH_DAYS` days."""
        sizes = {d: sum(self.store.sizes(f"{d}/").values()) for d in days}
        batch: list[str] = []
        for day in days:
            if batch and (sum(sizes[d] for d in batch) + sizes[day] > BATCH_BYTES or len(batch) >= BATCH_DAYS):
                yield batch
                batch = []
            batch.append(day)
        if batch:
            yield batch

    def run(
        self,
        start: date | None = None,
        end: date | None = None,
        token: str | None = None,
        budget: float | None = None,
    ) -> CompactReport:
        """Compact what :meth:`plan` finds. With ``budget`` (seconds), no batch starts once it is
        spent (at least one always runs): the days not reached are in ``left``. A batch that
        raises is logged and its days are in ``failed``; the others go on."""
        started = time.perf_counter()
        whole, one_site, report = self.plan(start, end, token)
        report.site = token
        for days, only in ((whole, None), (one_site, token)):
            for batch in self._batches(days):
                if budget is not None and report.days and time.perf_counter() - started >= budget:
                    report.left.extend(batch)
                    continue
                try:  # one batch that cannot be read (an unreadable object) does not hold back the rest
                    self._compact(batch, only, report)
                except Exception:
                    log.exception("compaction of %s failed; those days are read raw", ", ".join(batch))
                    report.failed.extend(batch)
        report.seconds = time.perf_counter() - started
        return report

    def _compact(self, days: list[str], token: str | None, report: CompactReport) -> None:
        """Read ``days`` raw in one DuckDB pass, then write each day's parts and manifest
        (with ``token``: only that site's parts; the days' manifests are current)."""
        from analysis import io, lake
        from analysis.engines import duckdb_engine
        from analysis.loading import raw_unique  # not analysis.run: it imports the jobs (and scipy)

        engine = duckdb_engine()
        try:
            objects = {d: io.day_objects(self.store, d) for d in days}
            _, quality, token_quality, _ = raw_unique(engine, self.settings, self.store, days, token)
            batch = sorted_rows(engine.session._conn)
        finally:
            engine.close()
        # Parquet encoding lets go of the GIL: every part of the batch is encoded in threads
        # while the parts are stored one by one, in order (the failpoints count the puts)
        with ThreadPoolExecutor(max_workers=ENCODERS) as pool:
            encoded = {
                (day, tok): [pool.submit(_encode, batch, day, tok, s) for s in range(0, n, PART_ROWS)]
                for (day, tok), (_, n) in batch.spans.items()
            }
            for day in days:
                old = lake.read_manifest(self.store, day) if token is not None else None
                tokens = sorted(t for (t, d) in token_quality if d == day)
                parts = {tok: (encoded.get((day, tok), []), batch.rows(day, tok)) for tok in tokens}
                self._write_day(day, objects[day], quality.get(day), token_quality, token, old, report, parts, batch)
        del batch, encoded
        import pyarrow as pa

        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed memory: give it back before the next batch

    def _write_day(
        self,
        day: str,
        objects: list[str],
        quality: dict | None,
        token_quality: dict,
        token: str | None,
        old: dict | None,
        report: CompactReport,
        encoded: dict[str, tuple[list[Future], int]],
        batch: SortedRows,
    ) -> None:
        from analysis import lake

        parts: dict[str, list[str]] = dict(old["parts"]) if token is not None else {}
        counts: dict[str, dict] = dict(old["tokens"]) if token is not None else {}
        sizes: dict[str, int] = dict(old.get("part_bytes", {})) if token is not None else {}
        if token is not None:
            for key in parts.pop(token, []):
                sizes.pop(key, None)
            counts.pop(token, None)
        written = 0
        for tok, (futures, rows) in encoded.items():
            keys = []
            for future in futures:
                data = future.result()
                key = lake_part_key(day, tok, data)
                if written:
                    failpoint("compact-mid-parts")
                self.store.put(key, data, content_type="application/vnd.apache.parquet")
                sizes[key] = len(data)
                written += 1
                keys.append(key)
                report.lake_bytes += len(data)
            parts[tok] = keys
            counts[tok] = dict(token_quality[(tok, day)])
            report.events += rows
        q = quality or {"lines": 0, "valid": 0, "bad": {}}
        if token is not None:
            q = {k: old["quality"][k] for k in ("lines", "valid", "bad")}
        manifest = {
            "version": lake.code_version(),
            "day": day,
            **lake.columns(batch.schema),
            "order": batch.names,
            "objects": objects,
            "raw_bytes": sum(self.store.sizes(f"{day}/").get(k, 0) for k in objects),
            "parts": parts,
            "part_bytes": sizes,  # analysis.lake.current: a part of another size is not what was written
            "tokens": counts,
            "quality": {"lines": q["lines"], "valid": q["valid"], "bad": q["bad"]},
            "compacted_at": self._now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        failpoint("compact-before-manifest")
        from analysis.io import write_json

        write_json(self.store, lake_manifest_key(day), manifest)  # the commit
        failpoint("compact-before-delete")
        listed = {k for keys in parts.values() for k in keys}
        deleted = 0
        for key in lake_parts(self.store, day):
            if key not in listed:
                if deleted:
                    failpoint("compact-mid-delete")
                self.store.delete(key)
                deleted += 1
        report.days.append(day)
        report.raw_bytes += manifest["raw_bytes"]
        log.info("compacted %s: %d parts, %d old parts deleted", day, len(listed), deleted)


def compact(
    settings: Settings | None = None,
    store: ObjectStore | None = None,
    start: date | None = None,
    end: date | None = None,
    token: str | None = None,
    budget: float | None = None,
) -> CompactReport:
    from logdig.storage import open_store

    settings = settings or Settings.from_env()
    store = store or open_store(settings)
    report = Compactor(store, settings).run(start, end, token, budget)
    log.info("compact: %s", report.summary())
    return report


COMPACT_INTERVAL = 3600  # seconds between scheduled compactions (scheduler/cron.py)
# Seconds a scheduled compaction works before it queues the rest behind the jobs queued
# meanwhile: one worker runs one job at a time, and the first compaction of a site's whole
# history (about 70,000 events/s) would otherwise hold every flush back for up to an hour.
COMPACT_SLICE = 60


def compact_job() -> str:
    """What the scheduler enqueues every :data:`COMPACT_INTERVAL`: each closed day not yet
    in the lake (so every day once, after it closes), and any day whose raw objects changed,
    :data:`COMPACT_SLICE` seconds of it; the rest is queued again, behind the flushes."""
    report = compact(budget=COMPACT_SLICE)
    if report.left:
        _queue_the_rest()
    if report.failed:  # the job shows as failed, with what was done
        raise RuntimeError(report.summary())
    return report.summary()


def _queue_the_rest() -> None:
    """Another compaction at the end of this job's queue (nothing outside a worker)."""
    from rq import Queue, get_current_job

    job = get_current_job()
    if job is not None:
        Queue(job.origin, connection=job.connection).enqueue(
            compact_job, job_timeout=job.timeout, description="compact: the days left"
        )

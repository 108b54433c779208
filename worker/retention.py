"""Privacy and retention over stored objects: forget one user, prune old days.

Rewriting an object changes its bytes, so it gets a new SHA-256 name: the new object
is written first and the old one deleted after, so the other events of that object
are never missing (for a moment both exist; readers drop repeats by event_id).

The lake (worker/compact.py) is a copy of the raw objects: a lake day that holds a
forgotten user, or whose raw objects were rewritten or pruned, is dropped (its manifest
first, so readers go back to the raw objects at once, then its parts); the next
compaction builds it again from what is left.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date

from logdig.storage import LAKE_PART, ObjectStore, lake_days, lake_manifest_key, lake_parts, raw_key, raw_keys

log = logging.getLogger("logdig.retention")


@dataclass
class ForgetReport:
    events_removed: int = 0
    rewritten: list[tuple[str, str | None]] = field(default_factory=list)  # (old key, new key or None)
    lake_days: list[str] = field(default_factory=list)  # dropped from the lake (rebuilt by compaction)

    def summary(self) -> str:
        lake = (
            f"; dropped {len(self.lake_days)} lake days (the next compaction rebuilds them)" if self.lake_days else ""
        )
        return f"removed {self.events_removed} events from {len(self.rewritten)} objects{lake}"


def drop_lake_day(store: ObjectStore, day: str) -> int:
    """Remove a day from the lake: the manifest first (readers go back to the raw objects at
    once), then its parts. Returns the number of parts deleted."""
    store.delete(lake_manifest_key(day))
    parts = lake_parts(store, day)
    for key in parts:
        store.delete(key)
    return len(parts)


def _lake_holds(store: ObjectStore, key: str, user_key: str, token: str | None) -> bool:
    """Whether a lake part holds an event of ``user_key`` (of ``token``, when given)."""
    import io

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from logdig.storage import lake_part_token

    if token is not None and lake_part_token(key) != token:
        return False
    users = pq.read_table(io.BytesIO(store.get(key)), columns=["user_key"]).column("user_key")
    return bool(pc.any(pc.equal(users, user_key)).as_py())


def forget(store: ObjectStore, user_key: str, token: str | None = None) -> ForgetReport:
    """Remove every stored event of one user_key (optionally of one token only)."""
    report = ForgetReport()
    needle = json.dumps(user_key).encode()  # a cheap test before parsing any line
    for day, key in raw_keys(store):
        body = store.get(key)
        if needle not in body:
            continue
        kept, removed = [], 0
        for line in body.splitlines():
            event = json.loads(line)
            if event.get("user_key") == user_key and (token is None or event.get("token") == token):
                removed += 1
            else:
                kept.append(line)
        if not removed:
            continue
        new_key = None
        if kept:
            new_body = b"\n".join(kept) + b"\n"
            new_key = raw_key(day, new_body)
            store.put(new_key, new_body)
        store.delete(key)
        report.events_removed += removed
        report.rewritten.append((key, new_key))
        log.info("forget: %s -> %s (%d events removed)", key, new_key or "deleted", removed)
    touched = {k.split("/", 1)[0] for k, _ in report.rewritten}
    for day in lake_days(store):
        parts = lake_parts(store, day)
        if day in touched or any(_lake_holds(store, k, user_key, token) for k in parts if LAKE_PART.match(k)):
            drop_lake_day(store, day)
            report.lake_days.append(day)
            log.info("forget: lake day %s dropped", day)
    return report


def prune(store: ObjectStore, older_than_days: int, today: date) -> list[str]:
    """Delete raw objects, and lake days, of days more than `older_than_days` before `today`."""
    deleted = []
    for day in lake_days(store):
        if (today - date.fromisoformat(day)).days > older_than_days:
            deleted += [k for k in store.list(lake_manifest_key(day))]
            deleted += lake_parts(store, day)
            drop_lake_day(store, day)
    for day, key in raw_keys(store):
        if (today - day).days > older_than_days:
            store.delete(key)
            deleted.append(key)
    return deleted

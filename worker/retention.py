"""Privacy and retention over stored objects: forget one user, prune old days.

Rewriting an object changes its bytes, so it gets a new SHA-256 name: the new object
is written first and the old one deleted after, so the other events of that object
are never missing (for a moment both exist; readers drop repeats by event_id).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date

from logdig.storage import ObjectStore, raw_key, raw_keys

log = logging.getLogger("logdig.retention")


@dataclass
class ForgetReport:
    events_removed: int = 0
    rewritten: list[tuple[str, str | None]] = field(default_factory=list)  # (old key, new key or None)

    def summary(self) -> str:
        return f"removed {self.events_removed} events from {len(self.rewritten)} objects"


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
    return report


def prune(store: ObjectStore, older_than_days: int, today: date) -> list[str]:
    """Delete raw objects of days more than `older_than_days` before `today`."""
    deleted = []
    for day, key in raw_keys(store):
        if (today - day).days > older_than_days:
            store.delete(key)
            deleted.append(key)
    return deleted

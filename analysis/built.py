"""Query text built once per process and run again: the jobs' queries (``analysis.plan``)
and a raw load's checks and removal of repeats (``analysis.loading``).

Building a query with sqlframe is pure Python and costs the same whatever the data, so its
SQL text, and the ``stage`` statements it reads, are kept by what they depend on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from analysis.engines import recording


class Kept:
    """At most ``size`` values by key, the least recently used dropped first; for threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@contextmanager
def recorded_stages() -> Iterator[list[tuple[str, str]]]:
    """The (name, statement) of each ``analysis.engines.stage`` run inside the block, in order
    (each still runs as it is recorded)."""
    recorded: list[tuple[str, str]] = []
    token = recording.set(recorded)
    try:
        yield recorded
    finally:
        recording.reset(token)


def register(session: Any, name: str) -> dict[str, str]:
    """Give sqlframe's catalog the columns of view or table ``name`` from DESCRIBE (its own
    lookup binds every view of the database, over and over while queries are built); returns
    them, by name, in order."""
    kinds = {c: kind for c, kind, *_ in session._conn.execute(f"DESCRIBE {name}").fetchall()}
    session.catalog.add_table(name, kinds)
    return kinds

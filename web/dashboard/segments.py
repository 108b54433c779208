"""Filtered views: the results of one site, date range and filter, computed on demand.

A view with a filter (``analysis.filters``: page, channel, source, UTM, country, device,
browser, new or returning visitor, experiment variant) reads its documents from a
:class:`FilteredResults` instead of the stored results. Every view reads documents through
``views.reader()``, so each one (overview with its comparison, page and heat map, funnels,
experiments, goals, CSV export) works on a filter unchanged.

How a filtered range is made, and what bounds its cost:

- ``analysis.segments.compute``: the raw objects or the lake, the filter, then the same jobs,
  on DuckDB in the web process (bench/bench_filters.py has the time at 1M events);
- at most :data:`MAX_DAYS` days (the range is cut to its last days, with a note), plus the
  previous period on the overview, for its comparison; at most :data:`MAX_EVENTS` valid
  events in them (by the day reports), else 400 naming ``from``;
- one computation at a time per site (a Redis lock, ``logdig.locks.SegmentLocks``), in a
  thread of the web process, so no request outlives the server's timeouts: a request waits
  up to :data:`WAIT_SECONDS` for its result, then gets a page (503) that says it is being
  computed and reloads itself until it is there;
- cached in the object store (``logdig.storage.segment_key``, per site, range and filter,
  under the day it was computed on; each computation deletes the site's entries from
  before yesterday, :func:`sweep`)
  and in memory, and used while the stored results it was computed beside are the same
  (their ``generated_at`` and the site's definitions): a new analysis run makes the next
  filtered view compute again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from flask import current_app
from werkzeug.exceptions import BadRequest, ServiceUnavailable

from analysis import filters as segment_filters
from analysis.filters import Filter
from analysis.jobs import JOBS
from logdig.locks import SegmentLocks
from logdig.storage import results_key, segment_key, segment_prefix
from web.dashboard import results

MAX_DAYS = 31  # the longest range a filtered view computes (the overview adds as many before it)
MAX_EVENTS = 3_000_000  # valid events in the days computed (bench/README.md: seconds per million)
LOCK_SECONDS = 600  # a computation's lock expires after this even if its process died
WAIT_SECONDS = 20  # how long a request waits for its result before the page says it is coming
POLL_SECONDS = 0.2
MEMORY_ENTRIES = 8
# the views a filter applies to (pipeline health and Live read no analysis results by filter)
FILTERED = (
    "dashboard.ui.overview",
    "dashboard.ui.page",
    "dashboard.ui.definitions",
    "dashboard.ui.goals",
    "dashboard.ui.export",
)
# The jobs each view reads (a filtered view computes only those): by view, as export names them.
JOBS_FOR = {
    "overview": ("pages", "visits"),
    "page": ("pages", "heatmap", "experiments"),
    "funnels": ("funnels", "experiments"),
    "experiments": ("funnels", "experiments"),
    "definitions": ("funnels", "experiments"),
    "goals": ("goals",),
}
log = logging.getLogger(__name__)


class FilteredResults(results.Results):
    """A Results that serves the documents of one filtered computation; day reports (pipeline
    health) still come from the stored results."""

    def __init__(self, base: results.Results, docs: dict[str, dict], f: Filter, meta: dict):
        super().__init__(base.store, base.clock)
        self.base, self.docs, self.filter, self.meta = base, docs, f, meta

    def _get(self, key: str) -> dict | None:
        if key in self.docs:
            return self.docs[key]
        if key.startswith(results_key("_days", "all", "")[: -len(".json")]):
            return self.base._get(key)
        return None


def _memory() -> OrderedDict:
    ext = current_app.extensions
    if "logdig_segments" not in ext:
        ext["logdig_segments"] = (OrderedDict(), threading.Lock())
    return ext["logdig_segments"]


def _definitions(token: str) -> tuple[list, list, list]:
    from analysis.definitions import Definitions

    defs = Definitions(current_app.extensions["logdig"]["redis"])
    return defs.funnels(token), defs.experiments(token), defs.goals(token)


def _fingerprint(base: results.Results, token: str, days: list[str], definitions: tuple) -> str:
    """Changes when the stored results of these days or the site's definitions do."""
    stamps = [(d, (base.doc("pages", token, d) or {}).get("generated_at")) for d in days]
    defs = [[x.to_json() for x in kind] for kind in definitions]
    return hashlib.sha256(json.dumps([stamps, defs], sort_keys=True).encode()).hexdigest()[:24]


def _events_in(base: results.Results, days: list[str]) -> int:
    return sum(((base.day_report(d) or {}).get("quality") or {}).get("valid") or 0 for d in days)


def filtered_reader(
    base: results.Results, token: str, days: list[str], f: Filter, jobs: tuple[str, ...] = JOBS
) -> FilteredResults:
    """The results of ``token`` for ``days`` restricted to ``f``: cached, or computed now. Only
    ``jobs`` are computed (documents of the others are absent), e.g. ``("heatmap", "experiments")``.

    BadRequest (400, naming ``from``) when the days hold more than :data:`MAX_EVENTS`;
    ServiceUnavailable (503) while another computation for the site runs past the wait.
    For any caller with a Filter, such as the overlay's data endpoint.
    """
    days, jobs = sorted(set(days)), tuple(sorted(set(jobs)))
    name = hashlib.sha256(json.dumps([token, days, f.args(), jobs], sort_keys=True).encode()).hexdigest()[:32]
    definitions = _definitions(token)
    print_ = _fingerprint(base, token, days, definitions)
    memory, lock = _memory()
    with lock:
        hit = memory.get(name)
        if hit is not None and hit["fingerprint"] == print_:
            memory.move_to_end(name)
            return FilteredResults(base, hit["docs"], f, hit["meta"])
    found = _stored(base.store, token, name, print_)
    if found is None:
        found = _compute_once(base, token, days, f, jobs, name, print_, definitions)
    with lock:
        memory[name] = found
        while len(memory) > MEMORY_ENTRIES:
            memory.popitem(last=False)
    return FilteredResults(base, found["docs"], f, found["meta"])


def _stored(store: Any, token: str, name: str, print_: str) -> dict | None:
    try:
        doc = json.loads(store.get(segment_key(token, name, _today())))
    except Exception:  # noqa: BLE001 - missing or unreadable: compute it
        return None
    return doc if isinstance(doc, dict) and doc.get("fingerprint") == print_ else None


class Computing(ServiceUnavailable):
    """The filtered view is still being computed: the page says so and reloads by itself."""

    refresh = 5  # seconds; error.html turns it into a meta refresh

    def __init__(self) -> None:
        super().__init__(
            "This filtered view is being computed from the stored events (about a minute for a "
            "million events; bench/README.md). This page reloads by itself in a few seconds.",
            retry_after=self.refresh,
        )


# Process-local hand-over from a computing thread to the requests waiting for it (the
# object store is the shared one, but a cache that failed to write must not hang them).
_finished: dict[str, dict] = {}
_failed: dict[str, str] = {}
_handover = threading.Lock()


def _compute_once(
    base: results.Results,
    token: str,
    days: list[str],
    f: Filter,
    jobs: tuple,
    name: str,
    print_: str,
    definitions: tuple,
) -> dict:
    """Start the computation (in a thread, under the site's lock) unless one runs, then wait up
    to :data:`WAIT_SECONDS` for this view's result; :class:`Computing` after that."""
    events = _events_in(base, days)
    if events > MAX_EVENTS:
        raise BadRequest(
            f"from: a filtered view computes at most {MAX_EVENTS:,} events and these {len(days)} days hold "
            f"{events:,}; choose a shorter range"
        )
    ext = current_app.extensions["logdig"]
    locks = SegmentLocks(ext["redis"])
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with _handover:
            found, failed = _finished.pop(name, None), _failed.pop(name, None)
        if found is None:
            found = _stored(base.store, token, name, print_)
        if found is not None:
            return found
        if failed is not None:
            raise ServiceUnavailable(f"The filtered view could not be computed ({failed}); try again.")
        holder = locks.acquire(token, LOCK_SECONDS)
        if holder is not None:
            job = (ext["settings"], base.store, locks, holder, token, days, f, jobs, name, print_, definitions)
            threading.Thread(target=_compute, args=job, name=f"logdig-segment-{token}", daemon=True).start()
        if time.monotonic() > deadline:
            raise Computing()
        time.sleep(POLL_SECONDS)


def _compute(
    settings: Any,
    store: Any,
    locks: SegmentLocks,
    holder: str,
    token: str,
    days: list[str],
    f: Filter,
    jobs: tuple,
    name: str,
    print_: str,
    definitions: tuple,
) -> None:
    """Compute, store and hand over one filtered view; releases the site's lock."""
    from analysis import segments

    try:
        started = time.perf_counter()
        funnels, experiments, goals = definitions
        try:
            docs = segments.compute(settings, store, token, days, f, funnels, experiments, goals, jobs)
        except Exception as e:  # noqa: BLE001 - unreadable objects, engine trouble: say so, never a 500
            log.exception("filtered view of %s failed", token)
            with _handover:
                _failed[name] = type(e).__name__
            return
        seconds = time.perf_counter() - started
        meta = {"seconds": round(seconds, 2), "computed_at": time.time(), "days": days, "jobs": list(jobs)}
        found = {"fingerprint": print_, "filter": f.args(), "meta": meta, "docs": docs}
        try:
            store.put(segment_key(token, name, _today()), json.dumps(found).encode(), content_type="application/json")
            sweep(store, token)
        except Exception:  # noqa: BLE001 - the cache is a convenience: the view still shows
            log.warning("could not cache the filtered view of %s", token, exc_info=True)
        with _handover:
            _finished[name] = found
            while len(_finished) > MEMORY_ENTRIES:
                _finished.pop(next(iter(_finished)))
        log.info("filtered view of %s, %d days, %s: %.2fs", token, len(days), f.args(), seconds)
    finally:
        locks.release(token, holder)


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def sweep(store: Any, token: str, keep_days: int = 1) -> int:
    """Delete the site's cached filtered views computed before yesterday (UTC): a view asked
    for again is computed again, and the cache does not grow with every day's ranges."""
    oldest = time.strftime("%Y-%m-%d", time.gmtime(time.time() - keep_days * 86400))
    prefix = segment_prefix(token)
    stale = [k for k in store.list(prefix) if k[len(prefix) : len(prefix) + 10] < oldest]
    for key in stale:
        store.delete(key)
    return len(stale)


def parse(args: Any, skip: tuple[str, ...] = ()) -> Filter:
    """The Filter of a request's query; 400 naming the parameter on a bad value."""
    try:
        return segment_filters.parse(args, skip=skip)
    except segment_filters.FilterError as e:
        raise BadRequest(str(e)) from None


def _page_is_the_view() -> bool:
    """On a page's own view (and its CSV), ``page`` names the page shown, not a filter."""
    from flask import request

    return request.endpoint == "dashboard.ui.page" or (
        request.endpoint == "dashboard.ui.export" and (request.view_args or {}).get("view") == "page"
    )


def request_filter() -> Filter:
    """The filter in the current request's query (400 naming a bad parameter)."""
    from flask import request

    return parse(request.args, skip=("page",) if _page_is_the_view() else ())


def narrow(f: Filter, days: list[str], notes: list[str]) -> list[str]:
    """A filtered view's days: the last :data:`MAX_DAYS` of ``days``, with a note when cut."""
    if f.empty or len(days) <= MAX_DAYS:
        return days
    notes.append(
        f"A filtered view covers at most {MAX_DAYS} days: showing {days[-MAX_DAYS]} to {days[-1]}. "
        "Remove the filter to see the whole range."
    )
    return days[-MAX_DAYS:]


def use(token: str, days: list[str], f: Filter) -> None:
    """Make ``views.reader()`` serve this request the filtered results of ``token`` and ``days``."""
    from flask import g

    g.logdig_segment = None if f.empty else (token, days, f)


def current(base: results.Results) -> results.Results:
    """``base``, or the filtered results :func:`use` asked for in this request (computed once)."""
    from flask import g, has_request_context, request

    wanted = getattr(g, "logdig_segment", None) if has_request_context() else None
    if wanted is None or request.endpoint not in FILTERED:
        return base
    cached = getattr(g, "logdig_segment_reader", None)
    if cached is not None:
        return cached
    token, days, f = wanted
    view = (request.view_args or {}).get("view") or request.endpoint.rsplit(".", 1)[-1]
    if view not in JOBS_FOR:  # e.g. the health view's CSV
        return base
    if view == "overview":
        from datetime import date

        from web.dashboard.compare import previous_days

        days = previous_days(date.fromisoformat(days[0]), len(days)) + days  # for the comparison
    g.logdig_segment_reader = filtered_reader(base, token, days, f, JOBS_FOR[view])
    return g.logdig_segment_reader


OVERLAY_JOBS = JOBS_FOR["page"]  # the page view's: opened from a filtered page view, the overlay reuses its result


def overlay_reader(base: results.Results, token: str, days: list[str], args: Any) -> results.Results:
    """For the overlay's data endpoint (``web.dashboard.overlay.data``): ``base`` when the query
    names no filter, else the filtered results of the page's range (the page view's jobs, so
    an overlay opened from a filtered page view reads what that view computed), with the
    same parameters and rules as the dashboard's views.

    Raises ``analysis.filters.FilterError`` (``.param``: answer 400 naming it), BadRequest for
    a range too large, ServiceUnavailable (``Computing``: not ready within the wait; another
    try gets it) while it is being computed; the app turns both into JSON.
    """
    f = segment_filters.parse(args)
    if f.empty:
        return base
    return filtered_reader(base, token, days[-MAX_DAYS:], f, OVERLAY_JOBS)

"""Results for one site, date range and filter, computed on demand (the dashboard's filtered views).

The same load and jobs as ``analysis.run.analyze``, on the filtered events
(``analysis.filters.apply``), without writing result objects: :func:`compute` returns the
documents ``analysis.run`` would have written, keyed by their result keys, each with the
filter it was computed for. A day with events but none that match gets documents with
zero counts, so a filtered day shows 0, not "no result". Measured at 1M events:
bench/bench_filters.py, figures in bench/README.md.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from analysis import filters
from analysis.definitions import Experiment, Funnel, Goal
from analysis.engines import Engine, api, duckdb_engine
from analysis.jobs import JOBS
from analysis.loading import Loaded, load, materialize, rows
from analysis.run import VISIT_TOTALS
from analysis.run import compute as run_compute
from logdig.storage import results_key

EMPTY = {
    "pages": {"totals": {"events": 0, "pageviews": 0, "users": 0}},
    "visits": {"totals": dict(VISIT_TOTALS)},
    "goals": {"users": 0, "events": [], "goals": []},
}


def filtered(engine: Engine, loaded: Loaded, f: filters.Filter) -> Loaded:
    """``loaded`` restricted to ``f``: its events, and each token-day's ``events`` count
    (the other quality counts stay those of the whole day).

    The filtered events are computed once (a DuckDB table, a persisted Spark frame): left as a
    view, every job's query ran the filter's window functions again (a page view's jobs took
    2.3x as long; bench/README.md)."""
    if f.empty:
        return loaded
    events = materialize(engine, filters.apply(loaded.events, f), "filtered_events")
    if engine.name == "spark":
        loaded.cached.append(events)  # unpersisted with the rest by loaded.release()
    F = api(events).F
    counts = {
        (r["token"], r["day"]): r["n"] for r in rows(events.groupBy("token", "day").agg(F.count(F.lit(1)).alias("n")))
    }
    quality = {k: {**q, "events": int(counts.get(k, 0))} for k, q in loaded.token_quality.items()}
    return Loaded(events, loaded.quality, quality, loaded.cached, loaded.cleanup)


def compute(
    settings: Any,
    store: Any,
    token: str,
    days: list[str],
    f: filters.Filter,
    funnels: list[Funnel] | None = None,
    experiments: list[Experiment] | None = None,
    goals: list[Goal] | None = None,
    jobs: tuple[str, ...] = JOBS,
    threads: int | None = None,
) -> dict[str, dict]:
    """{result key: document} of ``token`` for ``days`` restricted to ``f``, on DuckDB."""
    started = time.perf_counter()
    engine = duckdb_engine(threads=threads)
    try:
        loaded = load(engine, settings, store, days, token)
        try:
            narrowed = filtered(engine, loaded, f)
            found = run_compute(narrowed, jobs, funnels, experiments, goals)
        finally:
            loaded.release()
    finally:
        engine.close()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out: dict[str, dict] = {}
    for (tok, day), quality in narrowed.token_quality.items():
        if tok != token:
            continue
        for job in jobs:
            data = found.get((job, tok, day))
            if data is None:
                data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in EMPTY.get(job, {}).items()}
            out[results_key(job, tok, day)] = {
                "job": job,
                "token": tok,
                "day": day,
                "engine": engine.name,
                "generated_at": now,
                "quality": quality,
                "filter": f.args(),
                "seconds": round(time.perf_counter() - started, 3),
                "data": data,
            }
    return out

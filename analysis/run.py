"""Orchestration: read a date range once (``analysis.loading``), run the jobs, write one result per job, token and day.

    results/<job>/<token>/<YYYY-MM-DD>.json   (logdig.storage.results_key)

Each document holds ``job``, ``token``, ``day``, ``engine``, ``generated_at``,
``quality`` (that token's valid events, repeats removed, bot events left out) and
``data`` (the job's output; see analysis/README.md). A full run (all jobs, all tokens)
also writes the day's report, ``results/_days/all/<day>.json``: the raw object keys it
read (content-addressed, so the list changes exactly when the data does), their total
``bytes``, and the bad rows by reason. The scheduler compares that list to decide what to recompute.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analysis import io, stats
from analysis.definitions import Experiment, Funnel, Goal
from analysis.engines import Engine
from analysis.jobs import JOBS, abheat, heatmap, pages, visits
from analysis.jobs import experiments as experiments_job
from analysis.jobs import funnels as funnels_job
from analysis.jobs import goals as goals_job
from analysis.loading import Loaded, load, materialize, raw_unique, rows
from analysis.plan import Grouped, Key, Runner, grouped
from logdig.storage import results_key

__all__ = ["Loaded", "analyze", "compute", "grouped", "load", "materialize", "raw_unique", "rows"]

DAY_REPORT = "_days"  # results/_days/all/<day>.json


@dataclass
class Summary:
    engine: str
    days: list[str]
    written: list[str]
    quality: dict[str, dict]
    seconds: float
    warnings: list[str] = field(default_factory=list)  # e.g. funnel steps that matched nothing


Docs = dict[Key, dict]  # (token, day) -> a job's result document
Results = dict[str, Grouped]  # a job's tables by name, each {(token, day): rows}


@dataclass(frozen=True)
class Definitions:
    funnels: list[Funnel]
    experiments: list[Experiment]
    goals: list[Goal]


def _tables(results: Results, names: Iterable[str]) -> Docs:
    """{name: {(token, day): rows}} -> {(token, day): {name: rows}} (every name, [] if none)."""
    docs: Docs = defaultdict(dict)
    for name, found in results.items():
        for key, items in found.items():
            docs[key][name] = items
    for doc in docs.values():
        for name in names:
            doc.setdefault(name, [])
    return docs


def _one_row(results: Results, names: Iterable[str], empty: dict) -> Docs:
    docs = _tables(results, names)
    for doc in docs.values():  # one row per token and day: an object, not a list
        found = doc["totals"]
        doc["totals"] = found[0] if found else dict(empty)
    return docs


VISIT_TOTALS = {"visits": 0, "visitors": 0, "bounces": 0, "pageviews": 0, "duration_ms": 0, "median_duration_ms": None}
PAGE_TOTALS = {"events": 0, "pageviews": 0, "users": 0}


def _per_definition(
    results: Results, keys: list[Key], name: str, definitions: list, entry: Callable[[Any, list[dict]], dict]
) -> Docs:
    """Each token-day's document lists ``entry(definition, its rows)`` under ``name`` for
    every definition of its token (or of all); the rows of definition i are table ``str(i)``."""
    docs: Docs = {k: {name: []} for k in keys}
    for i, definition in enumerate(definitions):
        rows_by_key = results.get(str(i), {})
        for key in keys:
            if definition.token in (None, key[0]):
                docs[key][name].append(entry(definition, rows_by_key.get(key, [])))
    return docs


def _funnel_docs(results: Results, keys: list[Key], d: Definitions) -> Docs:
    def entry(funnel: Funnel, found: list[dict]) -> dict:
        row = found[0] if found else {f"users_{k}": 0 for k in range(1, len(funnel.steps) + 1)}
        return funnels_job.summarise(row, funnel)

    return _per_definition(results, keys, "funnels", d.funnels, entry)


def _experiment_frames(events: Any, d: Definitions) -> dict[str, Any]:
    frames = {}
    for i, e in enumerate(d.experiments):
        frames[str(i)] = experiments_job.counts(events, e)
        frames[f"clicks{i}"] = abheat.click_grids(events, e)
        frames[f"moves{i}"] = abheat.move_grids(events, e)
    return frames


def _experiment_docs(results: Results, keys: list[Key], d: Definitions) -> Docs:
    def entry(exp: Experiment, found: list[dict]) -> dict:
        return {"experiment": exp.to_json(), **stats.experiment_result(found, exp.control, exp.weights)}

    docs = _per_definition(results, keys, "experiments", d.experiments, entry)
    for i, exp in enumerate(d.experiments):
        clicks, moves = results[f"clicks{i}"], results[f"moves{i}"]
        for key, doc in docs.items():
            for x in doc["experiments"]:  # the A/B heat maps: per page, viewport class and variant
                if x["experiment"] == exp.to_json():
                    x["heatmap"] = {
                        "clicks": clicks.get(key, []),
                        "moves": moves.get(key, []),
                        "move_grid": dict(heatmap.MOVE_GRID),
                    }
    return docs


def _heatmap_docs(results: Results, keys: list[Key], d: Definitions) -> Docs:
    docs = _tables(results, results)
    for doc in docs.values():  # the movement grid's cell size: documents without it have the click grid's
        doc["move_grid"] = dict(heatmap.MOVE_GRID)
    return docs


def _goal_frames(events: Any, d: Definitions) -> dict[str, Any]:
    frames = {"events": goals_job.custom_events(events), "users": goals_job.users(events)}
    return {**frames, **{str(i): goals_job.reached(events, g) for i, g in enumerate(d.goals)}}


def _goal_docs(results: Results, keys: list[Key], d: Definitions) -> Docs:
    """``users`` (the site's unique users), ``events`` (custom events: name, count, users,
    conversion) and ``goals`` (per defined goal: goal, count, users, conversion)."""
    docs = _tables({n: results[n] for n in ("events", "users")}, ("events", "users"))

    def entry(goal: Goal, found: list[dict]) -> dict:
        return {"goal": goal.to_json(), **(found[0] if found else {"count": 0, "users": 0})}

    reached = _per_definition(results, keys, "goals", d.goals, entry)
    out: Docs = {}
    for key in keys:
        doc = docs.get(key, {})
        users = doc["users"][0]["users"] if doc.get("users") else 0
        out[key] = {
            "users": users,
            "events": [{**e, "conversion": goals_job.conversion(e["users"], users)} for e in doc.get("events", [])],
            "goals": [{**g, "conversion": goals_job.conversion(g["users"], users)} for g in reached[key]["goals"]],
        }
    return out


@dataclass(frozen=True)
class Job:
    """How a job makes its frames from the events, and its documents from their rows."""

    frames: Callable[[Any, Definitions], dict[str, Any]]
    docs: Callable[[Results, list[Key], Definitions], Docs]
    uses: str | None = None  # the definitions its queries depend on
    raw: Callable[[str], bool] | None = None  # tables placed in the documents as they are (io.RawJSON)


def _all(name: str) -> bool:
    return True


def _not_totals(name: str) -> bool:
    return name != "totals"


def _grids(name: str) -> bool:
    return name.startswith(("clicks", "moves"))


BUILDERS: dict[str, Job] = {
    "heatmap": Job(lambda ev, d: heatmap.run(ev), _heatmap_docs, raw=_all),
    "pages": Job(lambda ev, d: pages.run(ev), lambda r, k, d: _one_row(r, r, PAGE_TOTALS), raw=_not_totals),
    "visits": Job(lambda ev, d: visits.run(ev), lambda r, k, d: _one_row(r, r, VISIT_TOTALS), raw=_not_totals),
    "funnels": Job(
        lambda ev, d: {str(i): funnels_job.steps(ev, f) for i, f in enumerate(d.funnels)}, _funnel_docs, "funnels"
    ),
    "experiments": Job(_experiment_frames, _experiment_docs, "experiments", raw=_grids),
    "goals": Job(_goal_frames, _goal_docs, "goals"),
}


def compute_batches(
    loaded: Loaded,
    jobs: Iterable[str] = JOBS,
    funnels: list[Funnel] | None = None,
    experiments: list[Experiment] | None = None,
    goals: list[Goal] | None = None,
    raw: bool = False,
) -> Iterator[dict[tuple[str, str, str], dict]]:
    """{(job, token, day): data} for every token and day with events, a batch of days at a
    time (``analysis.plan``). No I/O. With ``raw`` the big tables come as ``io.RawJSON`` on
    DuckDB (for ``io.write_json``), else every table is rows."""
    keys = sorted(k for k, q in loaded.token_quality.items() if q["events"] > 0)
    counts = {k: q["events"] for k, q in loaded.token_quality.items()}
    d = Definitions(funnels or [], experiments or [], goals or [])
    jobs = list(jobs)
    with Runner(loaded.events, copy=not loaded.stored) as runner:
        built = {}
        for job in jobs:
            spec = BUILDERS[job]
            uses = [x.to_json() for x in getattr(d, spec.uses)] if spec.uses else []
            built[job] = runner.build(job, uses, lambda ev, spec=spec: spec.frames(ev, d), spec.raw if raw else None)
        for days, results in runner.run(built, keys, counts):
            batch = keys if days is None else [k for k in keys if k[1] in days]
            out = {}
            for job in jobs:
                docs = BUILDERS[job].docs(results[job], batch, d)
                for token, day in batch:
                    out[(job, token, day)] = docs.get((token, day), {})
            yield out


def compute(
    loaded: Loaded,
    jobs: Iterable[str] = JOBS,
    funnels: list[Funnel] | None = None,
    experiments: list[Experiment] | None = None,
    goals: list[Goal] | None = None,
) -> dict[tuple[str, str, str], dict]:
    """{(job, token, day): data} for every token and day with events. No I/O."""
    out: dict[tuple[str, str, str], dict] = {}
    for batch in compute_batches(loaded, jobs, funnels, experiments, goals):
        out.update(batch)
    return out


def analyze(
    engine: Engine,
    settings: Any,
    store: Any,
    days: list[str],
    token: str | None = None,
    jobs: Iterable[str] = JOBS,
    funnels: list[Funnel] | None = None,
    experiments: list[Experiment] | None = None,
    goals: list[Goal] | None = None,
) -> Summary:
    """Read ``days``, run ``jobs``, write the result objects; return what was done."""
    started = time.perf_counter()
    jobs = tuple(jobs)
    objects = {d: io.day_objects(store, d) for d in days}
    loaded = load(engine, settings, store, days, token)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    written: list[str] = []
    funnel_results: dict[tuple[str, str, str], dict] = {}  # small: for the warnings
    try:  # written a batch of days at a time, so memory holds one batch's results
        for results in compute_batches(loaded, jobs, funnels, experiments, goals, raw=True):
            for (job, tok, day), data in sorted(results.items()):
                key = results_key(job, tok, day)
                doc = {
                    "job": job,
                    "token": tok,
                    "day": day,
                    "engine": engine.name,
                    "generated_at": now,
                    "quality": loaded.token_quality[(tok, day)],
                    "data": data,
                }
                io.write_json(store, key, doc)
                written.append(key)
            funnel_results.update((k, v) for k, v in results.items() if k[0] == "funnels")
    finally:
        loaded.release()
    if token is None and set(jobs) == set(JOBS):
        for day in days:
            report = {
                "day": day,
                "objects": objects[day],
                "bytes": io.objects_bytes(store, day, objects[day]),
                "quality": loaded.quality.get(day),
                "generated_at": now,
            }
            io.write_json(store, results_key(DAY_REPORT, "all", day), report)
    warnings = funnels_job.unmatched_steps(funnel_results)
    return Summary(engine.name, list(days), written, loaded.quality, time.perf_counter() - started, warnings)


def warm() -> float:
    """Build every job's queries (those without definitions), and the checks and removal of
    repeats of a raw load, on an empty day, so that each fork of this process (an RQ job:
    "Refresh now", a scheduled run, a compaction) finds them built (``analysis.plan``,
    ``analysis.loading.materialize_built``): about 6 s of CPU once, in the worker's main
    process. Returns the seconds."""
    import tempfile

    from analysis.engines import duckdb_engine
    from logdig.config import Settings
    from logdig.storage import LocalStore

    started = time.perf_counter()
    engine = duckdb_engine()
    with tempfile.TemporaryDirectory(prefix="logdig-warm-") as folder:
        loaded = load(engine, Settings(data_dir=folder), LocalStore(folder), ["2000-01-01"], use_lake=False)
        try:
            for _ in compute_batches(loaded):
                pass
        finally:
            loaded.release()
            engine.close()
    return time.perf_counter() - started

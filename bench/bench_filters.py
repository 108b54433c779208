"""Filtered views computed on demand (web/dashboard/segments.py), at 1,000,000 events of one site.

    python3 bench/bench_filters.py [--events 1000000] [--days 10] [--data DIR] [--lake]

Generates the events once (``analysis.testdata``: one site, ``--days`` days, all viewports)
into a folder of DIR named after that shape (reused when of the same shape), then times on
DuckDB, each from reading the objects to the documents (``analysis.segments.compute``, what a
filtered view waits for):

- the baseline: every job unfiltered (what the scheduled analysis does for these days);
- each view's jobs with a filter: the overview (pages, visits) by ``device=mobile``, a page
  and its heat map (pages, heatmap, experiments) by ``device=mobile``, ``visitor=new``,
  ``source=(none)`` and ``variant=new_button:green``, the goals by ``country=US``;
- the heat map job alone per device type, unfiltered vs by device: what precomputing the
  device segments would add to every scheduled run.

With ``--lake`` the days are compacted first (``worker/compact.py``), as every past day is
once it has closed, so the views read the lake instead of parsing the raw objects.

Ends with BENCH lines (bench/README.md):

    BENCH filtered_view seconds=<slowest view> baseline=<all jobs unfiltered> ratio=<baseline/ours> target_ratio=<baseline/10> target=10s
    BENCH filter_overhead seconds=<page jobs, device=mobile> baseline=<page jobs unfiltered> ratio=... target_ratio=0.5
    BENCH segment_precompute seconds=<heat map x 3 device segments> baseline=<all jobs unfiltered> ratio=... target_ratio=1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import bench_line, machine  # noqa: E402

from analysis import segments  # noqa: E402
from analysis.definitions import parse_experiment, parse_funnel, parse_goal  # noqa: E402
from analysis.engines import duckdb_engine  # noqa: E402
from analysis.filters import Filter  # noqa: E402
from analysis.jobs import JOBS  # noqa: E402
from analysis.loading import load  # noqa: E402
from analysis.testdata import EXPERIMENT, generate_events, write_objects  # noqa: E402
from logdig.config import Settings  # noqa: E402
from logdig.storage import LocalStore  # noqa: E402

TOKEN = "siteA"
FIRST_DAY = date(2026, 11, 18)
EVENTS_PER_USER = 11.9  # what the generator makes on average
TARGET_SECONDS = 10.0  # a filtered view "in seconds"
SHAPE_FILE = "shape.json"
VIEWS = {
    "overview": ("pages", "visits"),
    "page": ("pages", "heatmap", "experiments"),
    "goals": ("goals",),
}
CASES = [  # (view, filter)
    ("overview", Filter(device="mobile")),
    ("page", Filter(device="mobile")),
    ("page", Filter(visitor="new")),
    ("page", Filter(source="(none)")),
    ("page", Filter(variant=f"{EXPERIMENT}:green")),
    ("goals", Filter(country="US")),
]


def ensure_data(parent: Path, events: int, days: list[str]) -> Path:
    want = {"events": events, "days": days, "token": TOKEN, "seed": 1}
    root = parent / f"filters-{events}ev-{len(days)}d"
    marker = root / SHAPE_FILE
    if marker.exists() and json.loads(marker.read_text()) == want:
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    users = max(1, round(events / EVENTS_PER_USER / len(days)))
    t = time.perf_counter()
    generated = generate_events(days, [TOKEN], users_per_day=users, seed=1)
    write_objects(LocalStore(root), generated, batch=10_000)
    print(f"generated {len(generated):,} events in {time.perf_counter() - t:.1f}s")
    marker.write_text(json.dumps(want))
    return root


def timed(settings, store, days, f: Filter, jobs, definitions) -> tuple[float, int]:
    t = time.perf_counter()
    docs = segments.compute(settings, store, TOKEN, days, f, *definitions, jobs=jobs)
    elapsed = time.perf_counter() - t
    events = sum(d["quality"]["events"] for k, d in docs.items() if d["job"] == jobs[0])
    return elapsed, events


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--data", type=Path, help="parent folder for the generated objects (kept; reused)")
    p.add_argument("--lake", action="store_true", help="compact the days first and read them from the lake")
    args = p.parse_args()
    days = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(args.days)]
    read = [*days, (FIRST_DAY + timedelta(days=args.days)).isoformat()]  # late events arrive after midnight
    root = ensure_data(args.data or Path(tempfile.mkdtemp(prefix="logdig-bench-")), args.events, days)
    settings, store = Settings(data_dir=str(root)), LocalStore(root)
    if args.lake:  # past days are compacted once closed: what a filtered view of them reads
        from worker.compact import Compactor

        print(f"lake: {Compactor(store, settings, clock=lambda: 4e9).run().summary()}")
    definitions = (
        [parse_funnel({"name": "signup", "steps": ["url:*/pricing", "url:*/signup", "event:purchase"]})],
        [parse_experiment({"name": EXPERIMENT, "goal": "event:purchase"})],
        [parse_goal({"name": "buy", "goal": "event:purchase"})],
    )
    print(f"machine: {machine()} (other work on the machine skews every figure; compare ratios)")
    engine = duckdb_engine()
    t = time.perf_counter()
    load(engine, settings, store, read, TOKEN)
    loading = time.perf_counter() - t
    engine.close()
    print(f"loading alone (read, check, repeats; in every figure below): {loading:6.2f}s")
    base, total = timed(settings, store, read, Filter(), JOBS, definitions)
    print(f"baseline  all jobs, unfiltered, {total:,} clean events: {base:6.2f}s")
    page_plain, _ = timed(settings, store, read, Filter(), VIEWS["page"], definitions)
    print(f"page jobs unfiltered: {page_plain:6.2f}s")
    seconds = {}
    for view, f in CASES:
        elapsed, kept = timed(settings, store, read, f, VIEWS[view], definitions)
        seconds[(view, json.dumps(f.args()))] = elapsed
        print(f"{view:9s} {json.dumps(f.args()):40s} {elapsed:6.2f}s  ({kept:,} events kept)")
    heat_plain, _ = timed(settings, store, read, Filter(), ("heatmap",), definitions)
    heat_segments = 0.0
    for device in ("desktop", "mobile", "tablet"):
        elapsed, _ = timed(settings, store, read, Filter(device=device), ("heatmap",), definitions)
        heat_segments += elapsed
    print(f"heat map job alone: unfiltered {heat_plain:.2f}s; per device type (3 runs) {heat_segments:.2f}s")
    slowest = max(seconds.values())
    mobile_page = seconds[("page", json.dumps({"device": "mobile"}))]
    print(
        bench_line(
            "filtered_view",
            "seconds",
            slowest,
            base,
            base / slowest,
            base / TARGET_SECONDS,
            target="10s",
            events=total,
            fastest=min(seconds.values()),
            load=loading,
        )
    )
    print(bench_line("filter_overhead", "seconds", mobile_page, page_plain, page_plain / mobile_page, 0.5))
    print(bench_line("segment_precompute", "seconds", heat_segments, base, base / heat_segments, 1))


if __name__ == "__main__":
    main()

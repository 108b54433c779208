"""Analysis runtime on 1,000,000 events, on DuckDB (sqlframe) and on Spark (local).

    python3 bench/bench_analysis.py [--events 1000000] [--data DIR] [--engines duckdb,spark]

Generates the events once (``analysis.testdata``: 4 sites, 2 days, all viewports,
2% repeats, a few bad lines per object, 10,000 events an object) into DIR (a temp
folder unless given; an existing DIR is reused), then times a full run of every job
(read, check, remove repeats, heat map, pages, one funnel, one experiment) on each
engine, without writing results.

Baseline, measured in the same run over the same files: DuckDB's own
``read_json`` (two columns) scanning every object and counting events and distinct users per
site and day -- the least any engine must do to look at each event once. Each figure
is printed beside it as a ratio. Spark's time includes its query planning but not
the JVM start (printed separately).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis import run  # noqa: E402
from analysis.definitions import parse_experiment, parse_funnel  # noqa: E402
from analysis.engines import duckdb_engine, spark_engine  # noqa: E402
from analysis.testdata import EXPERIMENT, generate_events, write_objects  # noqa: E402
from logdig.config import Settings  # noqa: E402
from logdig.storage import LocalStore  # noqa: E402

DAYS = ["2026-11-25", "2026-11-26"]
READ = [*DAYS, "2026-11-27"]  # late-evening events are received after midnight
TOKENS = ["siteA", "siteB", "siteC", "siteD"]
EVENTS_PER_USER = 11.9  # what the generator makes on average


def ensure_data(root: Path, events: int) -> int:
    store = LocalStore(root)
    if any(store.list("2026-")):
        return sum(1 for k in store.list("2026-"))
    users = max(1, round(events / EVENTS_PER_USER / len(DAYS) / len(TOKENS)))
    t = time.perf_counter()
    generated = generate_events(DAYS, TOKENS, users_per_day=users, seed=1)
    ds = write_objects(store, generated, batch=10_000, duplicate_rate=0.02, bad_per_object=5, seed=1)
    print(
        f"generated {len(generated):,} events (+{ds.duplicates:,} repeats, {ds.bad} bad lines) "
        f"in {len(ds.keys)} objects in {time.perf_counter() - t:.1f}s"
    )
    return len(ds.keys)


def baseline(root: Path) -> tuple[float, int]:
    import duckdb

    files = sorted(str(p) for p in root.glob("2026-*/*.jsonl"))
    conn = duckdb.connect()
    t = time.perf_counter()
    rows = conn.execute(
        "SELECT token, regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})/', 1) AS day, count(*), "
        "count(DISTINCT user_key) FROM read_json(?, format='newline_delimited', ignore_errors=true, "
        "filename=true, columns={token: 'VARCHAR', user_key: 'VARCHAR'}) GROUP BY ALL",
        [files],
    ).fetchall()
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed, sum(r[2] for r in rows if r[0])


def full_run(engine, settings, store) -> tuple[float, int]:
    funnel = parse_funnel({"name": "signup", "steps": ["url:*/pricing", "url:*/signup", "event:purchase"]})
    experiment = parse_experiment({"name": EXPERIMENT, "goal": "event:purchase"})
    t = time.perf_counter()
    loaded = run.load(engine, settings, store, READ)
    t_load = time.perf_counter() - t
    results = run.compute(loaded, funnels=[funnel], experiments=[experiment])
    elapsed = time.perf_counter() - t
    loaded.release()
    events = sum(q["events"] for q in loaded.token_quality.values())
    assert len(results) >= 4 * len(TOKENS) * len(DAYS)
    print(f"          (read + check + repeats {t_load:.2f}s, jobs and collecting results {elapsed - t_load:.2f}s)")
    return elapsed, events


def load_average() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except OSError:  # pragma: no cover - not on every platform
        return "load average unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--data", type=Path, help="folder for the generated objects (kept; reused when present)")
    p.add_argument("--engines", default="duckdb,spark")
    args = p.parse_args()
    root = args.data or Path(tempfile.mkdtemp(prefix="logdig-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    objects = ensure_data(root, args.events)
    settings = Settings(data_dir=str(root))
    store = LocalStore(root)

    print(f"machine: {load_average()} (other work on the machine skews every figure; compare ratios)")
    base, counted = baseline(root)
    print(f"baseline  DuckDB read_json scan + count per site/day: {base:6.2f}s ({counted:,} rows, {objects} objects)")
    for name in args.engines.split(","):
        if name == "duckdb":
            engine = duckdb_engine()
        else:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            t = time.perf_counter()
            engine = spark_engine(
                os.environ.get("SPARK_MASTER", "local[*]"),
                {
                    "spark.ui.enabled": "false",
                    "spark.ui.showConsoleProgress": "false",
                    "spark.driver.memory": "4g",
                    "spark.sql.shuffle.partitions": "8",
                },
            )
            engine.session.sparkContext.setLogLevel("ERROR")
            print(f"(spark session start {time.perf_counter() - t:.1f}s, not counted)")
        elapsed, events = full_run(engine, settings, store)
        print(
            f"{name:8s}  all jobs on {events:,} clean events: {elapsed:6.2f}s   "
            f"{events / elapsed:,.0f} events/s   {elapsed / base:5.1f}x baseline   (after it: {load_average()})"
        )
        if name == "duckdb":
            engine.close()
        else:
            engine.session.stop()


if __name__ == "__main__":
    main()

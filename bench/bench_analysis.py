"""Analysis runtime on 1,000,000 events, on DuckDB (sqlframe) and on Spark (local).

    python3 bench/bench_analysis.py [--events 1000000] [--data DIR] [--engines duckdb,spark] [--runs 3]

Generates the events once (``analysis.testdata``: 3 sites, 10 days, all viewports,
2% repeats, 5 bad lines per 10,000-event object) into a folder of DIR named after that
shape (so a cache of another shape is never reused; a temp folder unless DIR is given),
then times a full run of every job (read, check, remove repeats, heat map, pages, one
funnel, one experiment) on each engine, without writing results. DuckDB runs ``--runs``
times and reports the median; Spark runs once.

Baseline, measured in the same run over the same files, once before each DuckDB run:
DuckDB's own ``read_json`` (two columns) scanning every object and counting events and
distinct users per site and day -- the least any engine must do to look at each event
once. Spark's time includes its query planning but not the JVM start (printed
separately). Ends with one BENCH line per figure (see bench/README.md):

    BENCH analysis_duckdb seconds=... baseline=<read_json s> ratio=<baseline/ours> target_ratio=<baseline/10> target=10s
    BENCH analysis_engines duckdb_seconds=... baseline=<spark s> ratio=<spark/duckdb> target_ratio=3
    BENCH analysis_moves seconds=<with moves> baseline=<without> ratio=<without/with> target_ratio=0.667

The last (issue 14): ``--move-events`` events (200,000 by default) generated twice from the
same seed, once as they are and once with move events added (10% of all events, 300
points each, the tracker's most); the other events are identical. DuckDB, median of
``--runs`` each, alternating; the target is at most 1.5x the time without movement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import bench_line, machine  # noqa: E402

from analysis import run  # noqa: E402
from analysis.definitions import parse_experiment, parse_funnel  # noqa: E402
from analysis.engines import duckdb_engine, spark_engine  # noqa: E402
from analysis.testdata import EXPERIMENT, generate_events, write_objects  # noqa: E402
from logdig.config import Settings  # noqa: E402
from logdig.storage import LocalStore  # noqa: E402

FIRST_DAY = date(2026, 11, 18)
DAYS = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(10)]  # 2026-11-18 .. 2026-11-27
READ = [*DAYS, (FIRST_DAY + timedelta(days=len(DAYS))).isoformat()]  # late events are received after midnight
TOKENS = ["siteA", "siteB", "siteC"]
EVENTS_PER_USER = 11.9  # what the generator makes on average
DUPLICATE_RATE = 0.02
BAD_PER_OBJECT = 5
OBJECT_EVENTS = 10_000
SEED = 1
TARGET_SECONDS = 10.0
TARGET_SPEEDUP = 3.0
SHAPE_FILE = "shape.json"
MOVE_SHARE = 0.1  # issue 14: move events' share of all events in the analysis_moves figure
MOVE_POINTS = 300  # points per move event (the tracker's maximum)
MOVE_TARGET = 1.5  # at most this many times the time without movement


def shape(events: int, move_share: float = 0.0, move_points: int = 0) -> dict:
    """Everything the generated data depends on; a cache of another shape is not reused."""
    return {
        "events": events,
        "days": DAYS,
        "tokens": TOKENS,
        "duplicate_rate": DUPLICATE_RATE,
        "bad_per_object": BAD_PER_OBJECT,
        "object_events": OBJECT_EVENTS,
        "seed": SEED,
        **({"move_share": move_share, "move_points": move_points} if move_share else {}),
    }


def data_folder(parent: Path, events: int, move_share: float = 0.0) -> Path:
    moves = f"-{move_share:g}moves" if move_share else ""
    return parent / f"{events}ev-{len(DAYS)}d-{len(TOKENS)}t{moves}"


def ensure_data(root: Path, events: int, move_share: float = 0.0, move_points: int = 0) -> int:
    """Generate the objects into ``root`` unless a complete set of the same shape is there.
    ``events`` counts the events without movement; ``move_share`` adds move events."""
    marker = root / SHAPE_FILE
    want = shape(events, move_share, move_points)
    if marker.exists() and json.loads(marker.read_text()) == want:
        return sum(1 for _ in root.glob("2026-*/*.jsonl"))
    if root.exists():  # interrupted or of another shape: our own folder, start again
        shutil.rmtree(root)
    root.mkdir(parents=True)
    store = LocalStore(root)
    users = max(1, round(events / EVENTS_PER_USER / len(DAYS) / len(TOKENS)))
    t = time.perf_counter()
    generated = generate_events(
        DAYS, TOKENS, users_per_day=users, seed=SEED, move_share=move_share, move_points=move_points
    )
    ds = write_objects(
        store, generated, batch=OBJECT_EVENTS, duplicate_rate=DUPLICATE_RATE, bad_per_object=BAD_PER_OBJECT, seed=SEED
    )
    print(
        f"generated {len(generated):,} events (+{ds.duplicates:,} repeats, {ds.bad} bad lines) "
        f"in {len(ds.keys)} objects in {time.perf_counter() - t:.1f}s"
    )
    marker.write_text(json.dumps(want))  # last: the set is complete
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


def full_run(engine, settings, store) -> tuple[float, int, str]:
    """(seconds, clean events, a line saying how the seconds split), for the caller to print after its own."""
    funnel = parse_funnel({"name": "signup", "steps": ["url:*/pricing", "url:*/signup", "event:purchase"]})
    experiment = parse_experiment({"name": EXPERIMENT, "goal": "event:purchase"})
    t = time.perf_counter()
    loaded = run.load(engine, settings, store, READ)
    t_load = time.perf_counter() - t
    results = 0  # as run.analyze goes (a batch of days at a time, big tables as JSON text), not written
    for batch in run.compute_batches(loaded, funnels=[funnel], experiments=[experiment], raw=True):
        results += len(batch)
    elapsed = time.perf_counter() - t
    loaded.release()
    events = sum(q["events"] for q in loaded.token_quality.values())
    assert results >= 4 * len(TOKENS) * len(DAYS)
    return (
        elapsed,
        events,
        f"          (read + check + repeats {t_load:.2f}s, jobs and collecting results {elapsed - t_load:.2f}s)",
    )


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:  # pragma: no cover - not on every platform
        return "load average unknown"


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def start_spark():
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
    return engine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="0: only the analysis_moves figure")
    p.add_argument(
        "--data", type=Path, help="parent folder for the generated objects (kept; reused when of this shape)"
    )
    p.add_argument("--engines", default="duckdb,spark")
    p.add_argument("--runs", type=int, default=3, help="DuckDB runs (the median is reported); Spark runs once")
    p.add_argument(
        "--move-events", type=int, default=200_000, help="events of the analysis_moves figure (0: leave it out)"
    )
    args = p.parse_args()
    parent = args.data or Path(tempfile.mkdtemp(prefix="logdig-bench-"))
    if not args.events:  # only the analysis_moves figure
        print(f"machine: {machine()}; {load_average()}")
        moves_figure(parent, args.move_events, args.runs)
        return
    root = data_folder(parent, args.events)
    objects = ensure_data(root, args.events)
    settings = Settings(data_dir=str(root))
    store = LocalStore(root)

    print(f"machine: {machine()}; {load_average()} (other work on the machine skews every figure; compare ratios)")
    print(f"data: {root} ({objects} objects)")
    bases: list[float] = []
    clean = 0
    seconds: dict[str, list[float]] = {}
    for name in args.engines.split(","):
        engine = duckdb_engine() if name == "duckdb" else start_spark()
        for _ in range(args.runs if name == "duckdb" else 1):
            if name == "duckdb":  # interleaved with our runs, so both see the same load
                base, counted = baseline(root)
                bases.append(base)
                print(f"baseline  DuckDB read_json scan + count per site/day: {base:6.2f}s ({counted:,} rows)")
            elapsed, events, split = full_run(engine, settings, store)
            seconds.setdefault(name, []).append(elapsed)
            clean = events
            print(
                f"{name:8s}  all jobs on {events:,} clean events: {elapsed:6.2f}s   "
                f"{events / elapsed:,.0f} events/s   (after it: {load_average()})"
            )
            print(split)
        if name == "duckdb":
            engine.close()
            print(f"duckdb    peak RSS of this process: {peak_rss_mib():,.0f} MiB")
        else:
            engine.session.stop()

    print(f"machine after: {load_average()}")
    if "duckdb" in seconds:
        duck = statistics.median(seconds["duckdb"])
        base = statistics.median(bases)
        runs = seconds["duckdb"]
        print(
            bench_line(
                "analysis_duckdb",
                "seconds",
                duck,
                base,
                base / duck,
                base / TARGET_SECONDS,
                target="10s",
                runs=len(runs),
                min=min(runs),
                max=max(runs),
                events=clean,
            )
        )
        if "spark" in seconds:
            spark = seconds["spark"][0]
            print(bench_line("analysis_engines", "duckdb_seconds", duck, spark, spark / duck, TARGET_SPEEDUP))
    if args.move_events:
        moves_figure(parent, args.move_events, args.runs)


def moves_figure(parent: Path, events: int, runs: int) -> None:
    """The analysis_moves line: the same events without and with 10% move events of 300 points."""
    roots = {}
    for share in (0.0, MOVE_SHARE):
        roots[share] = data_folder(parent, events, share)
        ensure_data(roots[share], events, share, MOVE_POINTS if share else 0)
    times: dict[float, list[float]] = {0.0: [], MOVE_SHARE: []}
    engine = duckdb_engine()
    for _ in range(runs):
        for share, root in roots.items():  # alternating, so both see the same load
            elapsed, clean, split = full_run(engine, Settings(data_dir=str(root)), LocalStore(root))
            times[share].append(elapsed)
            print(f"moves={share:g}  all jobs on {clean:,} clean events: {elapsed:6.2f}s  ({load_average()})")
            print(split)
    engine.close()
    without, with_moves = statistics.median(times[0.0]), statistics.median(times[MOVE_SHARE])
    print(
        bench_line(
            "analysis_moves",
            "seconds",
            with_moves,
            without,
            without / with_moves,
            1 / MOVE_TARGET,
            target=f"{MOVE_TARGET}x",
            runs=runs,
            move_share=MOVE_SHARE,
            points=MOVE_POINTS,
        )
    )


if __name__ == "__main__":
    main()

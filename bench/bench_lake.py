"""The lake: compaction, and the analysis over 10,000,000 events read from Parquet.

    python3 bench/bench_lake.py [--events 10000000] [--data DIR] [--runs 2] [--ratio-days 3]
                                [--spark-days 1] [--no-spark]

Generates the events once (``analysis.testdata``: 3 sites, all viewports, 2% repeats, 5 bad
lines per 10,000-event object; three days generated, then copied with their dates moved to
make 30, see :func:`ensure_data`) into a folder of DIR named after that shape, with a
``shape.json`` written last, and compacts every day into the lake there
once (``worker/compact.py``; kept with the objects, like them). Then, each run:

* ``compact``: the first ``--ratio-days`` days' raw objects, linked into a fresh folder,
  compacted again and timed: events per second, and lake bytes per raw byte.
  Baseline: DuckDB's own ``read_json`` scan of the same objects (two columns, count per
  site and day), the least any reader must do to look at each event once.
* ``analysis_lake``: every job (``analysis.run.load`` + ``compute_batches`` as ``analyze``
  runs them, a batch of days at a time, without writing results) over all the events, read from the lake on DuckDB, in a fresh
  process per run (median of ``--runs``), with its peak RSS (``lake_rss``, target 2 GiB).
  Baseline for the ratio: the same jobs over the raw objects of the same events, at the
  size of the first ``--ratio-days`` days (the raw path holds a day's lines in memory, so
  10M raw events would need ~18 GiB), against the lake at that same size, in fresh
  processes, interleaved.
* ``spark_lake``: the same jobs on Spark (``local[*]``) over the first ``--spark-days``
  days, from the lake and from the raw objects, in one session (its start, and a first
  run that warms the JVM up, not counted).

Ends with one BENCH line per figure (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import bench_line, machine  # noqa: E402

FIRST_DAY = date(2026, 10, 1)
DAY_COUNT = 30
DAYS = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(DAY_COUNT)]
READ = [*DAYS, (FIRST_DAY + timedelta(days=DAY_COUNT)).isoformat()]  # late events land in the 31st
TOKENS = ["siteA", "siteB", "siteC"]
EVENTS_PER_USER = 11.9
DUPLICATE_RATE = 0.02
BAD_PER_OBJECT = 5
OBJECT_EVENTS = 10_000
SEED = 1
BASE_DAYS = 3  # generated; the other days are their objects with the dates moved
SHAPE_FILE = "shape.json"
TARGET_SECONDS = 10.0
TARGET_SPEEDUP = 8.0
TARGET_RATE = 200_000
TARGET_BYTES = 0.2
TARGET_RSS_MIB = 2048
TARGET_SPARK = 5.0


def shape(events: int) -> dict:
    return {
        "events": events,
        "days": DAYS,
        "tokens": TOKENS,
        "duplicate_rate": DUPLICATE_RATE,
        "bad_per_object": BAD_PER_OBJECT,
        "object_events": OBJECT_EVENTS,
        "seed": SEED,
        "generated_days": BASE_DAYS,
    }


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:  # pragma: no cover
        return "load average unknown"


def shifted(body: bytes, dates: list[str], by: int) -> bytes:
    """An object's lines with every date of ``dates`` moved ``by`` days (latest first, so
    no date is moved twice)."""
    for day in sorted(dates, reverse=True):
        later = (date.fromisoformat(day) + timedelta(days=by)).isoformat()
        body = body.replace(day.encode(), later.encode())
    return body


def ensure_data(root: Path, events: int) -> None:
    """Raw objects of the shape, then the lake of every day, unless a complete set of the same
    shape is there. ``analysis.testdata`` generates the first :data:`BASE_DAYS` days (a day at
    a time: 10M events at once would not fit in memory, and pure Python makes about 10,000
    a second); the other days are those days' objects again with every date in them moved by
    a multiple of BASE_DAYS days (the same visitors coming back; repeats are removed per day, so
    the copies are not repeats)."""
    from analysis.testdata import generate_events, write_objects
    from logdig.config import Settings
    from logdig.storage import LocalStore, raw_key
    from worker.compact import Compactor

    marker, want = root / SHAPE_FILE, shape(events)
    if not (marker.exists() and json.loads(marker.read_text()) == want):
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        store = LocalStore(root)
        users = max(1, round(events / EVENTS_PER_USER / len(DAYS) / len(TOKENS)))
        t, total = time.perf_counter(), 0
        for i, day in enumerate(DAYS[:BASE_DAYS]):
            generated = generate_events([day], TOKENS, users_per_day=users, seed=SEED + i)
            write_objects(
                store,
                generated,
                batch=OBJECT_EVENTS,
                duplicate_rate=DUPLICATE_RATE,
                bad_per_object=BAD_PER_OBJECT,
                seed=SEED + i,
            )
            total += len(generated)
            print(f"  generated {day}: {total:,} events so far ({time.perf_counter() - t:.0f}s)", flush=True)
        base = READ[: BASE_DAYS + 1]  # with the next day's folder: the late events
        sources = [(day, key) for day in base for key in sorted(k for k in store.list(f"{day}/"))]
        for k in range(1, len(DAYS) // BASE_DAYS):
            for day, key in sources:
                new_day = date.fromisoformat(day) + timedelta(days=k * BASE_DAYS)
                body = shifted(store.get(key), base, k * BASE_DAYS)
                store.put(raw_key(new_day, body), body)
        print(f"  copied to {len(DAYS)} days ({time.perf_counter() - t:.0f}s)", flush=True)
        marker.write_text(json.dumps(want))  # last: the set is complete
    # every day not in the lake yet, or whose lake another version of the checks made
    t = time.perf_counter()
    report = Compactor(LocalStore(root), Settings(data_dir=str(root)), clock=lambda: 4e9).run()
    print(f"  lake: {report.summary()} in {time.perf_counter() - t:.0f}s", flush=True)


def subset(root: Path, days: list[str], dest: Path, with_lake: bool) -> Path:
    """The raw objects (and lake, manifests) of ``days`` as hard links in ``dest``."""
    for day in days:
        folders = [root / day]
        if with_lake:
            folders.append(root / "lake" / "events" / f"day={day}")
        for src in folders:
            if src.exists():
                shutil.copytree(src, dest / src.relative_to(root), copy_function=os.link, dirs_exist_ok=True)
        manifest = root / "lake" / "_manifests" / f"day={day}.json"
        if with_lake and manifest.exists():
            (dest / "lake" / "_manifests").mkdir(parents=True, exist_ok=True)
            os.link(manifest, dest / "lake" / "_manifests" / manifest.name)
    return dest


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from analysis import run
from analysis.definitions import parse_experiment, parse_funnel
from analysis.engines import duckdb_engine
from analysis.testdata import EXPERIMENT
from logdig.config import Settings
from logdig.storage import LocalStore
data, days, use_lake, jobs = {data!r}, {days!r}, {use_lake!r}, {jobs!r}
funnel = parse_funnel({{"name": "signup", "steps": ["url:*/pricing", "url:*/signup", "event:purchase"]}})
experiment = parse_experiment({{"name": EXPERIMENT, "goal": "event:purchase"}})
from analysis import lake
lake_days = len(lake.usable_days(LocalStore(data), days)) if use_lake else 0
engine = duckdb_engine()
t = time.perf_counter()
loaded = run.load(engine, Settings(data_dir=data), LocalStore(data), days, use_lake=use_lake)
t_load = time.perf_counter() - t
# as run.analyze goes: a batch of days at a time, the big tables as JSON text (not written here)
results = 0
for batch in run.compute_batches(loaded, jobs=jobs or run.JOBS, funnels=[funnel], experiments=[experiment], raw=True):
    results += len(batch)
elapsed = time.perf_counter() - t
loaded.release()
print(json.dumps({{"seconds": elapsed, "load": t_load, "results": results, "lake_days": lake_days,
    "events": sum(q["events"] for q in loaded.token_quality.values()),
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


JOBS: list[str] | None = None  # --jobs; None: every job


def analysis_run(data: Path, days: list[str], use_lake: bool) -> dict:
    """One full analysis in a fresh process (its own peak RSS, no warm caches of ours)."""
    code = CHILD.format(root=str(ROOT), data=str(data), days=days, use_lake=use_lake, jobs=JOBS)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"analysis run failed:\n{done.stderr[-3000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if use_lake and got["lake_days"] < len(days) - 1:  # the last day is only late events: may be raw
        raise RuntimeError(f"only {got['lake_days']} of {len(days)} days read from the lake")
    return got


def read_json_scan(data: Path) -> float:
    import duckdb

    files = sorted(str(p) for p in data.glob("20*/*.jsonl"))
    conn = duckdb.connect()
    t = time.perf_counter()
    conn.execute(
        "SELECT token, count(*), count(DISTINCT user_key) FROM read_json(?, format='newline_delimited', "
        "ignore_errors=true, columns={token: 'VARCHAR', user_key: 'VARCHAR'}) GROUP BY ALL",
        [files],
    ).fetchall()
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


def bench_compact(root: Path, days: list[str], work: Path) -> tuple[float, float, int, float]:
    from logdig.config import Settings
    from logdig.storage import LocalStore
    from worker.compact import Compactor

    data = subset(root, days, work / "compact", with_lake=False)
    base = read_json_scan(data)
    report = Compactor(LocalStore(data), Settings(data_dir=str(data)), clock=lambda: 4e9).run()
    rate = report.events / report.seconds
    print(
        f"compact   {len(report.days)} days, {report.events:,} events in {report.seconds:.2f}s: {rate:,.0f} events/s; "
        f"{report.raw_bytes:,} raw bytes -> {report.lake_bytes:,} lake bytes ({report.lake_bytes / report.raw_bytes:.3f}); "
        f"read_json scan of the same objects {base:.2f}s   ({load_average()})"
    )
    return rate, report.lake_bytes / report.raw_bytes, report.events, base


def bench_spark(root: Path, days: list[str], work: Path) -> tuple[float, float]:
    from analysis import run
    from analysis.engines import spark_engine
    from logdig.config import Settings
    from logdig.storage import LocalStore

    data = subset(root, days, work / "spark", with_lake=True)
    read = [*days, (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()]
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    t = time.perf_counter()
    engine = spark_engine(
        "local[*]",
        {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "4g",
            "spark.sql.shuffle.partitions": "8",
        },
    )
    engine.session.sparkContext.setLogLevel("ERROR")
    print(f"(spark session start {time.perf_counter() - t:.1f}s, not counted)")
    seconds = {}
    # a first run warms the JVM up (its code compiled, its threads started): about 25 s
    # of the first run's time, which would count against whichever source ran first
    for name, use_lake in (("warm", True), ("lake", True), ("raw", False)):
        t = time.perf_counter()
        loaded = run.load(engine, Settings(data_dir=str(data)), LocalStore(data), read, use_lake=use_lake)
        run.compute(loaded, jobs=JOBS or run.JOBS)
        loaded.release()
        seconds[name] = time.perf_counter() - t
        events = sum(q["events"] for q in loaded.token_quality.values())
        note = " (warm-up, not counted)" if name == "warm" else ""
        print(f"spark     {name:4s} {len(days)} days, {events:,} clean events: {seconds[name]:.2f}s{note}")
    engine.session.stop()
    return seconds["lake"], seconds["raw"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--data", type=Path, help="parent folder for the generated objects and lake (kept, reused)")
    p.add_argument("--runs", type=int, default=2, help="lake analysis runs over everything (median)")
    p.add_argument("--ratio-days", type=int, default=3, help="days for the raw baseline and the compaction")
    p.add_argument("--spark-days", type=int, default=1, help="days for Spark lake against raw")
    p.add_argument("--no-spark", action="store_true")
    p.add_argument("--generate-only", action="store_true")
    p.add_argument("--jobs", help="only these jobs, comma-separated (printed on the lines) [default: every job]")
    args = p.parse_args()
    global JOBS
    JOBS = args.jobs.split(",") if args.jobs else None
    jobs_note = {"jobs": args.jobs.replace(",", "+")} if args.jobs else {}
    parent = args.data or Path(tempfile.mkdtemp(prefix="logdig-bench-"))
    root = parent / f"{args.events}ev-{len(DAYS)}d-{len(TOKENS)}t"
    print(f"machine: {machine()}; {load_average()} (other work on the machine skews every figure; compare ratios)")
    t = time.perf_counter()
    ensure_data(root, args.events)
    print(f"data: {root} (ready in {time.perf_counter() - t:.0f}s)")
    if args.generate_only:
        return
    work = Path(tempfile.mkdtemp(prefix="logdig-bench-lake-"))
    try:
        ratio_days = DAYS[: args.ratio_days]
        rate, per_byte, compacted, scan = bench_compact(root, ratio_days, work)
        small = subset(root, ratio_days, work / "small", with_lake=True)
        small_read = READ[: args.ratio_days + 1]
        pairs = []
        for _ in range(2):  # interleaved, so both see the same load
            raw = analysis_run(small, small_read, use_lake=False)
            lake = analysis_run(small, small_read, use_lake=True)
            pairs.append((raw["seconds"], lake["seconds"]))
            print(
                f"ratio     {args.ratio_days} days, {lake['events']:,} clean events: raw {raw['seconds']:.2f}s "
                f"(load {raw['load']:.2f}s, {raw['rss_mib']:,.0f} MiB), lake {lake['seconds']:.2f}s "
                f"(load {lake['load']:.2f}s, {lake['rss_mib']:,.0f} MiB)"
            )
        full = []
        for _ in range(args.runs):
            got = analysis_run(root, READ, use_lake=True)
            full.append(got)
            print(
                f"lake      all {len(READ)} days, {got['events']:,} clean events: {got['seconds']:.2f}s "
                f"(load {got['load']:.2f}s), peak RSS {got['rss_mib']:,.0f} MiB   ({load_average()})"
            )
        spark = None if args.no_spark else bench_spark(root, DAYS[: args.spark_days], work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine after: {load_average()}")
    seconds = statistics.median(g["seconds"] for g in full)
    raw_small = statistics.median(r for r, _ in pairs)
    lake_small = statistics.median(s for _, s in pairs)
    rss = max(g["rss_mib"] for g in full)
    print(
        bench_line(
            "analysis_lake",
            "seconds",
            seconds,
            TARGET_SECONDS,
            TARGET_SECONDS / seconds,
            1,
            target="10s",
            events=full[0]["events"],
            runs=len(full),
            **jobs_note,
        )
    )
    print(
        bench_line(
            "analysis_lake_vs_raw",
            "lake_seconds",
            lake_small,
            raw_small,
            raw_small / lake_small,
            TARGET_SPEEDUP,
            size=f"{args.ratio_days}d",
            events=compacted,
            **jobs_note,
        )
    )
    print(
        bench_line(
            "compact",
            "events_per_s",
            rate,
            compacted / scan,
            rate / (compacted / scan),
            TARGET_RATE / (compacted / scan),
            target="200000/s",
            events=compacted,
            size=f"{args.ratio_days}d",
        )
    )
    print(bench_line("compact_bytes", "lake_per_raw", per_byte, TARGET_BYTES, TARGET_BYTES / per_byte, 1, target="0.2"))
    print(bench_line("lake_rss", "peak_mib", rss, TARGET_RSS_MIB, TARGET_RSS_MIB / rss, 1, target="2GiB"))
    if spark:
        lake_s, raw_s = spark
        print(
            bench_line(
                "spark_lake",
                "lake_seconds",
                lake_s,
                raw_s,
                raw_s / lake_s,
                TARGET_SPARK,
                size=f"{args.spark_days}d",
                **jobs_note,
            )
        )


if __name__ == "__main__":
    main()

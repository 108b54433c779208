"""Pass bench_analysis.py's output through, adding BENCH lines if it prints none.

    python3 bench/bench_analysis.py | python3 bench/wrap_analysis.py

bench/bench_analysis.py (owned by the analysis work) prints its figures as prose. Until
it prints BENCH lines itself, this turns them into:

- analysis_duckdb: all jobs on DuckDB, seconds; baseline DuckDB's own read_json scan of
  the same files; target 10 s (target_ratio = baseline / 10);
- analysis_engines: DuckDB seconds with Spark local's as the baseline; target 3x.
"""

from __future__ import annotations

import re
import sys

from common import bench_line


def main() -> None:
    text = sys.stdin.read()
    sys.stdout.write(text)
    if re.search(r"^BENCH ", text, re.M):
        return
    seconds = {}
    for name in ("baseline", "duckdb", "spark"):
        if m := re.search(rf"^{name}\s.*?:\s*([\d.]+)s", text, re.M):
            seconds[name] = float(m.group(1))
    if "duckdb" not in seconds:
        print("BENCH analysis_duckdb missing=1 note=bench_analysis.py_printed_no_duckdb_figure")
        return
    duck = seconds["duckdb"]
    if "baseline" in seconds:
        base = seconds["baseline"]
        print(bench_line("analysis_duckdb", "seconds", duck, base, base / duck, base / 10, target="10s"))
    if "spark" in seconds:
        spark = seconds["spark"]
        print(bench_line("analysis_engines", "duckdb_seconds", duck, spark, spark / duck, 3))


if __name__ == "__main__":
    main()

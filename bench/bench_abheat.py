"""A/B heat maps (issue 14): how often the difference map marks a region by chance, and how
often it finds a planted difference, over seeded runs.

    python3 bench/bench_abheat.py [--runs 200] [--clicks 2000] [--planted 0.01,0.02]

Each run draws two arms of ``--clicks`` clicks on one page (``analysis.testdata.ab_click_grids``:
a few hot elements over stray clicks) and tests them with ``analysis.stats.cell_differences``
(two-proportion z-test per region, Benjamini-Hochberg at 5%). A/A: both arms from one
distribution; the false-positive rate is the share of runs that mark any region (target at
most 5%). Planted: that share of the variant's clicks moves from the menu to a new button;
the detection rate is the share of runs that mark the button's region. Ends with:

    BENCH abheat_aa fp_rate=... baseline=0.05 ratio=<0.05/fp_rate> target_ratio=1 runs=200
    BENCH abheat_planted detection_rate=... baseline=0.95 ratio=<rate/0.95> target_ratio=1 planted=...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import bench_line, machine  # noqa: E402

from analysis.stats import FDR, cell_differences  # noqa: E402
from analysis.testdata import ab_click_grids  # noqa: E402

BUTTON = (30, 20)  # the planted button's region (first cell), see ab_click_grids
TARGET_DETECTION = 0.95


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--clicks", type=int, default=2000, help="clicks per arm")
    p.add_argument("--planted", default="0.01,0.02", help="shares of the variant's clicks moved")
    args = p.parse_args()
    print(f"machine: {machine()}")
    t = time.perf_counter()
    marked = sum(
        any(r["significant"] for r in cell_differences(*ab_click_grids(s, args.clicks))) for s in range(args.runs)
    )
    fp = marked / args.runs
    print(f"A/A: {marked} of {args.runs} runs marked a region ({fp:.1%}), {time.perf_counter() - t:.1f}s")
    lines = [bench_line("abheat_aa", "fp_rate", fp, FDR, FDR / fp if fp else float("inf"), 1, runs=args.runs)]
    for planted in (float(x) for x in args.planted.split(",")):
        found = 0
        for s in range(args.runs):
            rows = cell_differences(*ab_click_grids(s, args.clicks, planted=planted))
            found += any(r["significant"] and r["difference"] > 0 and (r["col"], r["row"]) == BUTTON for r in rows)
        rate = found / args.runs
        print(f"planted {planted:.0%} ({planted * args.clicks:.0f} clicks): found in {found} of {args.runs} runs")
        lines.append(
            bench_line(
                "abheat_planted",
                "detection_rate",
                rate,
                TARGET_DETECTION,
                rate / TARGET_DETECTION,
                1,
                runs=args.runs,
                planted=planted,
            )
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

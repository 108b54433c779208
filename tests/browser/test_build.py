"""The tracker's build: the size budget and a committed dist/ that matches its source.

No browser needed; these run everywhere. The rebuild needs node and npm (CI has them)
and is skipped, saying so, only where they are missing.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

CLICKTRACKER = Path(__file__).resolve().parents[2] / "clicktracker"
DIST = CLICKTRACKER / "dist" / "clicktracker.js"
HEATMAP = CLICKTRACKER / "dist" / "clicktracker-heatmap.js"
BUDGET = 2048  # bytes, gzip level 9 (issue 3), for the core and for the heat-map module (issue 14)


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def test_size_budget_holds() -> None:
    data = DIST.read_bytes()
    size = gzip_size(data)
    print(f"\nclicktracker.js: {len(data)} bytes, {size} bytes gzip -9 (budget {BUDGET})")
    assert size <= BUDGET, f"clicktracker.js is {size} bytes gzipped, over the {BUDGET} byte budget"


def test_heatmap_module_size_budget_holds() -> None:
    data = HEATMAP.read_bytes()
    size = gzip_size(data)
    print(f"\nclicktracker-heatmap.js: {len(data)} bytes, {size} bytes gzip -9 (budget {BUDGET})")
    assert size <= BUDGET, f"clicktracker-heatmap.js is {size} bytes gzipped, over the {BUDGET} byte budget"


def test_built_file_is_minified_and_defines_only_the_api() -> None:
    for dist in (DIST, HEATMAP):
        code = dist.read_text()
        assert code.count("\n") <= 1, f"dist/{dist.name} is not minified"
        assert code.startswith("((") and code.rstrip().endswith(")(window,document);"), f"{dist.name}: not one IIFE"


def test_committed_build_is_up_to_date(tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed: cannot rebuild clicktracker.js here (CI has them)")
    if not (CLICKTRACKER / "node_modules" / "terser").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLICKTRACKER, check=True, capture_output=True)
    subprocess.run([node, "build.mjs", "--out", str(tmp_path)], cwd=CLICKTRACKER, check=True, capture_output=True)
    for dist in (DIST, HEATMAP):
        assert (tmp_path / dist.name).read_bytes() == dist.read_bytes(), (
            f"clicktracker/dist/{dist.name} differs from a fresh build of src/: run `npm run build` in clicktracker/"
        )

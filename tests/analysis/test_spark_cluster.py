"""`logdig analyze --engine spark` submitted to a real Spark standalone cluster.

The cluster (``spark_cluster`` in conftest: a master and a worker started with PySpark's
own ``bin/spark-class``) runs the jobs over a data folder whose first two days are in the
lake and the others raw, and writes the same results as `logdig analyze` on DuckDB over a
copy of the same folder. The worker's work folder shows that its executor did the work.
Also: ``spark.read.parquet(".../lake/events")`` gives typed columns and the ``day`` and
``token`` partitions, as analysis/README.md shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.definitions import Definitions
from logdig import devstate

from .conftest import DAYS, definitions
from .test_parity import READ, differences

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]


def with_definitions(folder: Path) -> None:
    """The funnels and experiments the parity test uses, saved where `logdig analyze` finds
    them without Redis (what a stopped `logdig dev` leaves)."""
    import fakeredis

    redis = fakeredis.FakeRedis()
    funnels, experiments = definitions()
    for f in funnels:
        Definitions(redis).put("funnel", f)
    for e in experiments:
        Definitions(redis).put("experiment", e)
    devstate.save(folder, devstate.snapshot(redis))


def analyze(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "logdig.cli", "analyze", "--from", READ[0], "--to", READ[-1], *args]
    full = {**os.environ, **env, "LOGDIG_DATA_DIR": str(folder), "LOGDIG_REDIS_URL": "", "LOGDIG_S3_ENDPOINT": ""}
    return subprocess.run(argv, env=full, cwd=ROOT, capture_output=True, text=True, timeout=900)


def results(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((folder / "results").rglob("*.json")):
        doc = json.loads(path.read_text())
        out[str(path.relative_to(folder))] = {k: doc.get(k) for k in ("job", "token", "day", "quality", "data")}
    return out


@pytest.mark.timeout(900)
def test_analyze_on_a_standalone_cluster_gives_duckdbs_results(spark_cluster, generated_modes, tmp_path):
    mixed = generated_modes["mixed"].store.root
    on_duck, on_spark = tmp_path / "duckdb", tmp_path / "spark"
    for folder in (on_duck, on_spark):
        shutil.copytree(mixed, folder)
        with_definitions(folder)

    duck = analyze(on_duck, {}, "--engine", "duckdb")
    assert duck.returncode == 0, duck.stderr
    spark = analyze(on_spark, spark_cluster.env, "--engine", "spark", "--master", spark_cluster.url)
    assert spark.returncode == 0, spark.stderr[-3000:]
    assert "with spark" in spark.stdout

    # an application ran on the worker, with an executor of its own
    apps = list(spark_cluster.work_dir.glob("app-*"))
    assert apps and any(app.glob("*/stderr") for app in apps)
    expected, got = results(on_duck), results(on_spark)
    assert len(expected) >= 4 * len(DAYS) * 3
    assert differences(expected, got) == []


def test_master_is_only_for_spark(tmp_path):
    done = analyze(tmp_path, {}, "--engine", "duckdb", "--master", "spark://127.0.0.1:7077")
    assert done.returncode == 2 and "--master is for --engine spark" in done.stderr


def test_spark_reads_the_lake_as_a_typed_partitioned_table(spark, generated_modes):
    root = generated_modes["lake"].store.root
    df = spark.session.read.parquet(str(root / "lake" / "events"))
    types = dict(df.dtypes)
    assert types["day"] == "date" and types["token"] == "string"  # Spark's partition inference
    assert types["x"] == "double" and types["load_count"] == "bigint" and types["ts_ms"] == "bigint"
    assert types["bot"] == "boolean" and types["page"] == "string"
    days = {r["day"].isoformat() for r in df.select("day").distinct().collect()}
    assert days == set(READ)
    manifests = [json.loads(p.read_text()) for p in (root / "lake" / "_manifests").glob("*.json")]
    assert df.count() == sum(t["rows"] for m in manifests for t in m["tokens"].values())

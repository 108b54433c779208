"""Fixtures for the analysis tests: engines, a generated data set, hand-built events.

One SparkSession serves the whole test session (it takes seconds to start); tests that
use it are marked ``spark``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis import run
from analysis.definitions import Experiment, Funnel, parse_experiment, parse_funnel
from analysis.engines import Engine, duckdb_engine
from analysis.testdata import Dataset, generate_events, write_objects
from logdig.config import Settings
from logdig.storage import LocalStore


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # py4j (PySpark's bridge) leaves sockets for the garbage collector; that is not ours to fix.
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))


DAYS = ["2026-11-24", "2026-11-25", "2026-11-26"]
TOKENS = ["tokA", "tokB", "tokC"]


@pytest.fixture
def duck() -> Iterator[Engine]:
    engine = duckdb_engine()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Engine]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs Java")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from analysis.engines import spark_engine

    engine = spark_engine(
        "local[2]",
        {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
            "spark.driver.host": "127.0.0.1",
            # local mode: the executors live in the driver's heap. 1 GiB (the default)
            # ran out once late in a CI run, after thousands of queries; Spark also keeps
            # every query's plan for its UI unless told otherwise.
            "spark.driver.memory": "3g",
            "spark.sql.ui.retainedExecutions": "20",
            "spark.ui.retainedJobs": "50",
            "spark.ui.retainedStages": "50",
        },
    )
    engine.session.sparkContext.setLogLevel("ERROR")
    yield engine
    engine.session.stop()


@dataclass
class Cluster:
    """A Spark standalone cluster: one master and one worker on 127.0.0.1."""

    url: str  # spark://127.0.0.1:PORT
    env: dict[str, str]  # what a driver needs: SPARK_HOME, SPARK_CONF_DIR, SPARK_LOCAL_IP, ...
    work_dir: Path  # the worker's: one app-* folder per application it ran


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path: Path, text: str, proc, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(
        f"{text!r} not in {path} ({'exited' if proc.poll() is not None else 'timed out'}):\n"
        + path.read_text(errors="replace")[-3000:]
    )


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real standalone cluster started with PySpark's own launcher (``bin/spark-class``),
    shared by the session's tests: the master, then one worker (2 cores, 1 GiB) that
    registers with it. Drivers read ``spark-defaults.conf`` from ``SPARK_CONF_DIR``: no web
    UI, driver on 127.0.0.1, 512 MiB executors."""
    import subprocess
    import sys

    pyspark = pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    home = Path(pyspark.__file__).parent
    tmp = tmp_path_factory.mktemp("spark-cluster")
    conf = tmp / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(
        "spark.ui.enabled false\n"
        "spark.ui.showConsoleProgress false\n"
        "spark.driver.host 127.0.0.1\n"
        "spark.driver.memory 1g\n"
        "spark.executor.memory 512m\n"
        "spark.cores.max 2\n"
        "spark.sql.shuffle.partitions 4\n"
    )
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(conf),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_LOG_DIR": str(tmp),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    env.pop("SPARK_MASTER", None)
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    work = tmp / "work"
    spark_class = str(home / "bin" / "spark-class")
    procs = []
    try:
        master_log = tmp / "master.log"
        with master_log.open("w") as log:
            master = subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(_free_port()),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(master)
        _wait_for(master_log, "I have been elected leader", master)
        worker_log = tmp / "worker.log"
        with worker_log.open("w") as log:
            worker = subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "1g",
                    "--webui-port",
                    str(_free_port()),
                    "--work-dir",
                    str(work),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(worker)
        _wait_for(worker_log, "Successfully registered with master", worker)
        yield Cluster(url, {k: env[k] for k in env if k.startswith(("SPARK_", "PYSPARK_"))}, work)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def spark(spark_session: Engine) -> Engine:
    return spark_session


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each engine in turn: known answers must hold on both."""
    if request.param == "spark":
        yield request.getfixturevalue("spark_session")
    else:
        yield request.getfixturevalue("duck")


def definitions() -> tuple[list[Funnel], list[Experiment]]:
    funnels = [
        parse_funnel(
            {"name": "signup", "window_seconds": 3600, "steps": ["url:*/pricing", "url:*/signup", "event:purchase"]}
        ),
        parse_funnel({"name": "browse", "token": "tokB", "steps": ["url:https://shop.example", "url:*/products*"]}),
    ]
    experiments = [
        parse_experiment({"name": "new_button", "goal": "event:purchase"}),
        parse_experiment(
            {"name": "new_button", "goal": "url:*/signup/done", "weights": {"control": 1, "green": 3}, "token": "tokA"}
        ),
    ]
    return funnels, experiments


@dataclass
class Generated:
    settings: Settings
    store: LocalStore
    dataset: Dataset


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Three days, three sites, all viewports, 5% repeats, bad lines in every object."""
    root = tmp_path_factory.mktemp("raw")
    store = LocalStore(root)
    events = generate_events(DAYS, TOKENS, users_per_day=40, seed=11)
    dataset = write_objects(store, events, batch=400, duplicate_rate=0.05, bad_per_object=4, seed=11)
    return Generated(Settings(data_dir=str(root)), store, dataset)


LAKE_MODES = ("raw", "lake", "mixed")


@pytest.fixture(scope="session")
def generated_modes(generated: Generated, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Generated]:
    """``generated`` three ways: its raw objects alone (``raw``), a copy with every day also
    compacted into the lake (``lake``), and a copy with the first two days compacted
    (``mixed``: the others are read raw). Compacted by worker/compact.py with a clock far
    ahead, so that every day is closed."""
    from datetime import date

    from worker.compact import Compactor

    out = {"raw": generated}
    for mode, last in (("lake", None), ("mixed", date.fromisoformat(DAYS[1]))):
        root = tmp_path_factory.mktemp(mode)
        shutil.copytree(generated.store.root, root, dirs_exist_ok=True)
        settings, store = Settings(data_dir=str(root)), LocalStore(root)
        report = Compactor(store, settings, clock=lambda: 4e9).run(end=last)
        assert report.days, report.summary()
        out[mode] = Generated(settings, store, generated.dataset)
    return out


def event(**fields: object) -> dict:
    """A valid event; keyword arguments override its fields."""
    base = {
        "event_id": "e1",
        "token": "tok",
        "user_key": "u1",
        "type": "click",
        "timestamp": "2026-11-25T10:00:00.000Z",
        "received_at": "2026-11-25T10:00:01.000Z",
        "current_page": "https://site.example/",
        "link": None,
        "x": None,
        "y": None,
        "spent_milli_sec": 0,
        "user_agent": "Mozilla/5.0",
        "load_count": 1,
    }
    base.update(fields)
    return base


SITE = "https://site.example"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


def at(eid: str, user: str, minute: float, kind: str, page: str, **kw: object) -> dict:
    """An event of ``user`` on ``SITE + page``, ``minute`` minutes after 10:00 (see ms_after)."""
    return event(
        event_id=eid, user_key=user, type=kind, timestamp=ms_after(int(minute * 60_000)),
        current_page=SITE + page, **kw,
    )  # fmt: skip


def ms_after(ms: int, start: str = "2026-11-25T10:00:00") -> str:
    """An ISO timestamp ``ms`` milliseconds after ``start`` (UTC)."""
    from datetime import datetime, timedelta

    t = datetime.fromisoformat(start) + timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def store_lines(root: Path, day: str, lines: list[str | dict]) -> LocalStore:
    """Write ``lines`` (dicts become JSON) as one raw object of ``day``."""
    import hashlib

    store = LocalStore(root)
    data = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines).encode()
    store.put(f"{day}/{hashlib.sha256(data).hexdigest()}.jsonl", data)
    return store


def load_events(engine: Engine, root: Path, events: list[dict], day: str = "2026-11-25") -> run.Loaded:
    store = store_lines(root, day, events)
    return run.load(engine, Settings(data_dir=str(root)), store, [day])

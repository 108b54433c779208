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
        },
    )
    engine.session.sparkContext.setLogLevel("ERROR")
    yield engine
    engine.session.stop()


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

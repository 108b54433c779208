"""Reading and checking rows: timestamps, URLs, bad lines counted by reason, repeats."""

from __future__ import annotations

import math
import re
from datetime import datetime

import pytest

from analysis import run
from analysis.testdata import bad_line
from logdig.config import Settings

from .conftest import event, load_events, store_lines

STAMPS = [
    "2026-11-25T10:00:00.000Z",
    "2026-11-25T10:00:00Z",
    "2026-11-25T19:00:00.5+09:00",
    "2026-11-25T06:30:00.123456789-03:30",
    "2026-11-25T06:30-0330",
    "2026-02-28T23:59:59.999+00:00",
    "2024-02-29T12:00:00Z",
    "2000-03-01T00:00:00.001Z",
    "1999-12-31T23:59:59.999-01:00",
]


def expected_ms(stamp: str) -> int:
    m = re.match(r"^(.*T[\d:]+)(?:\.(\d+))?(Z|[+-].*)$", stamp)
    head, digits, zone = m.groups()
    stamp = f"{head}.{(digits or '')[:3].ljust(3, '0')}{zone}"  # milliseconds, as the analysis keeps
    return round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def test_timestamps_parse_to_epoch_ms(engine, tmp_path):
    events = [event(event_id=f"t{i}", timestamp=s) for i, s in enumerate(STAMPS)]
    loaded = load_events(engine, tmp_path, events)
    got = {r["event_id"]: r["ts_ms"] for r in run.rows(loaded.events.select("event_id", "ts_ms"))}
    assert got == {f"t{i}": expected_ms(s) for i, s in enumerate(STAMPS)}


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("https://a.com/shop/?q=1#top", "https://a.com/shop"),
        ("https://a.com/", "https://a.com"),
        ("https://a.com", "https://a.com"),
        ("https://a.com/x#frag", "https://a.com/x"),
        ("/", "/"),
        ("https://a.com/a//?", "https://a.com/a"),
    ],
)
def test_page_normalisation(duck, tmp_path, url, page):
    loaded = load_events(duck, tmp_path, [event(current_page=url)])
    assert run.rows(loaded.events.select("page")) == [{"page": page}]


def test_bad_lines_are_counted_by_reason(engine, tmp_path):
    good = event(event_id="good")
    lines = [good, "", "   ", *[bad_line(good, i) for i in range(12)]]
    lines += ['{"a": 1}', event(event_id="big", load_count=2**63), event(event_id="nan", x="NaN")]
    store = store_lines(tmp_path, "2026-11-25", lines)
    loaded = run.load(engine, Settings(data_dir=str(tmp_path)), store, ["2026-11-25"])
    q = loaded.quality["2026-11-25"]
    assert q["valid"] == 1
    assert q["lines"] == len(lines) - 2  # blank lines are not rows
    assert sum(q["bad"].values()) == 12 + 3
    assert q["bad"]["missing user_key"] == 1
    assert q["bad"]["unknown type"] == 1
    assert q["bad"]["bad timestamp"] == 1
    assert q["bad"]["spent_milli_sec out of range"] == 1
    assert q["bad"]["missing token"] == 1
    assert loaded.token_quality == {("tok", "2026-11-25"): {"events": 1, "duplicates": 0, "bot_events": 0}}


# The collector refuses these (logdig/event.schema.json); an object written some other way
# (an older LogDig, a hand-made file) held them, and each was analysed: one attention of 1e30
# made the page's mean time in view 1.4e29 ms for everyone, a point at y=1e7 a row 250,000.
OUT_OF_SCHEMA = {
    "points out of range": [
        {"points": [[1, 2]]},
        {"points": [[1, 2, 3, 4]]},
        {"points": [[-5, 2, 3]]},
        {"points": [[1, 10_000_000, 3]]},
        {"points": [[1, 2, 1e12]]},
        {"points": []},
        {"points": [[1, 2, 3]] * 301},
    ],
    "attention out of range": [
        {"attention": [1] * 9},
        {"attention": [1] * 11},
        {"attention": [-1] * 10},
        {"attention": [1e30] * 10},
    ],
}


def test_points_and_attention_outside_the_schema_are_bad_rows(engine, tmp_path):
    good = [
        event(event_id="move", type="move", points=[[0, 1e6, 1e11]] * 300),
        event(event_id="leave", type="pageleave", attention=[0, 1e11] * 5),
    ]
    bad = [
        event(event_id=f"{reason[:3]}{i}", type="move", **fields)
        for reason, rows in OUT_OF_SCHEMA.items()
        for i, fields in enumerate(rows)
    ]
    store = store_lines(tmp_path, "2026-11-25", good + bad)
    loaded = run.load(engine, Settings(data_dir=str(tmp_path)), store, ["2026-11-25"])
    q = loaded.quality["2026-11-25"]
    assert q["bad"] == {reason: len(rows) for reason, rows in OUT_OF_SCHEMA.items()}
    assert sorted(r["event_id"] for r in run.rows(loaded.events.select("event_id"))) == ["leave", "move"]


def test_repeats_and_bots(engine, tmp_path):
    events = [
        event(event_id="a", received_at="2026-11-25T10:00:05.000Z", link="second copy"),
        event(event_id="a", received_at="2026-11-25T10:00:01.000Z", link="first copy"),
        event(event_id="a", token="other"),  # same id, another site: not a repeat
        event(event_id="b", bot=True),
        event(event_id="c", bot=False),
    ]
    loaded = load_events(engine, tmp_path, events)
    assert loaded.token_quality[("tok", "2026-11-25")] == {"events": 2, "duplicates": 1, "bot_events": 1}
    kept = run.rows(loaded.events.filter(loaded.events.event_id == "a").select("token", "link"))
    assert sorted(kept, key=lambda r: r["token"]) == [
        {"token": "other", "link": None},
        {"token": "tok", "link": "first copy"},
    ]


def test_only_requested_days_are_read(duck, tmp_path):
    store_lines(tmp_path, "2026-11-24", [event(event_id="old")])
    store = store_lines(tmp_path, "2026-11-25", [event(event_id="new")])
    loaded = run.load(duck, None, store, ["2026-11-25"])
    assert [r["event_id"] for r in run.rows(loaded.events.select("event_id"))] == ["new"]


# Lines where DuckDB's read_json and the line-by-line JSON functions could part ways.
EDGE_LINES: list[bytes] = [
    b"",
    b"   ",
    b"\t\r",
    b"not json",
    b"null",
    b"5",
    b'"a string"',
    b"[1, 2]",
    b'[{"event_id": "in an array"}]',
    b"{}",
    b'{"unknown": 1}',
    b'{"event_id": "t"} trailing',
    b'{"event_id": "cut',
    b'  {"event_id": "spaces", "x": 1}  ',
    b'{"event_id": "cr", "x": 2}\r',
    b'{"event_id": "dup", "event_id": "dup2"}',
    b'{"event_id": "nested", "link": {"a": [1, 2.50, "x"]}, "name": 12, "variant": true}',
    b'{"event_id": "esc\\u00e9 \\ud83d\\ude00", "selector": "a\\"b\\\\c\\n"}',
    b'{"event_id": "nan", "x": NaN, "y": Infinity, "page_w": -Infinity}',
    b'{"event_id": "exp", "x": 1e2, "y": -1.5E-3, "page_h": 1e400, "viewport_w": -0.0}',
    b'{"event_id": "ints", "load_count": 9223372036854775807, "x": 18446744073709551615}',
    b'{"event_id": "big", "load_count": 9223372036854775808}',
    b'{"event_id": "neg", "load_count": -9223372036854775809}',
    b'{"event_id": "float int", "load_count": 3.0}',
    b'{"event_id": "exp int", "load_count": 1e2}',
    b'{"event_id": "str num", "x": "12"}',
    b'{"event_id": "str bool", "bot": "true"}',
    b'{"event_id": "num bool", "rage": 1}',
    b'{"event_id": "bool num", "y": true}',
    b'{"event_id": "obj num", "scroll_depth": {"v": 1}}',
    b'{"event_id": "arr bool", "bot": [true]}',
    b'{"event_id": "nulls", "x": null, "bot": null, "load_count": null, "token": null}',
    b'{"event_id": "ok", "x": 1, "y": 2.5, "load_count": -3, "bot": false, "rage": true}',
    b'{"event_id": "bad \xff utf8"}',
]


@pytest.mark.parametrize("broken_utf8", [False, True])
def test_awkward_lines_are_typed_by_sparks_rules(duck, tmp_path, broken_utf8):
    import hashlib

    from analysis import io
    from logdig.storage import LocalStore

    store = LocalStore(tmp_path)
    lines = [line for line in EDGE_LINES if broken_utf8 or b"\xff" not in line]
    keys = []
    for chunk, end in ((lines[: len(lines) // 2], b""), (lines[len(lines) // 2 :], b"\n")):
        data = b"\n".join(chunk) + end  # the first object's last line has no newline: still a line of its own
        keys.append(f"2026-11-25/{hashlib.sha256(data).hexdigest()}.jsonl")
        store.put(keys[-1], data)
    typed = run.rows(io.duckdb_read(duck, store, ["2026-11-25"]))
    assert len(typed) == len([x for x in lines if x.strip(b" \t\r")])  # blank lines are no rows
    assert sum(r["_corrupt"] for r in typed) == 18  # 8 lines are no JSON object, 10 have a wrong type
    rows = {r["event_id"]: r for r in typed}
    bad = {k for k, r in rows.items() if r["_corrupt"]}
    # wrong JSON types (the lines that are no JSON object have no event_id)
    assert bad == {
        None, "big", "neg", "float int", "exp int", "str num", "str bool", "num bool", "bool num", "obj num", "arr bool"
    }  # fmt: skip
    ok = rows["ok"]
    assert (ok["x"], ok["y"], ok["load_count"], ok["bot"], ok["rage"]) == (1.0, 2.5, -3, False, True)
    assert rows["ints"]["load_count"] == 2**63 - 1 and rows["ints"]["x"] == 2.0**64
    assert rows["exp"]["x"] == 100.0 and rows["exp"]["page_h"] == float("inf")
    assert rows["nested"]["name"] == "12" and rows["nested"]["variant"] == "true"
    assert rows["esc\u00e9 \U0001f600"]["selector"] == 'a"b\\c\n'
    assert rows["cr"]["x"] == 2.0 and rows["spaces"]["x"] == 1.0
    assert (rows["nulls"]["x"], rows["nulls"]["token"]) == (None, None)
    nan = rows["nan"]
    assert math.isnan(nan["x"]) and nan["y"] == float("inf") and nan["page_w"] == float("-inf")
    if broken_utf8:  # read with the bad bytes replaced, as Spark does
        assert "bad \ufffd utf8" in rows


def test_stage_keeps_the_rows_and_its_views_go_with_the_raw_lines(duck, tmp_path):
    from analysis import io
    from analysis.engines import STAGE_PREFIX, api, stage

    store = store_lines(tmp_path, "2026-11-25", [event(event_id=f"e{i}", x=float(i)) for i in range(5)])
    raw = io.read_raw(duck, None, store, ["2026-11-25"])
    F = api(raw).F
    direct = raw.select("event_id", (F.col("x") * 2).alias("x2")).filter(F.col("x2") > 2)
    staged = stage(stage(raw.select("event_id", (F.col("x") * 2).alias("x2"))).filter(F.col("x2") > 2))
    assert staged.columns == direct.columns == ["event_id", "x2"]
    assert sorted(run.rows(staged), key=str) == sorted(run.rows(direct), key=str)
    assert [r["event_id"] for r in sorted(run.rows(staged), key=lambda r: r["x2"])] == ["e2", "e3", "e4"]

    def views() -> list[str]:
        found = duck.session._conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        return [name for (name,) in found if name.startswith(STAGE_PREFIX)]

    assert len(views()) == 2
    io.duckdb_release(duck)
    assert views() == []


@pytest.mark.spark
def test_stage_is_the_frame_itself_on_spark(spark):
    from analysis.engines import stage

    df = spark.session.createDataFrame([("a", 1)], ["event_id", "x"])
    assert stage(df) is df


@pytest.mark.spark
def test_a_table_stage_is_computed_once_on_spark_and_let_go_after_the_run(spark, tmp_path):
    """A frame several queries read (the visits) is persisted: Spark computed the visits again
    for each of the eight source kinds. A run unpersists it when its queries are done."""
    from analysis import engines
    from analysis.jobs import visits

    loaded = load_events(spark, tmp_path, [event(event_id=f"e{i}", user_key=f"u{i % 2}") for i in range(4)])
    table = visits.visits(loaded.events)
    assert table.is_cached and table in engines._persisted
    engines.drop_stages(spark.session)
    assert not table.is_cached and engines._persisted == []
    run.compute(loaded, jobs=["visits"])
    assert engines._persisted == []
    loaded.release()


def test_a_second_load_runs_the_checks_built_before(tmp_path, monkeypatch):
    """Building the checks and the removal of repeats is pure Python (about 1 s a load); a
    process builds them once and runs their SQL text after (analysis.loading.materialize_built),
    with the same rows, on another engine and other data."""
    from analysis import schema
    from analysis.engines import duckdb_engine

    first = duckdb_engine()
    try:
        load_events(first, tmp_path / "a", [event(event_id="x")])
    finally:
        first.close()

    def built_again(*_):
        raise AssertionError("built again")

    monkeypatch.setattr(schema, "check", built_again)
    monkeypatch.setattr(schema, "dedupe", built_again)
    monkeypatch.setattr(schema, "later_copies", built_again)
    events = [event(event_id="a", link="one"), event(event_id="a", link="two"), event(event_id="b", bot=True)]
    events.append(event(event_id="c", x="not a number"))
    second = duckdb_engine()
    try:
        loaded = load_events(second, tmp_path / "b", events)
        assert loaded.token_quality[("tok", "2026-11-25")] == {"events": 1, "duplicates": 1, "bot_events": 1}
        assert loaded.quality["2026-11-25"]["bad"] == {"not a JSON object of the right types": 1}
        assert run.rows(loaded.events.select("event_id", "link")) == [{"event_id": "a", "link": "one"}]
    finally:
        second.close()


def test_a_raw_load_stores_each_event_once(tmp_path):
    """The unique events of a raw load are the stored checked rows less the repeats' row ids,
    not a second table of every event: with 300-point move events that copy was a second
    copy of every list in memory and about a sixth of the run (analysis.loading._unique)."""
    from analysis.engines import duckdb_engine

    events = [event(event_id=f"e{i}", link=f"l{i}") for i in range(50)]
    later = "2026-11-25T10:00:02.000Z"
    events += [event(event_id=e, link="again", received_at=later) for e in ("e1", "e2")]
    duck = duckdb_engine()
    try:
        loaded = load_events(duck, tmp_path, events)
        stored = duck.session._conn.execute("SELECT sum(estimated_size) FROM duckdb_tables()").fetchone()[0]
        assert stored <= len(events) + 2  # the checked rows, and the row ids of the 2 repeats
        kept = run.rows(loaded.events.select("event_id", "link"))
        assert len(kept) == 50 and {"event_id": "e1", "link": "l1"} in kept
        assert loaded.token_quality[("tok", "2026-11-25")]["duplicates"] == 2
    finally:
        duck.close()

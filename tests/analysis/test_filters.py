"""Filters (segments): parsing, known answers per filter kind on DuckDB, and parity with Spark."""

from __future__ import annotations

import pytest

from analysis import filters, run
from analysis.filters import Filter, FilterError

from .conftest import IPHONE, SITE, at, load_events

WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0"


A = {"user_agent": WINDOWS, "browser": "Chrome", "os": "Windows", "device": "Other", "country": "DE"}
B = {"user_agent": IPHONE, "browser": "Mobile Safari", "os": "iOS", "device": "iPhone", "country": "US"}
C = {"user_agent": LINUX, "browser": "Firefox", "os": "Linux", "device": "Other"}
EVENTS = [
    # a: a new visitor from a newsletter (visit 1), back 40 minutes later from Google (visit 2)
    at("a1", "a", 0, "pageview", "/?utm_source=news&utm_campaign=spring", channel="Email", utm_source="news",
       utm_campaign="spring", load_count=1, **A),
    at("a2", "a", 2, "click", "/", load_count=1, **A),
    at("a3", "a", 5, "pageview", "/pricing", channel="Direct", referrer=SITE + "/", load_count=2, **A),
    at("a5", "a", 45, "pageview", "/blog", channel="Organic search", referrer="https://www.Google.com/search?q=x",
       load_count=3, **A),
    # b: a returning visitor on a phone, from a referral; exposed to green
    at("b1", "b", 1, "pageview", "/pricing", channel="Referral", referrer="https://news.example/item?id=1",
       load_count=5, **B),
    at("b2", "b", 1.5, "exposure", "/pricing", name="new_button", variant="green", load_count=5, **B),
    at("b3", "b", 3, "pageview", "/signup", referrer=SITE + "/pricing", load_count=6, **B),
    # c: a new visitor, direct, no country (stored before sources); control first, then green
    at("c1", "c", 2, "pageview", "/", channel="Direct", load_count=1, **C),
    at("c2", "c", 2.5, "exposure", "/", name="new_button", variant="control", load_count=1, **C),
    at("c3", "c", 3, "exposure", "/", name="new_button", variant="green", load_count=1, **C),
]  # fmt: skip
VISIT_A1, VISIT_A2, VISIT_B, VISIT_C = {"a1", "a2", "a3"}, {"a5"}, {"b1", "b2", "b3"}, {"c1", "c2", "c3"}

CASES = [
    ({"channel": "email"}, VISIT_A1),
    ({"channel": "Direct"}, VISIT_C),  # the entry's channel: a3's "Direct" does not count
    ({"source": "google.com"}, VISIT_A2),
    ({"source": "https://www.news.example/x"}, VISIT_B),
    ({"source": "(none)"}, VISIT_A1 | VISIT_C),
    ({"utm_source": "news"}, VISIT_A1),
    ({"utm_campaign": "spring"}, VISIT_A1),
    ({"country": "us"}, VISIT_B),
    ({"country": "unknown"}, VISIT_C),
    ({"device": "mobile"}, VISIT_B),
    ({"device": "desktop"}, VISIT_A1 | VISIT_A2 | VISIT_C),
    ({"browser": "firefox"}, VISIT_C),
    ({"visitor": "new"}, VISIT_A1 | VISIT_C),
    ({"visitor": "returning"}, VISIT_A2 | VISIT_B),
    ({"page": SITE + "/pricing/"}, VISIT_A1 | VISIT_B),
    ({"page": "*/signup"}, VISIT_B),
    ({"variant": "new_button:green"}, VISIT_B),
    ({"variant": "new_button:control"}, VISIT_C),  # c's first exposure
    ({"device": "desktop", "visitor": "returning"}, VISIT_A2),
    ({"country": "DE", "variant": "new_button:green"}, set()),
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Loaded once for the module (DuckDB): the cases only read it."""
    from analysis.engines import duckdb_engine

    engine = duckdb_engine()
    yield load_events(engine, tmp_path_factory.mktemp("filters"), EVENTS)
    engine.close()


def kept(events, args: dict) -> set[str]:
    return {r["event_id"] for r in run.rows(filters.apply(events, filters.parse(args)))}


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[str(a) for a, _ in CASES])
def test_filter_keeps_the_matching_visits(loaded, args, expected):
    assert kept(loaded.events, args) == expected


def test_filter_keeps_the_columns_and_an_empty_filter_changes_nothing(loaded):
    out = filters.apply(loaded.events, Filter(device="mobile"))
    assert out.columns == loaded.events.columns
    assert filters.apply(loaded.events, Filter()) is loaded.events


def test_filtered_visits_keep_their_bounce_rate(loaded):
    """Whole visits are kept: the visits job's numbers on a filter are those visits' own."""
    from analysis.jobs import visits

    (totals,) = run.rows(visits.run(filters.apply(loaded.events, Filter(visitor="returning")))["totals"])
    assert (totals["visits"], totals["bounces"], totals["pageviews"]) == (2, 1, 3)


@pytest.mark.parametrize(
    ("args", "param"),
    [
        ({"device": "fridge"}, "device"),
        ({"visitor": "old"}, "visitor"),
        ({"channel": "Carrier pigeon"}, "channel"),
        ({"country": "Germany"}, "country"),
        ({"variant": "no-colon"}, "variant"),
        ({"source": "bad host!"}, "source"),
        ({"page": "pricing"}, "page"),
        ({"browser": "x" * 3000}, "browser"),
        ({"utm_source": "a\x00b"}, "utm_source"),
    ],
)
def test_bad_values_name_their_parameter(args, param):
    with pytest.raises(FilterError) as e:
        filters.parse(args)
    assert e.value.param == param


def test_parse_ignores_empty_values_and_skipped_names():
    f = filters.parse({"page": SITE + "/x", "device": "", "channel": " paid "}, skip=("page",))
    assert f == Filter(channel="Paid") and f.args() == {"channel": "Paid"}
    assert Filter(device="mobile").digest() != Filter(device="tablet").digest()


PARITY = [  # every visit-level kind at once, then the user-level one
    (
        {
            "channel": "email", "source": "(none)", "utm_source": "news", "utm_campaign": "spring", "country": "DE",
            "device": "desktop", "browser": "chrome", "visitor": "new", "page": "*/pricing",
        },
        VISIT_A1,
    ),
    ({"variant": "new_button:control"}, VISIT_C),
]  # fmt: skip


@pytest.mark.spark
def test_filters_agree_on_both_engines(loaded, spark_session, tmp_path):
    on_spark = load_events(spark_session, tmp_path, EVENTS)
    try:
        for args, expected in PARITY:
            assert kept(loaded.events, args) == kept(on_spark.events, args) == expected, args
    finally:
        on_spark.release()

"""Funnel and experiment definitions: checks and their Redis home."""

from __future__ import annotations

import fakeredis
import pytest

from analysis.definitions import DefinitionError, Definitions, Step, parse_experiment, parse_funnel, parse_step


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "x", "steps": ["url:/a"]},  # one step
        {"name": "bad name!", "steps": ["url:/a", "url:/b"]},
        {"name": "x", "steps": ["url:/a", "click:/b"]},
        {"name": "x", "steps": ["url:/a", {"url": ""}]},
        {"name": "x", "steps": ["url:/a", "url:/b"], "window_seconds": 0},
        {"name": "x", "steps": ["url:/a", "url:/b"], "window_seconds": True},
        "not an object",
    ],
)
def test_bad_funnels_are_refused(doc):
    with pytest.raises(DefinitionError):
        parse_funnel(doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "e"},  # no goal
        {"name": "e", "goal": "event:buy", "weights": {"a": 1, "b": 1}},  # control not weighted
        {"name": "e", "goal": "event:buy", "weights": {"control": 1, "b": -1}},
        {"name": "e", "goal": "event:buy", "weights": {"control": 0.5, "": 0.5}},  # the form's "=0.5"
        {"name": "e", "goal": "event:buy", "weights": {"control": 0.5, " ": 0.5}},
        {"name": "e", "goal": "event:buy", "control": ""},
    ],
)
def test_bad_experiments_are_refused(doc):
    with pytest.raises(DefinitionError):
        parse_experiment(doc)


def test_url_patterns_are_literal_but_for_the_star():
    import re

    rx = re.compile(Step(url="https://a.com/p?x=(1)*").regex())
    assert rx.match("https://a.com/p?x=(1)/anything")
    assert not rx.match("https://a_com/p?x=(1)")
    assert Step(url="*/pricing").regex() == "^.*/pricing$"


def test_a_url_pattern_starting_with_a_slash_matches_the_path_on_any_host():
    """Pages are whole addresses, so `url:/about.html` (a path, as the Stats API's page
    filters take it) used to match nothing, silently: a 0% goal."""
    import re

    about = re.compile(parse_step("url:/about.html").regex())
    assert about.match("http://127.0.0.1:8101/about.html") and about.match("https://shop.example/about.html")
    assert not about.match("https://shop.example/en/about.html") and not about.match("/about.html")
    assert re.compile(parse_step("url:/blog/*").regex()).match("https://a.example/blog/post-1")
    home = re.compile(parse_step("url:/").regex())  # the home page, stored without its slash
    assert home.match("https://a.example") and not home.match("https://a.example/x")


def test_store_round_trip():
    defs = Definitions(fakeredis.FakeRedis())
    f = parse_funnel({"name": "f", "steps": ["url:*/a", "event:b"], "token": "t1"})
    g = parse_funnel({"name": "g", "steps": ["url:*/a", "event:b"]})
    e = parse_experiment({"name": "e", "goal": {"url": "*/done"}, "weights": {"control": 1, "b": 2}})
    for kind, d in (("funnel", f), ("funnel", g), ("experiment", e)):
        defs.put(kind, d)
    defs.redis.hset(Definitions.key("funnel"), "broken", "{not json")
    assert defs.all("funnel") == [f, g]
    assert defs.funnels("t2") == [g]
    assert defs.funnels("t1") == [f, g]
    assert defs.experiments() == [e]
    assert Definitions.key("funnel").startswith("logdig:")
    assert defs.remove("funnel", "f") and not defs.remove("funnel", "f")


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("*/demo/spa/", "*/demo/spa"),  # the address bar's trailing slash
        ("https://a.com/", "https://a.com"),
        ("https://a.com/shop/?q=1#top", "https://a.com/shop"),
        ("*/pricing?plan=pro", "*/pricing"),
        ("*/demo/*", "*/demo/*"),  # wildcards stay
        ("*/docs//", "*/docs"),
    ],
)
def test_url_patterns_are_normalised_like_pages(typed, stored):
    # Pages are stored without query, fragment or trailing slash: url:*/demo/spa/ matched 0
    # users while url:*/demo/spa matched 1. Both the CLI and the dashboard parse here.
    funnel = parse_funnel({"name": "f", "steps": [f"url:{typed}", "event:x"]})
    assert funnel.steps[0] == Step(url=stored)
    assert parse_experiment({"name": "e", "goal": {"url": typed}}).goal == Step(url=stored)


def test_a_pattern_that_is_only_a_query_is_refused():
    with pytest.raises(DefinitionError, match="empty without its query string"):
        parse_funnel({"name": "f", "steps": ["url:?utm=x", "event:x"]})


def test_the_python_rule_is_the_columns_rule(duck):
    from analysis.engines import api
    from analysis.schema import normalise_page, normalise_url

    urls = ["https://a.com/shop/?q=1#top", "https://a.com/", "https://a.com", "/", "https://a.com/x#y/", "a//?b"]
    df = duck.session.createDataFrame([(u,) for u in urls], ["u"])
    got = [r["p"] for r in df.select(normalise_url(api(df).F.col("u"), api(df).F).alias("p")).collect()]
    assert got == [normalise_page(u) for u in urls]


def test_a_long_url_cannot_stall_spark_on_a_pattern_of_several_stars():
    """Found from outside: Spark matches url steps with Java's backtracking regex engine,
    where ^.*/shop/.*/item/.*/buy$ took 4 s on one visitor's 8 KB URL of /shop/item
    repeats, and a fourth star minutes; every funnel, goal and experiment on every site
    waits behind it (DuckDB's RE2 does not backtrack). Python's re backtracks the same way:
    the regex Spark gets commits each middle part at its first place (atomic groups), as
    web.api.stats.glob does, and matches what the plain one matches."""
    import random
    import re
    import time
    import types

    from analysis.jobs.funnels import matches

    step = parse_step("url:*/shop/*/item/*/shop/*/buy")
    evil = "https://shop.example" + "/shop/item" * 819
    started = time.perf_counter()
    assert not re.fullmatch(step.regex(atomic=True), evil)
    assert time.perf_counter() - started < 0.5

    class Col:  # records what a pyspark column is asked to match
        def __init__(self, name=None):
            self.rx = None

        def __eq__(self, other):
            return self

        def __and__(self, other):
            return other

        def rlike(self, rx):
            self.rx = rx
            return self

    spark_f = types.SimpleNamespace(__name__="pyspark.sql.functions", col=Col)
    duckdb_f = types.SimpleNamespace(__name__="sqlframe.duckdb.functions", col=Col)
    assert matches(step, spark_f).rx == step.regex(atomic=True)
    assert matches(step, duckdb_f).rx == step.regex()  # RE2 has no atomic groups

    rng = random.Random(7)
    for _ in range(3000):
        pattern = "".join(rng.choice("ab/*") for _ in range(rng.randint(1, 8)))
        text = "https://h" + "".join(rng.choice("ab/") for _ in range(rng.randint(0, 10)))
        for url in (pattern, "/" + pattern.lstrip("/")):
            s = Step(url=url)
            assert bool(re.fullmatch(s.regex(), text)) == bool(re.fullmatch(s.regex(atomic=True), text)), (url, text)

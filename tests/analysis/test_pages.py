"""Known answers for page statistics."""

from __future__ import annotations

import numpy as np

from analysis import io, run
from analysis.jobs import pages

from .conftest import event, load_events, ms_after

SITE = "https://site.example"


def pv(eid: str, user: str, minute: float, page: str, **kw: object) -> dict:
    return event(
        event_id=eid, user_key=user, type="pageview", timestamp=ms_after(int(minute * 60_000)),
        current_page=SITE + page, **kw,
    )  # fmt: skip


def test_views_entries_exits_and_time_on_page(engine, tmp_path):
    spent = [1000, 2000, 3000, 10_000]
    events = [
        # user a: two visits (40 minutes apart): /home -> /pricing, then /home
        pv("a1", "a", 0, "/home?from=mail", referrer="https://www.google.com/search?q=x"),
        pv("a2", "a", 10, "/pricing", referrer=SITE + "/home"),
        pv("a3", "a", 50, "/home/"),
        # user b: one page
        pv("b1", "b", 5, "/pricing", referrer="https://news.example/item?id=1"),
        *[
            event(event_id=f"l{i}", type="pageleave", current_page=SITE + "/home", spent_milli_sec=s)
            for i, s in enumerate(spent)
        ],
        *[
            event(event_id=f"k{i}", user_key=u, current_page=SITE + "/home", link=link)
            for i, (u, link) in enumerate(
                [("a", "L1"), ("b", "L1"), ("a", "L1"), ("a", "L2"), ("b", "L2"), ("b", "L2"), ("a", "L3")]
            )
        ],
    ]
    loaded = load_events(engine, tmp_path, events)
    out = pages.run(loaded.events)
    views = {r["page"]: r for r in run.rows(out["views"])}
    home, pricing = views[SITE + "/home"], views[SITE + "/pricing"]
    assert (home["views"], home["users"], home["entries"], home["exits"]) == (2, 1, 2, 1)
    assert (pricing["views"], pricing["users"], pricing["entries"], pricing["exits"]) == (2, 2, 1, 2)

    (tp,) = run.rows(out["time_on_page"])
    assert tp["leaves"] == 4
    assert tp["median_ms"] == np.percentile(spent, 50)
    assert abs(tp["p90_ms"] - np.percentile(spent, 90)) < 1e-9

    links = sorted(run.rows(out["top_links"]), key=lambda r: r["rank"])
    assert [(r["link"], r["count"], r["users"]) for r in links] == [("L1", 3, 2), ("L2", 3, 2), ("L3", 1, 1)]

    refs = {(r["page"], r["referrer"]): r["count"] for r in run.rows(out["top_referrers"])}
    assert refs == {
        (SITE + "/home", "https://www.google.com/search"): 1,
        (SITE + "/pricing", "https://news.example/item"): 1,
    }


def test_totals_and_agents_per_day(engine, tmp_path):
    chrome = {"browser": "Chrome", "os": "Windows", "device": "Other"}
    safari = {"browser": "Mobile Safari", "os": "iOS", "device": "iPhone"}
    events = [
        # user a: Chrome, 2 page views and a click
        pv("a1", "a", 0, "/", **chrome),
        pv("a2", "a", 1, "/pricing", **chrome),
        event(event_id="a3", user_key="a", **chrome),
        # user b: Safari on an iPhone, 1 page view; later the same user on Chrome (another device)
        pv("b1", "b", 2, "/", **safari),
        event(event_id="b2", user_key="b", type="pageleave", **chrome),
        # user c: no parsed user agent (stored before the collector parsed it), one custom event
        event(event_id="c1", user_key="c", type="custom", name="signup"),
        # user d: parsed fields empty
        event(event_id="d1", user_key="d", browser="", os="", device=""),
        # a bot: kept out of totals and agents, counted in quality
        pv("z1", "z", 3, "/", browser="Googlebot", os="Other", device="Spider", bot=True),
        # a repeat of a1: counted once
        pv("a1", "a", 0, "/", **chrome),
    ]
    loaded = load_events(engine, tmp_path, events)
    assert loaded.token_quality[("tok", "2026-11-25")] == {"events": 7, "duplicates": 1, "bot_events": 1}
    out = pages.run(loaded.events)

    (totals,) = run.rows(out["totals"])
    assert totals == {"token": "tok", "day": "2026-11-25", "events": 7, "pageviews": 3, "users": 4}

    agents = {(r["kind"], r["name"]): (r["events"], r["users"]) for r in run.rows(out["agents"])}
    assert agents == {
        ("browser", "Chrome"): (4, 2),
        ("browser", "Mobile Safari"): (1, 1),
        ("browser", "unknown"): (2, 2),
        ("os", "Windows"): (4, 2),
        ("os", "iOS"): (1, 1),
        ("os", "unknown"): (2, 2),
        ("device", "Other"): (4, 2),
        ("device", "iPhone"): (1, 1),
        ("device", "unknown"): (2, 2),
    }

    # the result document: totals as one object, agents as rows, both per token and day
    (data,) = [d for (job, _, _), d in run.compute(loaded, jobs=["pages"]).items() if job == "pages"]
    assert data["totals"] == {"events": 7, "pageviews": 3, "users": 4}
    assert {"kind": "browser", "name": "Chrome", "device_type": None, "events": 4, "users": 2} in data["agents"]
    assert len(data["agents"]) == 9
    # device rows carry the device type beside the model: a Windows PC's "Other" is a desktop
    types = {r["name"]: r["device_type"] for r in data["agents"] if r["kind"] == "device"}
    assert types == {"Other": "desktop", "iPhone": "mobile", "unknown": "unknown"}


def click(eid: str, user: str, page: str, link: str, text: str | None = None, **kw: object) -> dict:
    return event(event_id=eid, user_key=user, current_page=SITE + page, link=link, text=text, x=1.0, y=2.0, **kw)


def test_one_visitor_following_a_link_once_is_one_user(engine, tmp_path):
    events = [pv("p1", "a", 0, "/"), click("c1", "a", "/", SITE + "/products", "Products")]
    out = pages.run(load_events(engine, tmp_path, events).events)
    for table in ("top_links", "links"):
        (row,) = run.rows(out[table])
        assert (row["link"], row["count"], row["users"], row["text"]) == (SITE + "/products", 1, 1, "Products")


def test_site_links_count_a_visitor_once_over_pages_and_name_the_most_common_text(engine, tmp_path):
    buy = "button;primary;buy;buy;"
    events = [
        # one visitor follows the nav link from two pages: 2 clicks, 1 user (2 "users" summed per page)
        click("c1", "a", "/", SITE + "/products", "Products"),
        click("c2", "a", "/about", SITE + "/products", "Products"),
        # the buy button's text changed once; the most common text wins
        click("c3", "a", "/", buy, "Buy now"),
        click("c4", "b", "/", buy, "Buy now"),
        click("c5", "c", "/", buy, "Buy"),
        click("c6", "c", "/", buy),  # no text
    ]
    out = pages.run(load_events(engine, tmp_path, events).events)
    site = {r["link"]: r for r in run.rows(out["links"])}
    assert (site[SITE + "/products"]["count"], site[SITE + "/products"]["users"]) == (2, 1)
    assert (site[buy]["count"], site[buy]["users"], site[buy]["text"]) == (4, 3, "Buy now")
    per_page = [(r["page"], r["link"], r["users"]) for r in run.rows(out["top_links"])]
    assert sorted(per_page) == [(SITE, buy, 3), (SITE, SITE + "/products", 1), (SITE + "/about", SITE + "/products", 1)]


def test_day_report_holds_the_bytes_read(duck, tmp_path):
    from logdig.config import Settings

    from .conftest import store_lines

    store = store_lines(tmp_path, "2026-11-25", [event(event_id="a"), "not json"])
    store_lines(tmp_path, "2026-11-25", [event(event_id="b")])
    store_lines(tmp_path, "2026-11-26", [event(event_id="c", received_at="2026-11-26T00:00:01Z")])
    run.analyze(duck, Settings(data_dir=str(tmp_path)), store, ["2026-11-25"])
    report = io.read_json(store, "results/_days/all/2026-11-25.json")
    keys = report["objects"]
    assert len(keys) == 2
    assert report["bytes"] == sum(len(store.get(k)) for k in keys)
    assert report["quality"]["lines"] == 3

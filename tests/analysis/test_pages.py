"""Known answers for page statistics."""

from __future__ import annotations

import numpy as np

from analysis import run
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

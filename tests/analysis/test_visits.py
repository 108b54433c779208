"""Known answers for visits (sessions) and where visitors come from, on both engines."""

from __future__ import annotations

from analysis import run
from analysis.jobs import visits

from .conftest import IPHONE, SITE, at, load_events

EVENTS = [
    # a: a visit from a newsletter (2 page views, 12 minutes), then 40 minutes idle, a bounce
    at("a1", "a", 0, "pageview", "/?utm_source=news&utm_medium=email", channel="Email", utm_source="news",
       utm_medium="email", country="DE", referrer=None),
    at("a2", "a", 2, "click", "/"),
    at("a3", "a", 10, "pageview", "/pricing", channel="Direct", referrer=SITE + "/", country="DE"),
    at("a4", "a", 12, "pageleave", "/pricing", spent_milli_sec=120_000),
    at("a5", "a", 52, "pageview", "/blog", channel="Organic search", referrer="https://www.Google.com/search?q=x",
       country="DE"),
    # b: one visit from a referral on a phone, events stored before sources (no channel, no country)
    at("b1", "b", 5, "pageview", "/pricing", referrer="https://news.example/item?id=1", user_agent=IPHONE),
    at("b2", "b", 6, "pageview", "/signup", referrer=SITE + "/pricing", user_agent=IPHONE),
    at("b3", "b", 7, "pageview", "/signup/done", referrer=SITE + "/signup", user_agent=IPHONE),
]  # fmt: skip


def by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def test_visits_bounces_durations_entry_and_exit_pages(engine, tmp_path):
    loaded = load_events(engine, tmp_path, EVENTS)
    out = visits.run(loaded.events)
    (totals,) = run.rows(out["totals"])
    assert (totals["visits"], totals["visitors"], totals["bounces"], totals["pageviews"]) == (3, 2, 1, 6)
    assert totals["duration_ms"] == 12 * 60_000 + 0 + 2 * 60_000
    assert totals["median_duration_ms"] == 2 * 60_000
    entry = by(run.rows(out["entry_pages"]), "page")
    assert {p: (r["visits"], r["bounces"]) for p, r in entry.items()} == {
        SITE: (1, 0),
        SITE + "/blog": (1, 1),
        SITE + "/pricing": (1, 0),
    }
    exits = {r["page"]: r["visits"] for r in run.rows(out["exit_pages"])}
    assert exits == {SITE + "/pricing": 1, SITE + "/blog": 1, SITE + "/signup/done": 1}
    devices = by(run.rows(out["devices"]), "device_type")
    assert devices["mobile"]["visits"] == 1 and devices["mobile"]["pageviews"] == 3


def test_a_visit_is_attributed_to_its_first_event(engine, tmp_path):
    loaded = load_events(engine, tmp_path, EVENTS)
    rows = run.rows(visits.run(loaded.events)["sources"])
    found = {(r["kind"], r["name"]): (r["visitors"], r["visits"], r["pageviews"]) for r in rows}
    assert found == {
        ("channel", "Email"): (1, 1, 2),
        ("channel", "Organic search"): (1, 1, 1),
        ("channel", "unknown"): (1, 1, 3),  # stored before the collector set channels
        ("referrer", "Direct / none"): (1, 1, 2),
        ("referrer", "google.com"): (1, 1, 1),  # lower case, without www.
        ("referrer", "news.example"): (1, 1, 3),
        ("utm_source", "news"): (1, 1, 2),
        ("utm_medium", "email"): (1, 1, 2),
        ("country", "DE"): (1, 2, 3),
        ("country", "unknown"): (1, 1, 3),
    }

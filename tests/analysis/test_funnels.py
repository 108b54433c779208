"""Known answers for funnels: hand-built user paths give hand-computed numbers."""

from __future__ import annotations

from analysis import run
from analysis.definitions import parse_funnel
from analysis.jobs import funnels

from .conftest import event, load_events, ms_after

SITE = "https://site.example"
FUNNEL = parse_funnel(
    {"name": "buy", "window_seconds": 600, "steps": ["url:*/pricing", "url:*/signup", "event:purchase"]}
)


def path(user: str, steps: list[tuple[int, str]], token: str = "tok") -> list[dict]:
    """Events of ``user``: (seconds after 10:00, "pricing" | "signup" | "purchase" | a URL)."""
    out = []
    for i, (sec, what) in enumerate(steps):
        fields = {"event_id": f"{user}-{i}", "user_key": user, "token": token, "timestamp": ms_after(sec * 1000)}
        if what == "purchase":
            out.append(event(type="custom", name="purchase", current_page=f"{SITE}/checkout", **fields))
        else:
            url = what if what.startswith("http") else f"{SITE}/{what}"
            out.append(event(type="pageview", current_page=url, **fields))
    return out


def test_hand_built_paths(engine, tmp_path):
    events = (
        path("u1", [(0, "pricing"), (60, "signup"), (120, "purchase")])  # all three
        + path("u2", [(0, "pricing"), (30, "signup")])  # two
        + path("u3", [(0, "signup"), (10, "pricing")])  # out of order: one
        # the first start runs out of time; the second reaches the end
        + path("u4", [(0, "pricing"), (650, "pricing"), (700, "signup"), (1000, "purchase")])
        + path("u5", [(0, "purchase"), (5, "pricing")])  # one
        + path("u7", [(0, f"{SITE}/pricing/?utm=x#top"), (100, "signup"), (700, "purchase")])  # late purchase: two
        + path("other-site", [(0, "pricing"), (1, "signup"), (2, "purchase")], token="tok2")
    )
    # u6: the next step at the very same millisecond does not count (strictly after)
    events += path("u6", [(0, "pricing")]) + [dict(path("u6", [(0, "signup")])[0], event_id="u6-x")]
    loaded = load_events(engine, tmp_path, events)
    result = {r["token"]: r for r in run.rows(funnels.steps(loaded.events, FUNNEL))}
    tok = result["tok"]
    assert [tok["users_1"], tok["users_2"], tok["users_3"]] == [7, 4, 2]
    # step 2 gaps: u1 60 s, u2 30 s, u4 50 s, u7 100 s; step 3: u1 60 s, u4 300 s
    assert tok["median_ms_2"] == 55_000
    assert tok["median_ms_3"] == 180_000
    assert [result["tok2"][f"users_{k}"] for k in (1, 2, 3)] == [1, 1, 1]

    doc = funnels.summarise(tok, FUNNEL)
    assert [s["conversion_from_previous"] for s in doc["steps"]] == [1.0, 4 / 7, 2 / 4]
    assert doc["steps"][2]["conversion_from_start"] == 2 / 7


def test_funnel_limited_to_its_token(duck, tmp_path):
    only_b = parse_funnel({"name": "b", "token": "tok2", "steps": ["url:*/pricing", "url:*/signup"]})
    events = path("u1", [(0, "pricing"), (1, "signup")]) + path("u2", [(0, "pricing"), (1, "signup")], token="tok2")
    loaded = load_events(duck, tmp_path, events)
    assert [r["token"] for r in run.rows(funnels.steps(loaded.events, only_b))] == ["tok2"]
    docs = run.compute(loaded, ["funnels"], funnels=[only_b])
    assert docs[("funnels", "tok", "2026-11-25")]["funnels"] == []
    assert docs[("funnels", "tok2", "2026-11-25")]["funnels"][0]["steps"][1]["users"] == 1


def test_a_step_typed_with_the_address_bars_slash_matches(engine, tmp_path):
    # The browser shows https://site.example/demo/spa/; pages are stored without the slash.
    funnel = parse_funnel({"name": "spa", "steps": ["url:*/demo/", "url:*/demo/spa/"]})
    events = path("u1", [(0, f"{SITE}/demo/"), (5, f"{SITE}/demo/spa/")])
    loaded = load_events(engine, tmp_path, events)
    (row,) = run.rows(funnels.steps(loaded.events, funnel))
    assert [row["users_1"], row["users_2"]] == [1, 1]
    assert funnels.summarise(row, funnel)["warnings"] == []


def test_a_step_that_matches_nothing_is_reported(engine, tmp_path):
    funnel = parse_funnel({"name": "typo", "steps": ["url:*/pricing", "url:*/sign-up", "event:purchase"]})
    # u1 buys without the sign-up page; u2 never reaches step 1 but signs up... elsewhere
    events = path("u1", [(0, "pricing"), (10, "purchase")]) + path("u2", [(0, "signup")])
    loaded = load_events(engine, tmp_path, events)
    (row,) = run.rows(funnels.steps(loaded.events, funnel))
    assert [row[f"matched_{k}"] for k in (1, 2, 3)] == [1, 0, 1]  # users matching each step, any order
    doc = funnels.summarise(row, funnel)
    assert [s["matched_users"] for s in doc["steps"]] == [1, 0, 1]
    assert doc["warnings"] == ["step 2 (url */sign-up) matched no page view on this day"]


def test_a_funnel_whose_first_step_never_matches_still_has_a_row(duck, tmp_path):
    # Before, no row came back at all and the result simply said 0 users everywhere.
    funnel = parse_funnel({"name": "none", "steps": ["url:*/nowhere", "event:purchase"]})
    loaded = load_events(duck, tmp_path, path("u1", [(0, "purchase")]))
    (row,) = run.rows(funnels.steps(loaded.events, funnel))
    assert (row["users_1"], row["users_2"], row["matched_1"], row["matched_2"]) == (0, 0, 0, 1)


def test_analyze_reports_steps_that_matched_nothing_over_its_range(tmp_path):
    from analysis.engines import duckdb_engine
    from logdig.config import Settings

    from .conftest import store_lines

    funnel = parse_funnel({"name": "typo", "steps": ["url:*/pricing", "event:never"]})
    events = path("u1", [(0, "pricing")])
    store = store_lines(tmp_path, "2026-11-25", events)
    store_lines(tmp_path, "2026-11-26", [dict(e, event_id="x" + e["event_id"]) for e in events])
    engine = duckdb_engine()
    try:
        summary = run.analyze(
            engine, Settings(data_dir=str(tmp_path)), store, ["2026-11-25", "2026-11-26"], funnels=[funnel]
        )
    finally:
        engine.close()
    assert summary.warnings == [
        "funnel typo, site tok: step 2 (event never) matched nothing from 2026-11-25 to 2026-11-26"
    ]

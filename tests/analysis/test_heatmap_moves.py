"""Known answers for issue 14's heat map parts: movement on its grid, dead clicks by
element, attention per tenth of the page, and how array fields are read."""

from __future__ import annotations

from analysis import run
from analysis.jobs import heatmap

from .conftest import event, load_events


def test_move_points_land_on_the_movement_grid(engine, tmp_path):
    # desktop 1250 px wide: 50 px a column, 40 px a row (the movement grid, twice the click grid's)
    events = [
        event(
            event_id="m1",
            type="move",
            viewport_w=1250,
            points=[[0, 0, 0], [49.9, 39.9, 100], [1249, 79.9, 200], [5000, 80, 300]],
        ),
        # a phone: x=200 of 400 is column 12 of 25; y=1000 and 1039 are row 25
        event(event_id="m2", type="move", viewport_w=400, points=[[200, 1000, 0], [200, 1039, 100]]),
        # no viewport width: off the grid
        event(event_id="m3", type="move", points=[[1, 1, 0]]),
    ]
    events.append(dict(events[0]))  # a repeat counts once
    loaded = load_events(engine, tmp_path, events)
    grid = {(r["viewport_class"], r["col"], r["row"]): r["moves"] for r in run.rows(heatmap.move_grid(loaded.events))}
    assert grid == {("desktop", 0, 0): 2, ("desktop", 24, 1): 1, ("desktop", 24, 2): 1, ("mobile", 12, 25): 2}
    assert run.rows(heatmap.grid(loaded.events)) == []  # moves are not clicks


def test_dead_clicks_by_element_with_their_share(engine, tmp_path):
    clicks = [("#buy", True, "Buy"), ("#buy", False, "Buy"), ("#buy", False, "Buy"), ("#buy", None, None)]
    clicks += [("p.intro", True, "Welcome"), ("p.intro", True, "Hello"), ("p.intro", True, "Welcome")]
    clicks += [("a.ok", False, "OK")]
    events = [
        event(
            event_id=f"c{i}",
            selector=s,
            text=t,
            interactive=not s.startswith("p"),
            x=1,
            y=1,
            viewport_w=1280,
            **({} if d is None else {"dead": d}),
        )
        for i, (s, d, t) in enumerate(clicks)
    ]
    loaded = load_events(engine, tmp_path, events)
    dead = {r["selector"]: r for r in run.rows(heatmap.dead_clicks(loaded.events))}
    assert set(dead) == {"#buy", "p.intro"}  # a.ok never went dead
    assert (dead["#buy"]["dead_clicks"], dead["#buy"]["clicks"], dead["#buy"]["share"]) == (1, 4, 0.25)
    assert (dead["p.intro"]["dead_clicks"], dead["p.intro"]["share"], dead["p.intro"]["text"]) == (3, 1.0, "Welcome")
    (page,) = run.rows(heatmap.page_clicks(loaded.events))
    assert (page["clicks"], page["dead_clicks"], page["plain_clicks"]) == (8, 4, 3)


def test_attention_is_the_mean_per_tenth_and_the_share_of_views_reaching_it(engine, tmp_path):
    leaves = [
        [1000, 500, 0, 0, 0, 0, 0, 0, 0, 0],
        [3000, 1500, 100, 0, 0, 0, 0, 0, 0, 0],
        [2000, 0, 0, 0, 0, 0, 0, 0, 0, 50],
    ]
    events = [event(event_id=f"l{i}", type="pageleave", viewport_w=1280, attention=a) for i, a in enumerate(leaves)]
    events.append(event(event_id="none", type="pageleave", viewport_w=1280))  # no attention: not a view here
    loaded = load_events(engine, tmp_path, events)
    got = {r["tenth"]: r for r in run.rows(heatmap.attention(loaded.events))}
    assert sorted(got) == list(range(10))
    assert {r["views"] for r in got.values()} == {3}
    assert (got[0]["mean_ms"], got[0]["reached"]) == (2000.0, 1.0)
    assert (got[1]["mean_ms"], got[1]["reached"]) == (2000 / 3, 2 / 3)
    assert (got[5]["mean_ms"], got[5]["reached"]) == (0.0, 0.0)
    assert got[9]["reached"] == 1 / 3


def test_one_leave_of_a_huge_attention_moves_the_mean_by_the_cap_at_most(engine, tmp_path):
    """The schema takes up to 10^11 ms a tenth: one such leave among 31 made the demo page's
    mean time in view 3.2e9 ms (37 days) for everyone. A view counts at most ATTENTION_CAP_MS."""
    leaves = [[1000] * 10] * 3 + [[100_000_000_000] * 10]
    events = [event(event_id=f"l{i}", type="pageleave", viewport_w=1280, attention=a) for i, a in enumerate(leaves)]
    got = {r["tenth"]: r for r in run.rows(heatmap.attention(load_events(engine, tmp_path, events).events))}
    assert got[0]["mean_ms"] == (3 * 1000 + heatmap.ATTENTION_CAP_MS) / 4 and got[0]["views"] == 4


def test_array_fields_of_the_wrong_type_are_bad_rows(duck, tmp_path):
    good = event(event_id="ok", type="move", viewport_w=1200, points=[[1, 2, 3]])
    bad = [
        event(event_id="b1", type="move", points="1,2,3"),
        event(event_id="b2", type="move", points=[[1, "a", 3]]),
        event(event_id="b3", type="pageleave", attention=[[1, 2]]),
        event(event_id="b4", type="pageleave", attention={"a": 1}),
        event(event_id="b5", dead="yes"),
    ]
    loaded = load_events(duck, tmp_path, [good, *bad])
    assert loaded.quality["2026-11-25"]["bad"] == {"not a JSON object of the right types": len(bad)}
    (cell,) = run.rows(heatmap.move_grid(loaded.events))
    assert (cell["viewport_class"], cell["col"], cell["row"], cell["moves"]) == ("desktop", 0, 0, 1)

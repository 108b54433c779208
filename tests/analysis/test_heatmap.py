"""Known answers for the heat map: clicks on chosen cells give exactly those counts."""

from __future__ import annotations

import pytest

from analysis import run
from analysis.engines import api
from analysis.jobs import heatmap

from .conftest import event, load_events


def test_clicks_land_in_their_cells(engine, tmp_path):
    # Cells are 1/50 of the viewport width by 20 page pixels.
    clicks = [
        # desktop, 1250 px wide (25 px a column): x=15, 24.9 -> column 0; x=1249 -> 49; y=39.9 -> row 1
        dict(x=15, y=0, viewport_w=1250),
        dict(x=24.9, y=19.9, viewport_w=1250),
        dict(x=1249, y=39.9, viewport_w=1250),
        # wider than the viewport (page scrolls sideways) -> last column
        dict(x=2500, y=40, viewport_w=1200),
        # phone, 400 px wide: x=200 is half way -> column 25
        dict(x=200, y=1000, viewport_w=400),
        dict(x=200, y=1019, viewport_w=400, rage=True),
        # tablet 800 px: x=8 -> column 0
        dict(x=8, y=5, viewport_w=800),
        # no viewport: not on the grid
        dict(x=5, y=5),
    ]
    events = [
        event(event_id=f"c{i}", user_key=f"u{i % 3}", selector="#buy" if i < 4 else "a.more", **c)
        for i, c in enumerate(clicks)
    ]
    # a repeat of c0 must not count twice; a page view is not a click
    events.append(dict(events[0]))
    events.append(event(event_id="pv", type="pageview", viewport_w=1000, x=None, y=None))
    loaded = load_events(engine, tmp_path, events)
    grid = {(r["viewport_class"], r["col"], r["row"]): r["clicks"] for r in run.rows(heatmap.grid(loaded.events))}
    assert grid == {
        ("desktop", 0, 0): 2,
        ("desktop", 49, 1): 1,
        ("desktop", 49, 2): 1,
        ("mobile", 25, 50): 2,
        ("tablet", 0, 0): 1,
    }
    pages = {r["viewport_class"]: r for r in run.rows(heatmap.page_clicks(loaded.events))}
    assert pages["mobile"]["rage_clicks"] == 1
    assert pages["unknown"]["placed"] == 0 and pages["unknown"]["clicks"] == 1
    assert sum(p["clicks"] for p in pages.values()) == len(clicks)
    by_selector = {r["selector"]: r for r in run.rows(heatmap.click_map(loaded.events))}
    assert (by_selector["#buy"]["clicks"], by_selector["#buy"]["users"]) == (4, 3)
    assert (by_selector["a.more"]["clicks"], by_selector["a.more"]["rage_clicks"]) == (4, 1)
    assert by_selector["#buy"]["text"] is None  # no click on it sent a text
    assert loaded.token_quality[("tok", "2026-11-25")]["duplicates"] == 1


def test_the_click_map_names_each_element_by_its_most_common_text(engine, tmp_path):
    selector = "body>main:nth-child(2)>ul:nth-child(3)>li:nth-child(1)>button"
    texts = ["Buy now", "Buy now", "Add to cart", None, ""]
    events = [
        event(event_id=f"c{i}", user_key=f"u{i}", selector=selector, text=t, x=1.0, y=1.0, viewport_w=1280.0)
        for i, t in enumerate(texts)
    ]
    (row,) = run.rows(heatmap.click_map(load_events(engine, tmp_path, events).events))
    assert (row["selector"], row["clicks"], row["users"], row["text"]) == (selector, 5, 5, "Buy now")


def test_breakpoints_and_scroll_depth(duck, tmp_path):
    widths = {767: "mobile", 768: "tablet", 1023: "tablet", 1024: "desktop"}
    events = [event(event_id=f"w{w}", x=1, y=1, viewport_w=w) for w in widths]
    depths = [0, 9.9, 10, 55, 100, 100]
    events += [event(event_id=f"d{i}", type="pageleave", scroll_depth=d) for i, d in enumerate(depths)]
    loaded = load_events(duck, tmp_path, events)
    classes = {r["viewport_class"] for r in run.rows(heatmap.grid(loaded.events))}
    assert classes == set(widths.values())
    got = {r["depth"]: r["leaves"] for r in run.rows(heatmap.scroll_depth(loaded.events))}
    assert got == {0: 2, 10: 1, 50: 1, 100: 2}


def test_the_runner_collects_what_grouped_collects_and_passes_errors_on(duck, tmp_path):
    from analysis import plan

    events = [event(event_id=f"c{i}", x=10 * i, y=5 * i, viewport_w=1000 + i) for i in range(6)]
    loaded = load_events(duck, tmp_path, events)
    want = {name: run.grouped(df) for name, df in heatmap.run(loaded.events).items()}
    keys = sorted(loaded.token_quality)
    counts = {k: 1 for k in keys}
    with plan.Runner(loaded.events) as runner:
        built = runner.build("heatmap", [], heatmap.run)
        assert [found["heatmap"] for _, found in runner.run({"heatmap": built}, keys, counts)] == [want]
    with plan.Runner(loaded.events) as runner:  # built before: the same text, run again
        assert runner.build("heatmap", [], heatmap.run) is built
        assert [found["heatmap"] for _, found in runner.run({"heatmap": built}, keys, counts)] == [want]

        def broken(events):
            F = api(events).F
            return {"n": events.select("token", "day", (F.col("event_id").cast("int")).alias("n"))}

        failing = runner.build("broken", [], broken)
        with pytest.raises(Exception, match="(?i)conver|cast|number"):  # not a number
            list(runner.run({"broken": failing}, keys, counts))

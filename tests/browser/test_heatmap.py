"""Issue 14 in real Chromium: every click with interactive/dead, and the opt-in heat-map
module (clicktracker-heatmap.js: mouse movement and attention), against the real collector,
Redis and flush. What is asserted is what the pipeline stored."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.browser.conftest import Pipeline, Tab

pytestmark = pytest.mark.browser

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "logdig" / "event.schema.json").read_text())
SHOTS = Path("/tmp/logdig-screenshots")  # looked at by a person; not kept in the repository


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def click_on(events: list[dict], element: str) -> dict:
    (click,) = [e for e in of_type(events, "click") if e.get("selector") == f"#{element}"]
    return click


def open_with_heatmap(tab: Tab, pipeline: Pipeline, path: str = "/demo/") -> object:
    pipeline.site.attrs = {"heatmap": ""}
    page = tab.open(f"{pipeline.site.url}{path}")
    page.wait_for_function("!!window.logdig._h")  # the module is loaded (after the page's load)
    return page


def move_around(page: object, steps: int = 30, ms: int = 2000) -> None:
    """Real pointer movement: Playwright's mouse in small steps, about `ms` in all."""
    for n in range(4):
        page.mouse.move(100 + 200 * (n % 2), 100 + 100 * n, steps=steps)
        page.wait_for_timeout(ms // 4)


def test_every_click_is_recorded_with_interactive_and_dead_flags(tab: Tab, pipeline: Pipeline) -> None:
    page = open_with_heatmap(tab, pipeline)
    user_key = tab.user_key(page)
    boxes = {}
    for element in ("plain-text", "dead", "live", "email", "plain"):
        boxes[element] = page.locator(f"#{element}").bounding_box()
        page.click(f"#{element}")  # at the middle of the element
        page.wait_for_timeout(1200)  # one verdict at a time: no answer reaches the next click
    page.click("#ignored")
    page.click("#link-products")  # navigates: an answer within 1 s
    page.wait_for_url("**/products.html?from=home")
    events = pipeline.wait_for(
        user_key, lambda ev: len(of_type(ev, "click")) == 6 and of_type(ev, "pageleave"), what="6 clicks"
    )
    for event in events:
        jsonschema.validate(event, SCHEMA)
    expected = {
        # element: (interactive, dead)
        "plain-text": (False, True),  # plain text: recorded, nothing answers it
        "dead": (True, True),  # a button with no handler
        "live": (True, False),  # its handler changes the DOM
        "email": (True, False),  # a form control answers a click itself (the caret)
        "plain": (False, True),
        "link-products": (True, False),  # the navigation answered it
    }
    for element, (interactive, dead) in expected.items():
        click = click_on(events, element)
        assert (click["interactive"], click["dead"]) == (interactive, dead), (element, click)
        if element in boxes:  # its position inside the element (x and the box rounded apart)
            box = boxes[element]
            assert abs(click["offset_x"] - box["width"] / 2) <= 2, (element, click, box)
            assert abs(click["offset_y"] - box["height"] / 2) <= 2, (element, click, box)
    assert click_on(events, "plain-text")["text"].startswith("A plain paragraph")
    assert "text" not in click_on(events, "email")


def test_a_later_click_elsewhere_does_not_answer_a_dead_click(tab: Tab, pipeline: Pipeline) -> None:
    """A newcomer clicked a dead button and, half a second later, a live one: the live one's
    DOM change came within the dead one's second and cleared its dead flag. What a later
    click on another element causes is that click's answer, not the earlier one's."""
    page = open_with_heatmap(tab, pipeline)
    user_key = tab.user_key(page)
    page.click("#dead")
    page.wait_for_timeout(300)
    page.click("#live")  # its handler changes the DOM
    page.wait_for_timeout(1200)
    page.click("#link-products")
    page.wait_for_url("**/products.html?from=home")
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "click")) == 3, what="3 clicks")
    assert (click_on(events, "dead")["dead"], click_on(events, "live")["dead"]) == (True, False)


def test_without_the_module_clicks_have_no_dead_flag_and_it_is_not_loaded(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/")
    user_key = tab.user_key(page)
    page.click("#dead")
    page.click("#plain-text")
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "click")) == 2)
    assert click_on(events, "dead")["interactive"] is True and "dead" not in click_on(events, "dead")
    assert click_on(events, "plain-text")["interactive"] is False
    assert "heatmap" not in tab.report() and page.evaluate("window.logdig._h") is None


def test_mouse_movement_and_attention_are_stored(tab: Tab, pipeline: Pipeline) -> None:
    page = open_with_heatmap(tab, pipeline)
    user_key = tab.user_key(page)
    move_around(page, ms=2400)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")  # the bottom, for a while
    page.wait_for_timeout(1500)
    page.mouse.move(300, 300, steps=10)
    page.click("#nav-products")  # leaves the page: the last moves and the attention go with it
    page.wait_for_url("**/products.html")
    events = pipeline.wait_for(user_key, lambda ev: of_type(ev, "pageleave") and of_type(ev, "move"))
    for event in events:
        jsonschema.validate(event, SCHEMA)
    moves = of_type(events, "move")
    points = [p for m in sorted(moves, key=lambda m: m["spent_milli_sec"]) for p in m["points"]]
    # About one sample per 100 ms while the pointer moves.
    assert 15 <= len(points) <= 300, len(points)
    times = [p[2] for p in points]
    assert times == sorted(times) and all(b - a >= 99 for a, b in zip(times, times[1:], strict=False))
    assert all(0 <= x <= 1280 and y >= 0 for x, y, _ in points)
    assert any(y > 1000 for _, y, _ in points), "page pixels: the last moves were made scrolled down"
    assert all(m["load_count"] == 1 and m["current_page"].endswith("/demo/") for m in moves)
    # At most one move request per 5 s (and the rest at leave).
    assert len(moves) <= 2, [m["spent_milli_sec"] for m in moves]

    (leave,) = of_type(events, "pageleave")
    attention = leave["attention"]
    assert len(attention) == 10, attention
    spent = leave["spent_milli_sec"]
    # No tenth can have been in view longer than the page view lasted; the top was in view
    # from the start until the scroll, the bottom for the last 1.5 s or so.
    assert all(0 <= ms <= spent + 50 for ms in attention), (attention, spent)
    assert attention[0] > 2000 and attention[9] > 1000, (attention, spent)
    assert attention[4] < attention[0], attention  # the middle was only passed through
    # Each moment counts once for every tenth in view: the sum is the time on page times the
    # number of tenths the viewport shows (720 px of a page of about 2,900: 2-3 tenths).
    page_h = leave["page_h"]
    assert 1.5 * spent <= sum(attention) <= (10 * 720 / page_h + 1.5) * spent, (attention, spent, page_h)


def test_single_page_navigation_starts_new_counters(tab: Tab, pipeline: Pipeline) -> None:
    page = open_with_heatmap(tab, pipeline, "/demo/spa/")
    user_key = tab.user_key(page)
    move_around(page, ms=1200)
    page.click("#to-about")
    page.wait_for_function("location.pathname.endsWith('/about')")
    page.wait_for_timeout(300)
    move_around(page, ms=1200)
    page.click("#to-pricing")
    page.wait_for_function("location.pathname.endsWith('/pricing')")
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "pageleave")) >= 2, timeout=20)
    views = {v["load_count"]: v for v in of_type(events, "pageview")}
    first, about = sorted(views)[:2]
    moves = {m["load_count"]: m for m in of_type(events, "move")}
    assert set(moves) >= {first, about}, moves
    # ms since the view: the second view's samples restart near 0, they do not go on from the first's.
    assert max(p[2] for p in moves[first]["points"]) >= 1000
    leaves = {e["load_count"]: e for e in of_type(events, "pageleave")}
    assert min(p[2] for p in moves[about]["points"]) < 1500
    assert max(p[2] for p in moves[about]["points"]) <= leaves[about]["spent_milli_sec"]
    for count in (first, about):
        assert len(leaves[count]["attention"]) == 10
        assert max(leaves[count]["attention"]) <= leaves[count]["spent_milli_sec"] + 50
    # The about view's attention starts at 0 again: not the sum of both views.
    assert max(leaves[about]["attention"]) < leaves[first]["spent_milli_sec"] + leaves[about]["spent_milli_sec"] - 500


def test_a_hidden_tab_sends_nothing(tab: Tab, pipeline: Pipeline) -> None:
    page = open_with_heatmap(tab, pipeline)
    user_key = tab.user_key(page)
    page.wait_for_timeout(600)  # the page view has gone
    move_around(page, ms=800)
    # The tab goes to the background (as the browser does it, the page cannot tell the difference).
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {get: () => true});"
        "Object.defineProperty(document, 'visibilityState', {get: () => 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    # At the hide: the beacon, and the fetch that confirms what it carried (the outbox's way).
    page.wait_for_timeout(1000)
    sent_at_hide = len([line for line in tab.log if "-> POST" in line])
    page.wait_for_timeout(5500)  # past the module's 5 s timer, with samples waiting before the hide
    sent_later = len([line for line in tab.log if "-> POST" in line])
    assert sent_later == sent_at_hide, tab.report()
    events = pipeline.wait_for(user_key, lambda ev: of_type(ev, "move") and of_type(ev, "pageleave"))
    assert sum(len(m["points"]) for m in of_type(events, "move")) >= 4  # they went with the page leave


def test_the_outbox_keeps_moves_across_a_network_failure(tab: Tab, pipeline: Pipeline) -> None:
    page = open_with_heatmap(tab, pipeline)
    user_key = tab.user_key(page)
    page.wait_for_timeout(600)
    tab.context.route(f"{pipeline.url}/logs", lambda route: route.abort("internetdisconnected"))
    move_around(page, ms=1000)
    page.wait_for_timeout(5500)  # the module's send, which fails
    outbox = page.evaluate("JSON.parse(localStorage.getItem('logdig_q') || '[]').map(e => e.type)")
    assert "move" in outbox, outbox
    tab.context.unroute(f"{pipeline.url}/logs")
    page.reload()  # the next page sends what the last one could not
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    events = pipeline.wait_for(user_key, lambda ev: of_type(ev, "move"), timeout=30)
    assert sum(len(m["points"]) for m in of_type(events, "move")) >= 5


def test_demo_with_the_module_looks_the_same_and_logs_no_error(tab: Tab, pipeline: Pipeline) -> None:
    """Screenshots of the collector's own demo (data-heatmap set) and of the same page
    without the module, for a person to look at: the module draws nothing."""
    SHOTS.mkdir(exist_ok=True)
    page = tab.new_page()
    page.goto(f"{pipeline.url}/demo/")
    page.wait_for_function("!!(window.logdig && window.logdig._h)")
    page.evaluate("document.querySelector('aside')?.remove()")  # the demo panel changes by itself
    move_around(page, ms=400)
    page.click("#dead")
    page.wait_for_timeout(1200)
    with_module = page.screenshot(path=str(SHOTS / "demo-heatmap.png"), full_page=True)
    pipeline.site.attrs = {}
    plain = tab.new_page()
    plain.goto(f"{pipeline.site.url}/demo/")
    plain.wait_for_function("!!(window.logdig && window.logdig.track)")
    plain.click("#dead")
    plain.mouse.move(1, 1)
    plain.wait_for_timeout(300)
    without = plain.screenshot(path=str(SHOTS / "demo-plain.png"), full_page=True)
    assert len(with_module) > 1000 and len(without) > 1000
    errors = [line for line in tab.log if "console.error" in line or "PAGE ERROR" in line]
    assert not errors, errors
    scripts = page.evaluate("[...document.scripts].map(s => s.src)")
    assert any(s.endswith("/clicktracker-heatmap.js") for s in scripts), scripts

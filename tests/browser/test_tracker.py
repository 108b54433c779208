"""clicktracker.js in real Chromium, against the real collector, Redis and flush.

Every assertion reads what the pipeline stored (objects written by a forced flush),
except where the browser's own state is the point (the outbox, the window object).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from tests.browser.conftest import EXTERNAL, Pipeline, Tab

pytestmark = pytest.mark.browser

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "logdig" / "event.schema.json").read_text())
USER_KEY = re.compile(r"^[A-Za-z0-9]{20}$")


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def clicks_on(events: list[dict], selector_id: str) -> list[dict]:
    return [e for e in of_type(events, "click") if e.get("selector", "").startswith(f"#{selector_id}")]


def box_of(page: object, css: str) -> dict:
    """Where Playwright's click position {x, y} (inside the padding box) lands: the page
    coordinates of that origin, and the border widths (the tracker's offsets count from
    the border box)."""
    return page.eval_on_selector(
        css,
        "el => { const r = el.getBoundingClientRect();"
        " return {left: r.left + scrollX + el.clientLeft, top: r.top + scrollY + el.clientTop,"
        " bx: el.clientLeft, by: el.clientTop}; }",
    )


def at(page: object, url: str) -> None:
    """Wait for the URL (also after pushState/replaceState, which fire no load)."""
    page.wait_for_function("url => location.href === url", arg=url)


def test_clicks_on_each_element_kind_arrive_with_correct_fields(tab: Tab, pipeline: Pipeline) -> None:
    pipeline.site.attrs = {"heatmap": ""}  # the module adds offset_x/offset_y
    page = tab.open(f"{pipeline.site.url}/demo/")
    page.wait_for_function("!!window.logdig._h")
    user_key = tab.user_key(page)
    assert USER_KEY.match(user_key)
    page.click("#add-later")
    page.wait_for_selector("#added")

    tracked = ["buy", "react-span", "span-href", "reactid-span", "submit", "input-button", "card", "tile", "long"]
    tracked += ["plain", "email", "added", "link-products"]
    untracked = ["ignored", "ignored-child"]
    expected_xy = {}
    for n, element in enumerate(tracked[:-1] + untracked):
        box = box_of(page, f"#{element}")
        page.click(f"#{element}", position={"x": 3 + n, "y": 4})
        expected_xy[element] = (round(box["left"] + 3 + n), round(box["top"] + 4), 3 + n + box["bx"], 4 + box["by"])
    box = box_of(page, "#link-products")
    expected_xy["link-products"] = (round(box["left"] + 2), round(box["top"] + 2), 2 + box["bx"], 2 + box["by"])
    page.click("#link-products", position={"x": 2, "y": 2})  # navigates to products.html
    page.wait_for_url("**/products.html?from=home")

    events = pipeline.wait_for(
        user_key, lambda ev: all(clicks_on(ev, t) for t in tracked) and of_type(ev, "pageleave"), what="all clicks"
    )
    base = f"{pipeline.site.url}/demo/"
    for event in events:
        jsonschema.validate(event, SCHEMA)
        assert event["token"] == pipeline.token and event["user_key"] == user_key
    for element in tracked:
        (click,) = clicks_on(events, element)  # exactly one, though beacon and fetch may both have sent it
        # Within a pixel: boxes may sit at fractional positions, and the tracker rounds.
        x, y, dx, dy = expected_xy[element]
        assert abs(click["x"] - x) <= 1 and abs(click["y"] - y) <= 1, (element, click["x"], click["y"], x, y)
        assert abs(click["offset_x"] - dx) <= 1 and abs(click["offset_y"] - dy) <= 1, element
        assert click["current_page"] == base
        assert click["viewport_w"] == 1280 and click["viewport_h"] == 720
        assert click["page_h"] > 1800
        assert click["rage"] is False
        assert click["load_count"] == 1
        # React 15's spans (data-reactid, reactid) are recorded as they were, but a
        # reactid alone does not make an element interactive.
        assert click["interactive"] is (element not in ("plain", "react-span", "reactid-span")), element
    for element in untracked:
        assert not clicks_on(events, element), f"#{element} must not be recorded"

    by_id = {t: clicks_on(events, t)[0] for t in tracked}
    assert by_id["buy"]["link"] == "button;primary;buy;buy;"
    assert by_id["buy"]["text"] == "Buy now" and by_id["buy"]["tag"] == "button"
    assert by_id["react-span"]["link"] == "span;r;react-span;;.0.1.2"
    assert by_id["span-href"]["link"] == base + "products.html#reviews"
    assert by_id["link-products"]["link"] == base + "products.html?from=home"
    assert by_id["link-products"]["tag"] == "a" and by_id["link-products"]["text"] == "See the products"
    assert by_id["submit"]["link"] == "input;;submit;send;" and "text" not in by_id["submit"]
    assert "text" not in by_id["input-button"]
    assert len(by_id["long"]["text"]) == 100
    assert by_id["tile"]["link"] == "div;tile;tile;;"
    assert by_id["plain"]["link"] == "div;;plain;;" and by_id["plain"]["tag"] == "div"
    assert "text" not in by_id["email"]  # never an input's value
    # The selector finds the clicked element again (checked on the page it was made on).
    page.go_back()
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    for element in tracked[:-2]:  # "added" was built by script, and not again
        assert page.eval_on_selector(by_id[element]["selector"], "el => el.id") == element


def test_click_text_reads_only_the_first_text_nodes(tab: Tab, pipeline: Pipeline) -> None:
    """A click on a big container (here the page background, body) must not copy the
    container's whole text (textContent of a large page cost 3-18 ms per click): the
    tracker reads its first text nodes only, and no more of them for a container without
    text. The recorded text is still textContent.trim().slice(0, 100)."""
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    user_key = tab.user_key(page)
    ids = ["t-buy", "t-long", "t-lead", "t-blank"]
    old = page.evaluate(
        """ids => {
        document.querySelector('main').insertAdjacentHTML('beforeend',
          '<button id="t-buy">\\n  <span>Buy</span> now\\n</button>' +
          '<p id="t-long">\\n    ' + 'word '.repeat(40) + '</p>' +
          // 700 characters of whitespace before the first word.
          '<div id="t-lead">' + '<span>   \\n   </span>'.repeat(100) + '<b>Deep</b> text</div>' +
          // No text: 3,000 text nodes of whitespace (12,000 characters).
          '<div id="t-blank" style="height: 20px">' + '<i></i>\\n   '.repeat(3000) + '</div>' +
          '<div id="big">' + '<span>item </span> '.repeat(5000) + '</div>');
        const old = {};
        for (const id of ids) old[id] = document.getElementById(id).textContent.trim().slice(0, 100);
        old.body = document.body.textContent.trim().slice(0, 100);
        // Count reads of textContent and of a text node's data from now on.
        window.__reads = {textContent: 0, data: 0};
        for (const [proto, name] of [[Node.prototype, 'textContent'], [CharacterData.prototype, 'data']]) {
          const d = Object.getOwnPropertyDescriptor(proto, name);
          Object.defineProperty(proto, name, {...d, get() { window.__reads[name]++; return d.get.call(this); }});
        }
        return old;
    }""",
        ids,
    )
    assert page.evaluate("document.querySelectorAll('#big span').length") == 5000

    def reads(click: Callable[..., None], *args: object) -> dict:
        before = page.evaluate("({...window.__reads})")
        click(*args)
        after = page.evaluate("({...window.__reads})")
        return {k: after[k] - before[k] for k in after}

    read = {"body": reads(page.mouse.click, 5, 40)}  # the page background, left of nav and main: body
    for element in ids:
        read[element] = reads(page.click, f"#{element}")
    assert all(r["textContent"] == 0 for r in read.values()), f"the tracker read textContent: {read}"
    # Bounded reads: the first text nodes of the body (over 13,000 of them), and not all
    # 3,000 of a container without text.
    assert 0 < read["body"]["data"] < 500 and 0 < read["t-blank"]["data"] < 500, read

    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "click")) == 5, what="five clicks")
    by = {c["selector"]: c for c in of_type(events, "click")}
    assert by["body"]["text"] == old["body"] and by["body"]["text"].startswith("Home")
    assert by["body"]["tag"] == "body" and by["body"]["interactive"] is False
    assert by["#t-buy"]["text"] == old["t-buy"] == "Buy now"
    assert by["#t-long"]["text"] == old["t-long"] == "word " * 20
    assert by["#t-lead"]["text"] == old["t-lead"] == "Deep text"
    assert by["#t-blank"]["text"] == old["t-blank"] == ""


def test_selector_without_ids_names_the_element(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    user_key = tab.user_key(page)
    page.click("li:nth-child(2) button.add")
    events = pipeline.wait_for(user_key, lambda ev: of_type(ev, "click"))
    (click,) = of_type(events, "click")
    assert click["selector"].startswith("body>")
    assert page.eval_on_selector(click["selector"], "el => el.dataset.sku") == "coffee"
    assert click["text"] == "Add to cart"


def test_pushstate_navigations_give_exactly_one_pageview_each(tab: Tab, pipeline: Pipeline) -> None:
    spa = f"{pipeline.site.url}/demo/spa/"
    page = tab.open(spa)
    user_key = tab.user_key(page)
    page.click("#to-about")
    at(page, spa + "about")
    page.click("#to-pricing")
    at(page, spa + "pricing?plan=pro")
    page.click("#same-url")  # replaceState to the same URL: no page view
    page.evaluate("history.pushState({}, '', location.href)")  # same URL again: none either
    page.click("#refine")  # replaceState to a new URL: a page view
    at(page, spa + "pricing?sort=price")
    # The same-URL pushState made a history entry of its own, which refine replaced.
    page.go_back()  # popstate
    at(page, spa + "pricing?plan=pro")

    expected = [spa, spa + "about", spa + "pricing?plan=pro", spa + "pricing?sort=price", spa + "pricing?plan=pro"]
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "pageview")) >= len(expected))
    page.wait_for_timeout(300)
    events = pipeline.events(user_key)
    views = sorted(of_type(events, "pageview"), key=lambda e: e["load_count"])
    assert [v["current_page"] for v in views] == expected
    assert [v["referrer"] for v in views[1:]] == expected[:-1]
    assert views[0]["referrer"] is None
    counts = [v["load_count"] for v in views]
    assert counts == list(range(counts[0], counts[0] + len(expected)))
    # spent_milli_sec restarts at each navigation.
    assert all(v["spent_milli_sec"] < 2000 for v in views[1:])
    # Each page that was left got its page leave, with that page's URL.
    leaves = [e["current_page"] for e in sorted(of_type(events, "pageleave"), key=lambda e: e["load_count"])]
    assert leaves == expected[:-1]


def test_hash_routing_gives_exactly_one_pageview_each(tab: Tab, pipeline: Pipeline) -> None:
    app = f"{pipeline.site.url}/demo/hash.html"
    page = tab.open(app)
    user_key = tab.user_key(page)
    page.click("#to-inbox")
    at(page, app + "#/inbox")
    page.click("#to-settings")
    at(page, app + "#/settings")
    page.go_back()  # popstate and hashchange both fire: one page view
    at(page, app + "#/inbox")
    page.evaluate("location.hash = '#/settings'")
    at(page, app + "#/settings")

    expected = [app, app + "#/inbox", app + "#/settings", app + "#/inbox", app + "#/settings"]
    pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "pageview")) >= len(expected))
    page.wait_for_timeout(300)
    views = sorted(of_type(pipeline.events(user_key), "pageview"), key=lambda e: e["load_count"])
    assert [v["current_page"] for v in views] == expected


def test_click_on_a_link_that_leaves_the_site_is_delivered(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/")
    user_key = tab.user_key(page)
    page.wait_for_timeout(500)  # the page view has gone; the click can only go with the page
    page.click("#leave")
    page.wait_for_url(EXTERNAL)
    events = pipeline.wait_for(user_key, lambda ev: clicks_on(ev, "leave") and of_type(ev, "pageleave"))
    (click,) = clicks_on(events, "leave")
    assert click["link"] == EXTERNAL
    (leave,) = of_type(events, "pageleave")
    assert leave["current_page"] == f"{pipeline.site.url}/demo/"
    assert leave["spent_milli_sec"] >= 500


def test_pageleave_has_time_on_page_and_max_scroll_depth(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/")
    user_key = tab.user_key(page)
    page.evaluate("window.scrollTo(0, (document.documentElement.scrollHeight - innerHeight) / 2)")
    page.wait_for_timeout(300)
    expected_half = page.evaluate("Math.round((scrollY + innerHeight) / document.documentElement.scrollHeight * 100)")
    page.evaluate("window.scrollTo(0, 0)")  # the maximum counts, not the last position
    page.wait_for_timeout(200)
    page.click("#nav-products")
    page.wait_for_url("**/products.html")
    events = pipeline.wait_for(user_key, lambda ev: of_type(ev, "pageleave") and len(of_type(ev, "pageview")) == 2)
    (leave,) = of_type(events, "pageleave")
    assert leave["scroll_depth"] == expected_half
    assert 40 < expected_half < 100
    assert leave["spent_milli_sec"] >= 500
    second = max(of_type(events, "pageview"), key=lambda e: e["load_count"])
    assert second["referrer"] == f"{pipeline.site.url}/demo/"
    assert second["current_page"] == f"{pipeline.site.url}/demo/products.html"


def test_collector_down_events_survive_reload_and_arrive_exactly_once(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/")
    user_key = tab.user_key(page)
    pipeline.wait_for(user_key, lambda ev: of_type(ev, "pageview"))

    pipeline.stop_collector()
    try:
        page.click("#buy")
        page.click("#card")
        page.evaluate("logdig.track('offline_step', {n: 1})")
        page.wait_for_timeout(800)
        page.reload()  # the outbox is in localStorage; the reload also beacons (in vain)
        page.wait_for_function("!!(window.logdig && window.logdig.track)")
        page.click("#tile")
        # The click reaches the stored outbox 300 ms after it comes (a retry may be waiting).
        page.wait_for_function(
            "JSON.parse(localStorage.getItem('logdig_q')).filter(e => e.type === 'click').length === 3", timeout=10000
        )
        waiting = page.evaluate("JSON.parse(localStorage.getItem('logdig_q')).map(e => e.type)")
        assert Counter(waiting)["click"] == 3 and "custom" in waiting
    finally:
        pipeline.start_collector()

    # No reload now: the tracker's own retry (backoff) delivers them.
    events = pipeline.wait_for(
        user_key,
        lambda ev: len(of_type(ev, "click")) == 3 and of_type(ev, "custom") and len(of_type(ev, "pageview")) == 2,
        timeout=30,
        what="the events queued while the collector was down",
    )
    page.wait_for_function("JSON.parse(localStorage.getItem('logdig_q') || '[]').length === 0", timeout=30000)
    events = pipeline.events(user_key)
    ids = Counter(e["event_id"] for e in events)
    assert all(n == 1 for n in ids.values()), f"stored twice: {[i for i, n in ids.items() if n > 1]}"
    assert {c["selector"].split(">")[0] for c in of_type(events, "click")} == {"#buy", "#card", "#tile"}
    assert page.evaluate("localStorage.getItem('logdig_drop')") in (None, "0")


def test_events_reach_storage_within_300_ms_while_a_retry_waits(tab: Tab, pipeline: Pipeline) -> None:
    """A crash has no pagehide: what waits in memory is lost. The collector failing, the
    tracker's retry waits seconds (backoff), but a new event is written to the stored outbox
    300 ms after it comes, not with that retry."""
    refused = []

    def refuse(route: object) -> None:
        refused.append(time.monotonic())
        route.abort("connectionrefused")

    tab.context.route(f"{pipeline.url}/logs", refuse)
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    # Three failures: the next retry is 2-6 s away (backoff 0.5-1.5 s, 1-3 s, then 2-6 s).
    deadline = time.monotonic() + 15
    while len(refused) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(refused) == 3, f"the tracker tried {len(refused)} times"
    page.evaluate("logdig.track('while_failing')")
    clicked = time.monotonic()
    page.wait_for_function(
        "(JSON.parse(localStorage.getItem('logdig_q') || '[]')).some(e => e.name === 'while_failing')", timeout=1500
    )
    assert len(refused) == 3, "a send went out before the retry was due"
    assert time.monotonic() - clicked < 1.5

    tab.context.unroute(f"{pipeline.url}/logs")
    user_key = tab.user_key(page)
    events = pipeline.wait_for(user_key, lambda ev: of_type(ev, "custom"), timeout=30)
    assert [e["name"] for e in of_type(events, "custom")] == ["while_failing"]


def test_a_fetch_wrapper_that_rejects_with_nothing_does_not_stop_the_sending(tab: Tab, pipeline: Pipeline) -> None:
    """A page's own fetch wrapper (test tools, SPA frameworks) may reject without an error
    object. The tracker treats it as a failed send and retries: it reads no status from it."""
    tab.context.add_init_script(
        "(() => { const real = window.fetch; let once = true;"
        " window.fetch = (...a) => once ? ((once = false), Promise.reject()) : real(...a); })();"
    )
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    page.evaluate("logdig.track('after_nothing')")
    events = pipeline.wait_for(tab.user_key(page), lambda ev: of_type(ev, "custom"), timeout=20)
    assert [e["name"] for e in of_type(events, "custom")] == ["after_nothing"]
    assert not tab.page_errors


def test_outbox_cap_holds_and_drops_the_oldest(tab: Tab, pipeline: Pipeline) -> None:
    pipeline.site.attrs = {"max-outbox": "5"}
    tab.context.route(f"{pipeline.url}/logs", lambda route: route.abort("connectionrefused"))
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    user_key = tab.user_key(page)
    for n in range(12):
        page.evaluate("n => logdig.track('step', {n})", n)
    # New events reach the stored outbox 300 ms after they come (or on hide).
    page.wait_for_function("+localStorage.getItem('logdig_drop') === 8", timeout=10000)
    outbox = page.evaluate("JSON.parse(localStorage.getItem('logdig_q'))")
    assert len(outbox) == 5
    assert [e["props"]["n"] for e in outbox] == [7, 8, 9, 10, 11]
    # 13 events (the page view and 12 custom) for 5 places.
    assert page.evaluate("+localStorage.getItem('logdig_drop')") == 8

    tab.context.unroute(f"{pipeline.url}/logs")
    # The tracker's next retry (backoff) delivers what the outbox kept.
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "custom")) == 5, timeout=30)
    assert not of_type(events, "pageview")
    assert sorted(e["props"]["n"] for e in of_type(events, "custom")) == [7, 8, 9, 10, 11]


def test_answers_decide_what_leaves_the_outbox(tab: Tab, pipeline: Pipeline) -> None:
    answers = []

    def answer(route: object) -> None:
        status = answers.pop(0) if answers else 202
        body = {"accepted": 0, "duplicates": 0, "rejected": []} if status == 202 else {"error": "x"}
        route.fulfill(status=status, json=body, headers={"Access-Control-Allow-Origin": pipeline.site.url})

    tab.context.route(f"{pipeline.url}/logs", answer)
    answers.extend([503, 429, 500])
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    # Three retryable failures in a row keep the page view (backoff 0.5-1.5 s, 1-3 s, 2-6 s).
    page.wait_for_function("JSON.parse(localStorage.getItem('logdig_q') || '[]').length > 0")
    deadline = time.monotonic() + 20
    while answers and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert not answers, "the tracker did not retry three times"
    page.wait_for_function("JSON.parse(localStorage.getItem('logdig_q') || '[]').length === 0", timeout=20000)
    assert page.evaluate("+localStorage.getItem('logdig_drop')") == 0
    answers.append(400)  # a client error is never retried: dropped and counted
    page.evaluate("logdig.track('bad')")
    page.wait_for_function("+localStorage.getItem('logdig_drop') === 1", timeout=5000)
    assert page.evaluate("JSON.parse(localStorage.getItem('logdig_q')).length") == 0


def test_storage_disabled_falls_back_to_memory(tab: Tab, pipeline: Pipeline) -> None:
    tab.context.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('The operation is insecure.', 'SecurityError'); }});"
    )
    page = tab.new_page()
    page.goto(f"{pipeline.site.url}/demo/")
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    page.click("#buy")
    page.evaluate("logdig.track('no_storage')")
    # The user key lives in memory only: find it in what the page sent.
    sent = []
    page.on("request", lambda r: r.method == "POST" and sent.extend(json.loads(r.post_data)))
    page.click("#card")
    page.wait_for_timeout(800)
    assert sent, "nothing was sent"
    user_key = sent[0]["user_key"]
    assert USER_KEY.match(user_key)
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "click")) == 2 and of_type(ev, "custom"))
    assert of_type(events, "pageview")
    assert not tab.page_errors


def test_no_page_error_and_no_global_leaks(tab: Tab, pipeline: Pipeline) -> None:
    tab.context.add_init_script("window.__before = Object.getOwnPropertyNames(window);")
    for path in ("/demo/", "/demo/spa/", "/demo/hash.html"):
        page = tab.open(pipeline.site.url + path)
        page.click("nav a:nth-child(3)")
        page.wait_for_timeout(200)
        added = page.evaluate(
            "Object.getOwnPropertyNames(window).filter(k => !window.__before.includes(k) && k !== '__before')"
        )
        assert set(added) <= {"logdig"}, f"{path}: globals leaked: {added}"
        assert page.evaluate("typeof window.logdig.track") == "function"
        page.close()
    # A throwing host page (its own handlers fail) does not stop or break the tracker.
    page = tab.open(f"{pipeline.site.url}/demo/products.html")
    user_key = tab.user_key(page)
    page.evaluate("logdig.push(['nonexistent', 1]); logdig.experiment('x', null); logdig.track()")
    page.click("#back")
    pipeline.wait_for(user_key, lambda ev: clicks_on(ev, "back"))
    assert tab.page_errors == []


def test_custom_events_and_experiments(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/")
    user_key = tab.user_key(page)
    shown = page.evaluate("document.documentElement.getAttribute('data-hero')")
    assert shown in ("control", "bold")
    # Same user, same experiment: same variant, and still one exposure for this page view.
    again = page.evaluate("logdig.experiment('hero', ['control', 'bold'])")
    assert again == shown
    page.click("#track-custom")
    page.reload()
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    assert page.evaluate("document.documentElement.getAttribute('data-hero')") == shown

    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "exposure")) == 2, what="two exposures")
    exposures = of_type(events, "exposure")
    assert [(e["name"], e["variant"]) for e in exposures] == [("hero", shown)] * 2
    assert len({e["load_count"] for e in exposures}) == 2
    customs = {e["name"]: e for e in of_type(events, "custom")}
    assert customs["demo_opened"]["props"] == {"page": "home"}
    assert customs["newsletter"]["props"] == {"plan": "weekly"}
    # Deterministic per user: another browser may get either, but always the same.
    other = tab.context.browser.new_context()
    try:
        other_page = other.new_page()
        other_page.goto(f"{pipeline.site.url}/demo/")
        other_page.wait_for_function("!!(window.logdig && window.logdig.track)")
        picks = other_page.evaluate("[1,2,3].map(() => logdig.experiment('hero', ['control', 'bold']))")
        assert len(set(picks)) == 1
    finally:
        other.close()


def test_rage_clicks_are_marked(tab: Tab, pipeline: Pipeline) -> None:
    page = tab.open(f"{pipeline.site.url}/demo/")
    user_key = tab.user_key(page)
    for _ in range(4):
        page.click("#buy", position={"x": 5, "y": 5}, delay=10)
    page.wait_for_timeout(1100)
    page.click("#buy", position={"x": 5, "y": 5})  # over a second later: calm again
    events = pipeline.wait_for(user_key, lambda ev: len(clicks_on(ev, "buy")) == 5)
    rage = [c["rage"] for c in sorted(clicks_on(events, "buy"), key=lambda e: e["timestamp"])]
    assert rage == [False, False, True, True, False]


def test_two_tabs_store_each_event_once(tab: Tab, pipeline: Pipeline) -> None:
    first = tab.open(f"{pipeline.site.url}/demo/")
    second = tab.open(f"{pipeline.site.url}/demo/products.html")
    user_key = tab.user_key(first)
    assert tab.user_key(second) == user_key  # one browser, one visitor
    for _ in range(3):
        first.click("#buy")
        second.click("li button.add")
    first.wait_for_timeout(800)
    events = pipeline.wait_for(user_key, lambda ev: len(of_type(ev, "click")) == 6)
    ids = Counter(e["event_id"] for e in events)
    assert all(n == 1 for n in ids.values())
    assert len(of_type(events, "pageview")) == 2


def test_do_not_track_is_honoured_only_when_asked(tab: Tab, pipeline: Pipeline) -> None:
    tab.context.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true});")
    pipeline.site.attrs = {"respect-dnt": "", "heatmap": ""}
    posts, scripts = [], []
    page = tab.new_page()
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    page.on("request", lambda r: "clicktracker-heatmap" in r.url and scripts.append(r.url))
    page.goto(f"{pipeline.site.url}/demo/")
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    page.click("#buy")
    variant = page.evaluate("logdig.experiment('hero', ['control', 'bold'])")
    assert variant in ("control", "bold")  # the page still works
    page.click("#nav-products")
    page.wait_for_timeout(800)
    assert posts == []
    assert scripts == []  # nor the heat-map module: no request to the collector at all
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('logdig'))") == []

    pipeline.site.attrs = {}  # without data-respect-dnt, the signal is not the tracker's to act on
    page.goto(f"{pipeline.site.url}/demo/")
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    user_key = tab.user_key(page)
    pipeline.wait_for(user_key, lambda ev: of_type(ev, "pageview"))


def test_overlay_link_loads_the_overlay_and_records_nothing(tab: Tab, pipeline: Pipeline) -> None:
    requests = []
    tab.context.route(
        f"{pipeline.url}/overlay.js", lambda route: route.fulfill(body="", content_type="text/javascript")
    )
    page = tab.new_page()
    page.on("request", lambda r: requests.append((r.method, r.url)))
    page.goto(f"{pipeline.site.url}/demo/?logdig_overlay=signed-value")
    page.wait_for_function("!!(window.logdig && window.logdig.track)")
    page.wait_for_function("!!document.querySelector('script[src$=\"/overlay.js\"]')")
    assert page.evaluate("document.querySelector('script[src$=\"/overlay.js\"]').src") == f"{pipeline.url}/overlay.js"
    page.click("#buy")
    page.evaluate("logdig.track('owner_visit')")
    page.wait_for_timeout(800)
    page.goto(f"{pipeline.site.url}/demo/products.html?logdig_overlay=signed-value")  # pagehide: no beacon either
    page.wait_for_timeout(500)
    assert ("GET", f"{pipeline.url}/overlay.js") in requests
    assert not [url for method, url in requests if method == "POST"], "the owner's visit was recorded"
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('logdig'))") == []
    assert page.evaluate("logdig.experiment('hero', ['control', 'bold'])") in ("control", "bold")


def test_collector_serves_the_tracker_and_the_demo_site(tab: Tab, pipeline: Pipeline) -> None:
    with urllib.request.urlopen(f"{pipeline.url}/clicktracker.js") as r:
        body, headers = r.read(), r.headers
    built = (Path(__file__).resolve().parents[2] / "clicktracker" / "dist" / "clicktracker.js").read_bytes()
    assert body == built
    assert headers["Content-Type"].startswith("text/javascript")
    assert "max-age" in headers["Cache-Control"] and headers["ETag"]
    request = urllib.request.Request(f"{pipeline.url}/clicktracker.js", headers={"If-None-Match": headers["ETag"]})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(request)
    assert not_modified.value.code == 304

    # The demo, same origin as the collector: no data-endpoint, the script's origin is used.
    page = tab.open(f"{pipeline.url}/demo/")
    user_key = tab.user_key(page)
    page.click("#buy")
    events = pipeline.wait_for(user_key, lambda ev: clicks_on(ev, "buy"))
    assert of_type(events, "pageview")[0]["current_page"] == f"{pipeline.url}/demo/"
    recent = json.loads(urllib.request.urlopen(f"{pipeline.url}/demo/recent").read())
    assert recent["stored"] >= 2 and recent["events"]

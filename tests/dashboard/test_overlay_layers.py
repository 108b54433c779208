"""The overlay's layers, pickers and rectangle tool, in Chromium over the real pipeline.

A site of its own (its own redis-server, collector and data folder, so the dashboard world's
counts stay as they are): known events go in over HTTP (clicks with users and dead flags,
movement, page leaves with scroll depth and attention, exposures to an experiment), are
flushed into objects and analysed as scheduled; then the overlay, opened on the shop page
with a signed link, is switched layer by layer and a region is dragged with the mouse.
Every expected number is derived from ``CLICKS``/``LEAVES`` below. One Chromium page for the
file; screenshots of each layer go to the artifacts folder (see conftest.artifacts).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from analysis.definitions import Definitions, parse_experiment
from logdig.config import Settings
from logdig.queue import Sites, connect, shared_secret
from tests.conftest import start_collector
from tests.dashboard.conftest import DESKTOP, SiteServer, Tab, _flush_and_analyse, artifacts
from tests.helpers import make_event, post, private_redis
from web.dashboard import overlay, segments

pytestmark = pytest.mark.browser

# (user, element, x, y, dead) at 1280 px; the shop page's elements sit at fixed places
# (fixtures/shop.html): #hot 200..360 x 300..360, #cold 40..200 x 700..760, #buy 200..360 x 1100..1160.
CLICKS = [
    *[("u1", "#hot", 280, 330, False)] * 3,
    ("u1", "#cold", 120, 730, True),
    *[("u2", "#hot", 281, 331, False)] * 2,
    ("u2", "#cold", 121, 731, True),
    ("u3", "#cold", 120, 730, False),
    ("u3", "#buy", 280, 1130, False),
]
# (user, scroll depth %, attention ms per tenth)
LEAVES = [
    ("u1", 100, [6000, 5000, 4000, 3000, 2000, 1000, 500, 300, 200, 100]),
    ("u2", 45, [4000, 3000, 2000, 1000, 0, 0, 0, 0, 0, 0]),
    ("u3", 30, [2000, 1000, 500, 0, 0, 0, 0, 0, 0, 0]),
    ("u4", 90, [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 0]),
]
VARIANTS = {"u1": "control", "u2": "green", "u3": "green"}
NEW = "u2"  # its browser's first page view (load_count 1): the only new visitor; the others return
MOVE_POINTS = [[900, 1500 + 4 * i, 100 * i] for i in range(40)]  # u4 moves down the right side
PAGE_H = 2400
DOCS_OVERLAY = Path(__file__).resolve().parents[2] / "docs" / "overlay.png"


@dataclass
class Layered:
    site: SiteServer
    href: str  # the shop page with a signed overlay link
    collector_url: str


def _events(token: str, page: str) -> list[dict]:
    events = _visits(token, page)
    for e in events:
        e["load_count"] = 1 if e["user_key"].startswith(f"{NEW}-") else 2
    return events


def _visits(token: str, page: str) -> list[dict]:
    common = {"current_page": page, "viewport_w": 1280, "viewport_h": 800, "page_w": 1280, "page_h": PAGE_H}
    events = [
        make_event(token, user_key=f"{u}-overlay-layers", type="pageview", link=None, x=None, y=None, **common)
        for u in ("u1", "u2", "u3", "u4")
    ]
    events += [
        make_event(
            token,
            user_key=f"{u}-overlay-layers",
            name="hero",
            variant=v,
            type="exposure",
            link=None,
            x=None,
            y=None,
            **common,
        )
        for u, v in VARIANTS.items()
    ]
    events += [
        make_event(
            token,
            user_key=f"{u}-overlay-layers",
            selector=sel,
            x=x,
            y=y,
            dead=dead,
            interactive=True,
            link=None,
            **common,
        )
        for u, sel, x, y, dead in CLICKS
    ]
    events += [
        make_event(
            token,
            user_key=f"{u}-overlay-layers",
            type="pageleave",
            scroll_depth=depth,
            attention=att,
            link=None,
            x=None,
            y=None,
            **common,
        )
        for u, depth, att in LEAVES
    ]
    events.append(
        make_event(
            token, user_key="u4-overlay-layers", type="move", points=MOVE_POINTS, link=None, x=None, y=None, **common
        )
    )
    return events


@pytest.fixture(scope="module")
def layered(tmp_path_factory) -> Iterator[Layered]:
    with private_redis() as server:
        redis = connect(server.url)
        settings = Settings(redis_url=server.url, data_dir=str(tmp_path_factory.mktemp("overlay-layers")))
        token = Sites(redis).create("overlay-layers").token
        collector = start_collector(settings, token=token)
        site = SiteServer(token, collector.url)
        try:
            Sites(redis).create("overlay-layers", [site.url], token=token)
            exp = {"name": "hero", "token": token, "control": "control", "goal": {"event": "purchase"}}
            Definitions(redis).put("experiment", parse_experiment(exp))
            page = f"{site.url}/shop.html"
            status, _h, body = post(f"{collector.url}/logs", _events(token, page), headers={"Origin": site.url})
            assert status == 202 and not body["rejected"], body
            assert _flush_and_analyse(settings, redis) > 0
            today = datetime.now(UTC).date()
            value = overlay.sign(
                shared_secret(redis),
                token,
                page,
                str(today - timedelta(days=1)),
                str(today + timedelta(days=1)),
                time.time(),
            )
            yield Layered(site, f"{page}?{overlay.PARAM}={quote(value)}", collector.url)
        finally:
            collector.stop()
            site.close()


def _root(page) -> dict:
    return page.evaluate(
        "() => Object.fromEntries([...document.getElementById('logdig-overlay').attributes].map(a => [a.name, a.value]))"
    )


def _switch(page, name: str, checked: bool) -> dict:
    """Tick or untick a layer in the panel and wait for the overlay to draw again."""
    page.evaluate("document.getElementById('logdig-overlay').dataset.old = '1'")
    box = page.locator(f"#logdig-overlay-bar input[name={name}]")
    box.check() if checked else box.uncheck()
    page.wait_for_selector("#logdig-overlay:not([data-old])", state="attached")
    return _root(page)


def _drag(page, left: float, top: float, right: float, bottom: float) -> dict:
    page.locator("#logdig-overlay-bar button[name=measure]").click()
    page.wait_for_selector("#logdig-overlay >> .logdig-catcher")
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move((left + right) / 2, (top + bottom) / 2, steps=4)
    page.mouse.move(right, bottom, steps=4)
    page.mouse.up()
    out = page.locator("#logdig-overlay-bar output[name=region]")
    out.wait_for()
    return {
        "clicks": int(out.get_attribute("data-clicks")),
        "users": out.get_attribute("data-users"),
        "share": float(out.get_attribute("data-share")),
        "text": out.inner_text(),
    }


def _shot(page, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"overlay-{name}.png"), full_page=True)


def test_each_layer_draws_what_the_data_says_and_a_region_counts_its_clicks_and_users(
    chromium, layered: Layered, monkeypatch
):
    # a segment is computed in the collector's thread: its first answer is "computing", then asked again
    monkeypatch.setattr(segments, "WAIT_SECONDS", 0)
    monkeypatch.setattr(overlay, "RETRY_SECONDS", 1)
    context = chromium.new_context(viewport=DESKTOP)
    context.route("**/logs", lambda route: route.abort())  # the tracker on the page records nothing here
    tab = Tab(context.new_page())
    page = tab.page
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: "/overlay/data?" in r.url and answers.append((r.url, r.status)))
    page.goto(layered.href)
    page.wait_for_selector("#logdig-overlay[data-cells]", state="attached")
    total = len(CLICKS)

    # Clicks, on by default: the grid and the click counts on the elements.
    root = _root(page)
    assert root["data-viewport-class"] == "desktop" and int(root["data-cells"]) >= 3
    assert page.locator('.logdig-badge[data-selector="#hot"]').get_attribute("data-clicks") == "5"
    assert f"{total} clicks" in page.locator("#logdig-overlay-bar span").inner_text()
    _shot(page, "clicks")

    # Dead clicks: #cold, 2 of its 3 clicks.
    root = _switch(page, "dead", True)
    assert root["data-dead"] == "1"
    dead = page.locator('.logdig-dead[data-selector="#cold"]')
    assert dead.get_attribute("data-dead") == "2" and abs(float(dead.get_attribute("data-share")) - 2 / 3) < 1e-3
    assert "2 dead · 67%" in dead.inner_text()
    # beside its click count, above the element: below it, it sat on the click count of an
    # element just underneath (a newcomer's "Buy now" under a paragraph)
    count = page.locator('.logdig-badge[data-selector="#cold"]').bounding_box()
    box = dead.bounding_box()
    assert abs(box["y"] - count["y"]) < 1 and box["x"] >= count["x"] + count["width"], (box, count)
    _shot(page, "dead")
    _switch(page, "dead", False)

    # Movement, alone (clicks off): u4's samples down the right side, in the moves canvas only.
    _switch(page, "clicks", False)
    root = _switch(page, "moves", True)
    assert root["data-cells"] == "0" and int(root["data-moves"]) > 0
    probe = page.evaluate(
        """() => { const c = document.getElementById('logdig-overlay').shadowRoot.querySelector('canvas[data-layer=moves]');
        const a = (x, y) => c.getContext('2d').getImageData(x, y, 1, 1).data[3];
        return {on: a(Math.round(900 / 1280 * 1280), 1560), off: a(280, 330)}; }"""
    )
    assert probe["on"] > 0 and probe["off"] == 0, probe
    _shot(page, "moves")
    _switch(page, "moves", False)

    # Attention: ten bands, the top one looked at longest and clear, the last one darkest.
    root = _switch(page, "attention", True)
    assert root["data-attention"] == "10"
    bands = page.locator(".logdig-attention")
    mean_ms = [sum(a[t] for _u, _d, a in LEAVES) / len(LEAVES) for t in range(10)]
    assert [int(bands.nth(t).get_attribute("data-ms")) for t in range(10)] == [round(m) for m in mean_ms]
    assert "100% saw it" in bands.nth(0).inner_text()
    assert "25% saw it" in bands.nth(9).inner_text()  # only u1 had the last tenth in view
    # the labels stay clear of the panel (fixed at the bottom right) at every scroll position
    sides = page.evaluate(
        """() => ({panel: document.getElementById('logdig-overlay-bar').getBoundingClientRect().left,
        labels: [...document.getElementById('logdig-overlay').shadowRoot.querySelectorAll('.logdig-attention')]
            .map(b => b.firstElementChild.getBoundingClientRect().right)})"""
    )
    assert max(sides["labels"]) < sides["panel"], sides
    _shot(page, "attention")
    _switch(page, "attention", False)

    # Scroll reach: 4 leaves at 100, 45, 30, 90 % -> 75% reached 40%, 50% reached 90%, 25% reached 100%.
    root = _switch(page, "scroll", True)
    lines = page.locator(".logdig-reach")
    found = {lines.nth(i).get_attribute("data-share"): int(lines.nth(i).get_attribute("data-depth")) for i in range(3)}
    assert found == {"0.75": 40, "0.5": 90, "0.25": 100}
    height = page.evaluate("document.documentElement.scrollHeight")
    assert abs(lines.first.bounding_box()["y"] + page.evaluate("scrollY") - 0.4 * height) < 3
    _shot(page, "scroll")
    _switch(page, "scroll", False)

    # The rectangle tool, with clicks on again: over #hot alone, then over #hot and #cold.
    _switch(page, "clicks", True)
    hot = _drag(page, 190, 290, 370, 370)
    assert hot["clicks"] == 5 and hot["users"] == "2" and abs(hot["share"] - 5 / total) < 1e-3, hot
    both = _drag(page, 30, 290, 370, 770)
    # u1, u2 clicked both elements and u3 #cold: 3 distinct users (the cells' counts add up to 5)
    assert both["clicks"] == 8 and both["users"] == "3" and abs(both["share"] - 8 / total) < 1e-3, both
    assert f"8 clicks · 3 users · {8 / total:.1%} of the page" in both["text"]
    assert page.locator("#logdig-overlay >> .logdig-region").count() == 1
    _shot(page, "region")
    # Released outside the window the sheet gets no mouseup (the window does): the tool ended
    # there, not stuck on "Drag over the page..." (an attacker's finding).
    page.locator("#logdig-overlay-bar button[name=measure]").click()
    page.wait_for_selector("#logdig-overlay >> .logdig-catcher")
    page.mouse.move(190, 290)
    page.mouse.down()
    page.mouse.move(370, 370, steps=4)
    page.evaluate("window.dispatchEvent(new MouseEvent('mouseup', {clientX: 370, clientY: 370}))")
    page.wait_for_selector("#logdig-overlay >> .logdig-catcher", state="detached")
    out = page.locator("#logdig-overlay-bar output[name=region]")
    assert out.get_attribute("data-clicks") == "5", out.inner_text()
    page.mouse.up()

    # The variant picker: green's visitors (u2, u3) made 5 of the clicks; no per-variant users.
    page.locator("#logdig-overlay-bar select[name=variant]").select_option("hero:green")
    page.wait_for_function(
        "() => document.getElementById('logdig-overlay-bar').shadowRoot.textContent.includes('variant hero:green')"
    )
    assert "5 clicks" in page.locator("#logdig-overlay-bar span").inner_text()
    region = _drag(page, 30, 290, 370, 770)
    assert region["clicks"] == 4 and region["users"] == "" and "users not kept per variant" in region["text"]
    _shot(page, "variant")

    # The visitor picker: only u2 is new (2 clicks on #hot, 1 on #cold). Computed on demand:
    # the panel says "computing" (a 202), asks again and draws u2's clicks alone.
    page.locator("#logdig-overlay-bar select[name=variant]").select_option("")
    page.wait_for_function("() => !document.getElementById('logdig-overlay').dataset.segment")
    page.locator("#logdig-overlay-bar select[name=visitor]").select_option("new")
    page.wait_for_selector("#logdig-overlay-bar[data-computing]", state="attached")
    assert "Computing the heat map of new visitors" in page.evaluate(
        "document.getElementById('logdig-overlay-bar').shadowRoot.textContent"
    )
    page.wait_for_selector("#logdig-overlay[data-segment='visitor=new']", state="attached", timeout=30_000)
    mine = [(u, x, y) for u, _sel, x, y, _dead in CLICKS if u == NEW]
    assert f"new visitors · {len(mine)} clicks" in page.locator("#logdig-overlay-bar span").inner_text()
    assert page.locator('.logdig-badge[data-selector="#hot"]').get_attribute("data-clicks") == "2"
    assert _root(page)["data-cells"] == "2"  # u2's #hot and #cold cells; #buy (u3) is gone
    statuses = [s for u, s in answers if "visitor=new" in u]
    assert statuses[0] == 202 and statuses[-1] == 200 and len(statuses) == statuses.count(202) + 1, statuses
    region = _drag(page, 30, 290, 370, 770)  # per-cell users are kept in a segment: u2 alone
    assert region["clicks"] == len(mine) and region["users"] == "1" and region["share"] == 1.0, region
    _shot(page, "segment")
    if os.environ.get("LOGDIG_UPDATE_DOCS"):
        page.screenshot(path=str(DOCS_OVERLAY))
    page.locator("#logdig-overlay-bar select[name=visitor]").select_option("")

    # The layout picker: the tablet map of this page has no clicks; back to all visitors.
    page.locator("#logdig-overlay-bar select[name=viewport]").select_option("tablet")
    page.wait_for_function("() => document.querySelector('#logdig-overlay[data-viewport-class=tablet]')")
    assert _root(page)["data-cells"] == "0"
    assert tab.errors == []
    context.close()


def test_the_data_endpoint_names_a_bad_segment(layered: Layered):
    sig = layered.href.split(f"{overlay.PARAM}=", 1)[1]
    base = f"{layered.collector_url}/overlay/data?sig={sig}"

    def get(query: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{base}&{query}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            with e:
                return e.code, json.loads(e.read())

    for query, field in (("viewport=watch", "viewport"), ("variant=nocolon", "variant"), ("visitor=maybe", "visitor")):
        status, body = get(query)
        assert status == 400 and body["field"] == field, (query, body)
    status, body = get("viewport=desktop")
    assert status == 200 and list(body["grids"]) == ["desktop"] and body["users"] is True
    assert sum(c[2] for c in body["grids"]["desktop"]) == len(CLICKS)

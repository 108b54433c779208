"""The on-page overlay: opened from the dashboard's link on the real (fixture) page, it
draws the heat map and click counts aligned to the page; forged or expired links are
refused."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from logdig.queue import connect, shared_secret
from tests.dashboard.conftest import DESKTOP, PHONE, TRAFFIC, Tab, World, artifacts
from web.dashboard import overlay

pytestmark = pytest.mark.browser

# The hottest pixel of the overlay's canvas, and the alpha at a few points.
CANVAS_PROBE = """(points) => {
  const c = document.getElementById('logdig-overlay').shadowRoot.querySelector('canvas');
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let best = 0, at = -1;
  for (let i = 3; i < data.length; i += 4) if (data[i] > best) { best = data[i]; at = (i - 3) / 4; }
  const alpha = ([x, y]) => data[(Math.round(y) * c.width + Math.round(x)) * 4 + 3];
  return {best, x: at % c.width, y: Math.floor(at / c.width), alphas: points.map(alpha)};
}"""


def overlay_href(chromium, world: World) -> str:
    context = chromium.new_context(viewport=DESKTOP, storage_state=world.admin_state)
    page = context.new_page()
    page.goto(f"{world.dashboard}/page?token={world.token}&page={quote(world.page_url(), safe='')}")
    href = page.locator("#overlay-link").get_attribute("href")
    context.close()
    return href


def center(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_overlay_draws_over_the_live_page_from_the_dashboard_link(chromium, world: World):
    context = chromium.new_context(viewport=DESKTOP, storage_state=world.admin_state)
    dashboard = context.new_page()
    dashboard.goto(f"{world.dashboard}/page?token={world.token}&page={quote(world.page_url(), safe='')}")
    with context.expect_page() as opened:
        dashboard.click("#overlay-link")
    tab = Tab(opened.value)
    page = tab.page
    page.wait_for_selector("#logdig-overlay[data-cells]", state="attached")
    assert page.url.startswith(world.page_url() + "?logdig_overlay=")
    root = page.locator("#logdig-overlay")
    assert root.get_attribute("data-viewport-class") == "desktop"
    assert int(root.get_attribute("data-cells")) > 0
    # Aligned to the page: the canvas is hottest on the element clicked most, and
    # hotter there than on one clicked less.
    hot, cold = center(world.boxes["hot"]), center(world.boxes["cold"])
    probe = page.evaluate(CANVAS_PROBE, [list(hot), list(cold)])
    box = world.boxes["hot"]
    assert probe["best"] > 0
    assert box["x"] - 26 <= probe["x"] <= box["x"] + box["width"] + 26, probe
    assert box["y"] - 20 <= probe["y"] <= box["y"] + box["height"] + 20, probe
    assert probe["alphas"][0] > probe["alphas"][1] > 0, probe
    # Click counts on the elements themselves, from the click map (every viewport class).
    badge = page.locator('.logdig-badge[data-selector="#hot"]')
    assert int(badge.get_attribute("data-clicks")) == sum(v.hot for v in TRAFFIC)
    badge_box = badge.bounding_box()
    assert abs(badge_box["x"] - box["x"]) < 2 and badge_box["y"] < box["y"]
    title = page.locator("#logdig-overlay-bar span").first.inner_text()
    assert "LogDig heat map · desktop layout" in title, title  # a layout, not the device filter
    # This site's tag has no data-heatmap: a layer the module records says why it is empty.
    page.locator("#logdig-overlay-bar input[name=moves]").check()
    page.wait_for_selector("#logdig-overlay[data-moves='0']", state="attached")
    note = page.locator("#logdig-overlay-bar div[data-empty]").inner_text()
    assert note.startswith("No movement recorded") and "data-heatmap" in note, note
    page.screenshot(path=str(artifacts() / "overlay-1280.png"))
    assert tab.errors == []
    context.close()


def test_overlay_steps_aside_on_another_page_of_a_single_page_app(chromium, world: World):
    context = chromium.new_context(viewport=DESKTOP)
    tab = Tab(context.new_page())
    page = tab.page
    page.goto(overlay_href(chromium, world))
    page.wait_for_selector("#logdig-overlay[data-cells]", state="attached")
    root = "#logdig-overlay"
    assert page.locator(root).is_visible() and page.locator(f"{root}[data-away]").count() == 0
    # The app moves to another page without a load: that page's heat map is not this one.
    page.evaluate("history.pushState({}, '', '/another-page')")
    page.wait_for_selector(f"{root}[data-away]", state="attached")
    assert not page.locator(root).is_visible()
    assert "another page" in page.locator("#logdig-overlay-bar span").inner_text()
    # Back to the page (popstate): drawn again.
    page.evaluate("history.back()")
    page.wait_for_function("() => !document.querySelector('#logdig-overlay[data-away]')")
    page.wait_for_selector(f"{root}[data-cells]", state="visible")
    assert int(page.locator(root).get_attribute("data-cells")) > 0
    assert tab.errors == []
    context.close()


def test_overlay_follows_the_width_it_is_opened_at(chromium, world: World):
    context = chromium.new_context(viewport=PHONE)
    tab = Tab(context.new_page())
    tab.page.goto(overlay_href(chromium, world))
    tab.page.wait_for_selector("#logdig-overlay[data-cells]", state="attached")
    root = tab.page.locator("#logdig-overlay")
    assert root.get_attribute("data-viewport-class") == "mobile"
    assert int(root.get_attribute("data-cells")) > 0  # the phone visitor's clicks
    tab.page.screenshot(path=str(artifacts() / "overlay-390.png"))
    assert tab.errors == []
    context.close()


def _refused(chromium, world: World, url: str) -> str:
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(url)
    bar = page.locator("#logdig-overlay-bar[role=alert]")
    bar.wait_for()
    text = bar.locator("span").inner_text()
    assert page.locator("#logdig-overlay").count() == 0
    assert page.locator(".logdig-badge").count() == 0
    context.close()
    return text


def test_overlay_is_refused_with_a_forged_or_expired_signature(chromium, world: World):
    href = overlay_href(chromium, world)
    value = parse_qs(urlsplit(href).query)["logdig_overlay"][0]
    body, _, signature = value.rpartition(".")
    forged = f"{body}.{signature[::-1]}"
    assert "refused" in _refused(chromium, world, f"{world.page_url()}?logdig_overlay={forged}")

    # Well formed, but signed with another key.
    other_key = overlay.sign(b"not the secret", world.token, world.page_url(), "2000-01-01", "2100-01-01", time.time())
    assert "refused" in _refused(chromium, world, f"{world.page_url()}?logdig_overlay={other_key}")

    secret = shared_secret(connect(world.settings.redis_url))
    old = overlay.sign(
        secret, world.token, world.page_url(), "2000-01-01", "2100-01-01", time.time() - overlay.OVERLAY_TTL - 60
    )
    assert "expired" in _refused(chromium, world, f"{world.page_url()}?logdig_overlay={old}")

    context = chromium.new_context()
    for sig in (forged, other_key, old, ""):
        response = context.request.get(f"{world.collector.url}/overlay/data?sig={quote(sig)}")
        assert response.status == 403 and "grids" not in response.text()
    context.close()

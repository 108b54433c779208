"""Every page renders, with no console errors, at 1280 and 390 px; the heat map, funnel,
experiment and health pages show what the visits did; markup in event data stays text."""

from __future__ import annotations

import base64
import io
from urllib.parse import quote

import pytest

from logdig.queue import EventQueue, connect
from tests.dashboard.conftest import DESKTOP, PHONE, TRAFFIC, XSS_LINK, XSS_TEXT, Tab, World, artifacts
from tests.helpers import make_event, post

pytestmark = pytest.mark.browser


def pages(world: World) -> dict[str, str]:
    shop = quote(world.page_url(), safe="")
    return {
        "overview": "/",
        "page": f"/page?page={shop}",
        "page-mobile": f"/page?page={shop}&vc=mobile",
        "definitions": "/definitions",
        "health": "/health",
    }


@pytest.fixture
def admin(chromium, world: World):
    contexts = []

    def open_tab(viewport=DESKTOP) -> Tab:
        context = chromium.new_context(viewport=viewport, storage_state=world.admin_state)
        contexts.append(context)
        return Tab(context.new_page())

    yield open_tab
    for context in contexts:
        context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_each_page_renders_without_console_errors(admin, world: World, viewport):
    tab = admin(viewport)
    for name, path in pages(world).items():
        response = tab.page.goto(world.dashboard + path + ("&" if "?" in path else "?") + f"token={world.token}")
        assert response.status == 200, (name, response.status)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        tab.page.wait_for_load_state("load")
        broken = tab.page.evaluate("[...document.images].filter(i => !i.complete || !i.naturalWidth).length")
        assert broken == 0, name
        # nothing makes the page wider than the window (the A/B heat maps' row once did)
        wide = tab.page.evaluate("document.documentElement.scrollWidth")
        assert wide <= viewport["width"], (name, wide)
        if viewport is DESKTOP:  # and at 1280 px no table scrolls inside its card (Countries' last column did)
            cut = tab.page.evaluate(
                "[...document.querySelectorAll('.scroll')].filter(s => s.scrollWidth > s.clientWidth + 1)"
                ".map(s => s.closest('section')?.querySelector('h2,h3')?.textContent)"
            )
            assert cut == [], (name, cut)
            # one visitor's 2 KB link text or 8 KB referrer stays a row of a few lines (it made
            # the overview 10,000 px tall); the whole text is still in the page and the CSV
            tall = tab.page.evaluate(
                "[...document.querySelectorAll('tr')].filter(r => r.getBoundingClientRect().height > 160)"
                ".map(r => r.textContent.trim().slice(0, 60))"
            )
            assert tall == [], (name, tall)
        tab.page.screenshot(path=str(artifacts() / f"{name}-{viewport['width']}.png"), full_page=True)
    tab.page.goto(world.dashboard + "/login")
    tab.page.screenshot(path=str(artifacts() / f"login-{viewport['width']}.png"))
    assert tab.errors == [], tab.errors


def _hottest_pixel(data_uri: str) -> tuple[int, int, float, int]:
    """(x, y, brightest luminance, distinct colours) of the PNG heat map. The hottest pixel
    is the one nearest the colour map's top colour: the image also carries white labels,
    which are brighter than any cell."""
    import matplotlib
    import numpy as np
    from PIL import Image

    from web.dashboard.charts import CMAP

    image = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("RGB")
    pixels = np.asarray(image, dtype=float)
    luminance = pixels @ [0.2126, 0.7152, 0.0722]
    top = np.asarray(matplotlib.colormaps[CMAP](1.0)[:3]) * 255
    y, x = np.unravel_index(np.argmin(((pixels - top) ** 2).sum(axis=2)), luminance.shape)
    return int(x), int(y), float(luminance.max()), len(np.unique(pixels.reshape(-1, 3), axis=0))


def test_heat_map_is_drawn_with_its_hottest_cell_where_the_visitors_clicked_most(admin, world: World):
    tab = admin()
    tab.page.goto(f"{world.dashboard}/page?token={world.token}&page={quote(world.page_url(), safe='')}&vc=desktop")
    image = tab.page.locator("#heatmap")
    x, y, brightest, colours = _hottest_pixel(image.get_attribute("src"))
    assert colours > 20 and brightest > 200, "the heat map is blank"
    scale = float(image.get_attribute("data-scale"))
    width = float(image.get_attribute("data-page-width"))
    img_w = int(image.get_attribute("width"))
    # Back to the page: x is a share of the viewport width, y is page pixels.
    page_x, page_y = x / img_w * DESKTOP["width"], y / scale
    clicks = {"hot": 0, "cold": 0, "buy": 0}
    for v in TRAFFIC:
        if v.viewport == DESKTOP:
            clicks["hot"] += v.hot
            clicks["cold"] += v.cold
            clicks["buy"] += v.buy
    most = max(clicks, key=clicks.get)
    box = world.boxes[most]
    cell_w = width / 50
    assert box["x"] - cell_w <= page_x <= box["x"] + box["width"] + cell_w, (page_x, box)
    assert box["y"] - 20 <= page_y <= box["y"] + box["height"] + 20, (page_y, box)
    # The click map ranks that element first, and the legend is there.
    first = tab.page.locator("#table-click_map tbody tr").first.locator("td")
    texts = {"hot": "Add to basket", "cold": "Compare", "buy": "Buy now"}  # fixtures/shop.html
    assert first.nth(0).inner_text() == texts[most]  # the element's text first
    assert first.nth(1).inner_text() == f"#{most}"
    assert int(first.nth(2).inner_text()) == sum(getattr(v, most) for v in TRAFFIC)  # every viewport
    assert tab.page.locator("#heatmap-legend").evaluate("i => i.naturalWidth") > 0
    assert int(tab.page.locator("#rage-total").inner_text()) > 0  # fast clicks on #hot
    assert tab.page.locator("#chart-scroll").is_visible()
    assert tab.errors == []


def test_funnel_and_experiment_show_what_the_visitors_did(admin, world: World):
    tab = admin()
    tab.page.goto(f"{world.dashboard}/definitions?token={world.token}")
    funnel = tab.page.locator("section.table", has_text="Funnel checkout")
    rows = funnel.locator("tbody tr")
    assert rows.count() == 2
    # Every visit viewed the shop, and so did the markup visitor and the hand-sent page view;
    # all but the hand-sent one ran the experiment.
    viewed, exposed = len(TRAFFIC) + 2, len(TRAFFIC) + 1
    bought = sum(v.buy for v in TRAFFIC)
    assert rows.nth(0).locator("td").nth(2).inner_text() == str(viewed)
    assert rows.nth(1).locator("td").nth(2).inner_text() == str(bought)
    assert rows.nth(1).locator("td").nth(4).inner_text() == f"{bought / viewed * 100:.1f}%"
    assert tab.page.locator("article.funnel img").evaluate("i => i.naturalWidth") > 0
    experiment = tab.page.locator("article.experiment")
    cells = experiment.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert sum(int(c) for c in cells) == exposed
    assert experiment.locator("tbody tr td:first-child").all_inner_texts()[0] == "control"
    assert experiment.locator(".verdict").inner_text().strip()
    assert "small sample" in experiment.inner_text()
    assert tab.errors == []


def test_health_shows_the_queue_the_sites_and_the_read_commands(admin, world: World):
    # One event with a token nobody registered: refused, and counted by reason.
    status, _h, _b = post(f"{world.collector.url}/logs", [make_event("no-such-token")])
    assert status == 403
    tab = admin()
    tab.page.goto(f"{world.dashboard}/health")
    # What Redis holds now (the overlay tests' own page views may be queued since the flush).
    queued = EventQueue(connect(world.settings.redis_url)).state().length
    assert tab.page.locator("#queue-length").inner_text() == str(queued)
    counters = tab.page.locator("#table-counters").inner_text()
    assert "Batches flushed\t1" in counters or "Batches flushed 1" in counters.replace("\t", " ")
    days = tab.page.locator("#table-days tbody tr").all_inner_texts()
    assert any("\t1\t" in row for row in days), days  # one object on the day of the visits
    rejected = tab.page.locator("#table-rejected tbody tr", has_text="unknown_token").locator("td").nth(1)
    assert int(rejected.inner_text()) >= 1
    sites = tab.page.locator("#table-sites").inner_text()
    assert world.token in sites and world.site.url in sites and "clicktracker.js" in sites
    assert "spark.read.json(" in tab.page.locator("#read-spark").inner_text()
    assert "read_json_auto(" in tab.page.locator("#read-duckdb").inner_text()
    assert tab.errors == []


def test_markup_in_event_data_is_shown_as_text_and_runs_nothing(admin, world: World):
    tab = admin()
    dialogs = []
    tab.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.page.goto(f"{world.dashboard}/?token={world.token}")
    links = tab.page.locator("#table-links").inner_text()
    assert XSS_LINK in links  # the link sent by hand, as text
    assert XSS_TEXT in links  # the class of the clicked element, inside the tracker's link
    assert XSS_TEXT in tab.page.locator("#table-referrers").inner_text()
    tab.page.goto(f"{world.dashboard}/page?token={world.token}&page={quote(world.page_url(), safe='')}")
    assert XSS_TEXT in tab.page.locator("#table-click_map").inner_text()  # the selector
    for url in (f"{world.dashboard}/?token={world.token}", tab.page.url):
        tab.page.goto(url)
        assert tab.page.evaluate("window.__xss") is None
        assert tab.page.locator("img[src=x], main script").count() == 0
    assert dialogs == [] and tab.errors == []

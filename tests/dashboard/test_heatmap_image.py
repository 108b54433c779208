"""The page view's heat map image, in Chromium (issue 14 item 6): the page frame, the fold at
the median viewport height and the most clicked elements' labels are drawn on it, with a
legend; the screenshot is kept for a person to look at (/tmp/shots/heatmap-dashboard.png)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from matplotlib.image import imread

from tests.dashboard.conftest import DESKTOP, World

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots")


def test_the_heat_map_image_reads_without_the_overlay(chromium, world: World):
    context = chromium.new_context(viewport=DESKTOP, storage_state=world.admin_state)
    page = context.new_page()
    url = f"{world.dashboard}/page?page={quote(world.page_url(), safe='')}&vc=desktop&token={world.token}"
    assert page.goto(url).status == 200
    img = page.locator("img#heatmap")
    SHOTS.mkdir(exist_ok=True)
    page.locator("section.heatmap").screenshot(path=str(SHOTS / "heatmap-dashboard.png"))
    src = img.get_attribute("src")
    pixels = imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))[..., :3]
    height, width = pixels.shape[:2]
    assert (int(img.get_attribute("width")), int(img.get_attribute("height"))) == (width, height)
    scale = float(img.get_attribute("data-scale"))
    fold = float(img.get_attribute("data-fold"))
    assert fold == DESKTOP["height"]  # every desktop visit had an 800 px viewport
    band = pixels[round(fold * scale) - 1 : round(fold * scale) + 2, : width // 3]
    bluish = ((band[..., 2] > 0.4) & (band[..., 2] > band[..., 0] + 0.15)).any(axis=0)
    assert bluish.sum() > width // 6, "no fold line"
    page_h = float(img.get_attribute("data-page-h"))
    if page_h * scale < height - 2:  # the frame's bottom edge, when the page ends inside the image
        edge = (pixels[round(page_h * scale) - 2 : round(page_h * scale) + 2].min(axis=-1) > 0.35).any(axis=0)
        assert edge.sum() > width * 0.9, "no page frame"
    # a label: white text on a dark box near the most clicked element (#hot)
    hot = world.boxes["hot"]
    x, y = (hot["x"] + hot["width"] / 2) / DESKTOP["width"] * width, (hot["y"] + hot["height"] / 2) * scale
    near = pixels[max(0, int(y) - 10) : int(y) + 30, max(0, int(x) - 10) : int(x) + 120]
    assert (near.min(axis=-1) > 0.9).sum() > 10, "no label near the hottest element"
    assert np.isfinite(scale)
    context.close()


class _Results:
    """Stored heat-map results of one day, as ``Results.data`` gives them."""

    def __init__(self, data: dict):
        self.stored = data

    def data(self, job: str, token: str, days: list[str]) -> list[tuple[str, dict]]:
        return [("2026-11-25", self.stored)] if job == "heatmap" else []


def test_the_frame_names_the_page_width_and_height():
    from web.dashboard import heatimage

    page = "https://shop.example/p"
    rows = [
        {"page": page, "viewport_class": "desktop", "views": 3, "viewport_h": 800, "page_w": 1265, "page_h": 2400},
        {"page": page, "viewport_class": "desktop", "views": 1, "viewport_h": 700, "page_w": 1900, "page_h": 3000},
    ]
    lay = heatimage.layout(_Results({"page_size": rows}), "t", page, ["2026-11-25"], "desktop", {})
    assert (lay.page_w, lay.page_h, lay.viewport_h) == (1265, 2400, 800)  # medians weighted by views
    _uri, info = heatimage.heatmap_png({(10, 20): 3}, "desktop", lay)
    assert info["page_w"] == 1265 and info["frame"] == "page: 1265 × 2400 px"

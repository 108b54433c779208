"""The dashboard's heat map image reads on its own (issue 14 item 6): the page frame, the fold
at the median viewport height, element labels and a legend, on the density's geometry."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.image import imread

from web.dashboard import charts, heatimage


class FakeResults:
    def __init__(self, days: list[dict]):
        self.days = days

    def data(self, job: str, token: str, days: list[str]):
        return [(f"d{i}", d) for i, d in enumerate(self.days)] if job == "heatmap" else []


def pixels(uri: str) -> np.ndarray:
    return imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))[..., :3]


def test_layout_takes_the_view_weighted_median_and_labels_the_top_elements():
    page = "https://a.example/p"
    days = [
        {
            "page_size": [
                {"page": page, "viewport_class": "desktop", "views": 5, "page_h": 2000, "viewport_h": 800},
                {"page": page, "viewport_class": "mobile", "views": 50, "page_h": 9000, "viewport_h": 600},
            ],
            "positions": [
                {"page": page, "viewport_class": "desktop", "selector": "#buy", "clicks": 3, "x": 0.5, "y": 100},
                {"page": page, "viewport_class": "desktop", "selector": "#nav", "clicks": 1, "x": 0.1, "y": 10},
                {"page": page, "viewport_class": "desktop", "selector": "#blank", "clicks": 9, "x": 0.1, "y": 10},
            ],
        },
        {
            "page_size": [{"page": page, "viewport_class": "desktop", "views": 2, "page_h": 3000, "viewport_h": 900}],
            "positions": [
                {"page": page, "viewport_class": "desktop", "selector": "#buy", "clicks": 1, "x": 0.1, "y": 500}
            ],
        },
    ]
    lay = heatimage.layout(FakeResults(days), "t", page, ["a", "b"], "desktop", {"#buy": "Buy", "#nav": "Home"})
    assert (lay.page_h, lay.viewport_h) == (2000.0, 800.0)  # 5 views against 2
    assert lay.labels == [
        {"text": "Buy", "x": (0.5 * 3 + 0.1) / 4, "y": (300 + 500) / 4, "clicks": 4},
        {"text": "Home", "x": 0.1, "y": 10, "clicks": 1},
    ]  # an element without text gets no label


def test_the_image_draws_the_frame_and_the_fold_on_the_density_geometry():
    grid = {(25, 30): 5}
    lay = heatimage.Layout(page_h=1600.0, viewport_h=700.0, labels=[{"text": "Buy", "x": 0.5, "y": 600, "clicks": 5}])
    uri, info = heatimage.heatmap_png(grid, "desktop", lay)
    plain, scale, peak = charts.density(grid, "desktop", min_rows=82)
    img = pixels(uri)
    assert img.shape[:2] == plain.shape == (info["height"], info["width"])
    assert (info["scale"], info["peak"], info["fold"], info["page_h"]) == (scale, peak, 700.0, 1600.0)
    fold = round(700 * scale)
    band = img[fold - 1 : fold + 2, : info["width"] // 3]  # the dashed line (antialiased), left third
    bluish = ((band[..., 2] > 0.4) & (band[..., 2] > band[..., 0] + 0.15)).any(axis=0)
    assert bluish.sum() > info["width"] // 6  # dashes: more than half of the third
    frame_row = round(1600 * scale)
    light = (img[frame_row - 2 : frame_row + 2].min(axis=-1) > 0.35).any(axis=0)  # the frame's bottom edge
    assert light.sum() > info["width"] * 0.9
    # the legend: a colour bar from dark to bright in the top right corner
    bar = img[int(0.02 * info["height"]) : int(0.06 * info["height"]), -160:-20]
    assert bar.max() > 0.9 and bar.min() < 0.1


def test_ab_maps_draw_each_variant_and_mark_the_planted_region(monkeypatch):
    from analysis.testdata import ab_click_grids
    from web.dashboard import abmaps

    page = "https://a.example/p"
    control, green = ab_click_grids(3, planted=0.03)

    def rows(variant: str, grid: dict) -> list[dict]:
        return [
            {"page": page, "viewport_class": "desktop", "variant": variant, "col": c, "row": r, "clicks": n}
            for (c, r), n in grid.items()
        ]

    entry = {
        "experiment": {"name": "new_button", "control": "control"},
        "heatmap": {"clicks": rows("control", control) + rows("green", green), "moves": []},
    }

    class Results:
        def data(self, job: str, token: str, days: list[str]):
            return [("d", {"experiments": [entry]})] if job == "experiments" else []

    drawn = []

    def heatmap_png(grid, viewport_class, lay, unit="clicks"):
        drawn.append([heatimage.label_text(label) for label in lay.labels])
        return real_png(grid, viewport_class, lay, unit)

    real_png = heatimage.heatmap_png
    monkeypatch.setattr(heatimage, "heatmap_png", heatmap_png)
    lay = heatimage.Layout(page_h=1200.0, labels=[{"text": "Buy", "x": 0.6, "y": 450, "clicks": 13}])
    (found,) = abmaps.ab_maps(Results(), "t", page, ["d"], "desktop", lay)
    # the labels' counts are every visitor's clicks (the click map is not kept per variant):
    # a variant's panel names the elements without them
    assert drawn == [["Buy"]] * 3  # control, green, and the difference map (control's)
    assert heatimage.label_text(lay.labels[0]) == "Buy (13)"
    assert [v["variant"] for v in found["variants"]] == ["control", "green"]
    assert [v["clicks"] for v in found["variants"]] == [sum(control.values()), sum(green.values())]
    (diff,) = found["differences"]
    assert {"x": "60-70%", "y": "400-500 px"} in [{"x": b["x"], "y": b["y"]} for b in diff["blocks"]]
    assert pixels(diff["image"]).shape == pixels(found["variants"][0]["image"]).shape


def test_ab_maps_draw_control_and_the_variants_with_most_clicks_only(monkeypatch):
    """A visitor can send an exposure of any variant name: 300 invented variants, each with
    a click, made the page view draw 301 images (16 s, 3.7 MB)."""
    from web.dashboard import abmaps

    page = "https://a.example/p"
    clicks = {"control": 5, "green": 9, **{f"junk{i:03d}": 1 for i in range(300)}, "blue": 3, "red": 2, "gold": 2}
    rows = [
        {"page": page, "viewport_class": "desktop", "variant": v, "col": 1, "row": 1, "clicks": n}
        for v, n in clicks.items()
    ]
    entry = {"experiment": {"name": "x", "control": "control"}, "heatmap": {"clicks": rows, "moves": []}}

    class Results:
        def data(self, job: str, token: str, days: list[str]):
            return [("d", {"experiments": [entry]})] if job == "experiments" else []

    drawn = []
    monkeypatch.setattr(heatimage, "heatmap_png", lambda *a, **k: drawn.append(1) or ("", {}))
    monkeypatch.setattr(heatimage, "difference_png", lambda *a, **k: drawn.append(1) or ("", {}))
    (found,) = abmaps.ab_maps(Results(), "t", page, ["d"], "desktop", heatimage.Layout())
    assert [v["variant"] for v in found["variants"]] == ["control", "blue", "gold", "green", "red"]
    assert found["left_out"] == {"variants": 300, "clicks": 300}
    assert len(drawn) == 5 + 4  # each variant, and each against control

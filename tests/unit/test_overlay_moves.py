"""The overlay's movement grid (issue 14): cells twice as coarse as the click grid's, and
documents stored before that change (their cells on the click grid) drawn on it too."""

from __future__ import annotations

from web.dashboard import overlaydata

PAGE = "https://a.example/p"


class Stored:
    def __init__(self, heatmap: list[dict], experiments: list[dict] = ()):
        self.heatmap, self.experiments = heatmap, list(experiments)

    def data(self, job: str, token: str, days: list[str]):
        docs = self.heatmap if job == "heatmap" else [{"experiments": self.experiments}]
        return [(f"d{i}", d) for i, d in enumerate(docs)]


def moves(cells: dict, **extra) -> list[dict]:
    return [
        {"page": PAGE, "viewport_class": "desktop", "col": c, "row": r, "moves": n, **extra}
        for (c, r), n in cells.items()
    ]


def test_old_documents_click_grid_cells_are_summed_into_movement_cells():
    grid = {"columns": 25, "row_px": 40}
    new = {"moves": moves({(24, 1): 5, (0, 0): 1}), "move_grid": grid}
    old = {"moves": moves({(49, 3): 2, (48, 2): 3, (1, 1): 4})}  # before move_grid: 50 columns, 20 px rows
    data = overlaydata.overlay_data(Stored([new, old]), "t", PAGE, ["a", "b"])
    assert (data["move_columns"], data["move_row_px"]) == (25, 40)
    assert (data["columns"], data["row_px"]) == (50, 20)  # the click grid is unchanged
    assert data["moves"]["desktop"] == [[0, 0, 5], [24, 1, 10]]


def test_a_variants_movement_is_rescaled_the_same_way():
    def entry(heatmap: dict) -> dict:
        return {"experiment": {"name": "e", "control": "a"}, "heatmap": heatmap}

    new = entry({"clicks": [], "moves": moves({(3, 3): 1}, variant="b"), "move_grid": {"columns": 25, "row_px": 40}})
    old = entry({"clicks": [], "moves": moves({(7, 7): 2}, variant="b")})
    data = overlaydata.overlay_data(Stored([], [new, old]), "t", PAGE, ["a"], variant="e:b")
    assert data["moves"]["desktop"] == [[3, 3, 3]]

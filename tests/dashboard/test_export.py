"""CSV export: the file a table's CSV link downloads holds exactly the table's cells."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.dashboard.conftest import DESKTOP, World
from web.dashboard.tables import formula_like

pytestmark = pytest.mark.browser


def screen_rows(section) -> list[list[str]]:
    header = [c.strip() for c in section.locator("thead th").all_inner_texts()]
    rows = [[c.strip() for c in row.locator("td").all_inner_texts()] for row in section.locator("tbody tr").all()]
    return [header, *rows]


def csv_rows(page, section) -> list[list[str]]:
    link = section.locator("a.csv")
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    # Cells a spreadsheet would run as formulas carry a leading apostrophe in the file.
    return [[c[1:] if c.startswith("'") and formula_like(c[1:]) else c for c in r] for r in rows]


@pytest.mark.parametrize(
    "path, tables",
    [
        ("/", ["per_day", "pages", "links", "referrers"]),
        ("/page?page={shop}", ["days", "click_map", "hot_cells", "scroll", "links"]),
        ("/definitions", ["funnel_0", "experiment_0"]),
        ("/health", ["counters", "days", "sites"]),
    ],
    ids=["overview", "page", "definitions", "health"],
)
def test_csv_export_matches_the_table(chromium, world: World, path, tables):
    context = chromium.new_context(viewport=DESKTOP, storage_state=world.admin_state, accept_downloads=True)
    page = context.new_page()
    url = world.dashboard + path.format(shop=quote(world.page_url(), safe=""))
    page.goto(url + ("&" if "?" in url else "?") + f"token={world.token}")
    for name in tables:
        section = page.locator(f"#table-{name}")
        shown = screen_rows(section)
        assert len(shown) > 1, f"{name} is empty"
        assert csv_rows(page, section) == shown, name
    context.close()


def test_export_needs_a_login_and_a_known_table(chromium, world: World):
    context = chromium.new_context()
    response = context.request.get(f"{world.dashboard}/export/overview/links.csv", max_redirects=0)
    assert response.status == 302 and "/dashboard/login" in response.headers["location"]
    context.close()
    context = chromium.new_context(storage_state=world.admin_state)
    assert context.request.get(f"{world.dashboard}/export/overview/nope.csv").status == 404
    assert context.request.get(f"{world.dashboard}/export/nope/links.csv").status == 404
    context.close()

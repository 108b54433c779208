"""web/dashboard/results.py reads result documents it did not write itself: a document that
is JSON but not an object is not there, never a 500 on every page showing its day."""

from __future__ import annotations

import json

from logdig.storage import LocalStore, results_key
from web.dashboard import results

DAY = "2026-11-25"


def test_a_document_that_is_not_an_object_counts_as_missing(tmp_path):
    store = LocalStore(tmp_path)
    for job, text in [("pages", b"[1, 2]"), ("heatmap", b'"a string"'), ("experiments", b"null")]:
        store.put(results_key(job, "t", DAY), text)
    store.put(results_key("visits", "t", DAY), b'{"data": [1, 2]}')  # data not an object
    store.put(results_key("pages", "t", "2026-11-26"), b'{"data": [1, 2]}')
    read = results.Results(store)
    assert read.doc("pages", "t", DAY) is None and read.doc("heatmap", "t", DAY) is None
    assert read.data("visits", "t", [DAY]) == [(DAY, {})]
    days = results.overview(read, "t", [DAY, "2026-11-26"]).per_day
    assert days[0] == {"day": DAY, "events": None, "pageviews": None, "users": None}
    assert days[1] == {"day": "2026-11-26", "events": None, "pageviews": 0, "users": None}
    assert results.page_detail(read, "t", "https://a.example/", [DAY], None).grid == {}


def test_a_page_shows_the_elements_with_most_clicks_and_counts_the_rest(tmp_path):
    """A visitor may send any selector: 20,000 distinct ones (20 requests) made the page view
    3.2 s and 6.6 MB, and the table grows with every request."""
    store = LocalStore(tmp_path)
    page = "https://a.example/"
    rows = [{"page": page, "selector": f"div.s{i}", "clicks": 1, "users": 1, "rage_clicks": 0} for i in range(1000)]
    rows.append({"page": page, "selector": "#buy", "clicks": 7, "users": 3, "rage_clicks": 0})
    store.put(results_key("heatmap", "t", DAY), json.dumps({"data": {"click_map": rows}}).encode())
    detail = results.page_detail(results.Results(store), "t", page, [DAY], None)
    assert len(detail.click_map) == results.CLICK_MAP_ROWS
    assert detail.click_map[0]["selector"] == "#buy"
    assert detail.click_map_left == {"elements": 1001 - results.CLICK_MAP_ROWS, "clicks": 1001 - results.CLICK_MAP_ROWS}

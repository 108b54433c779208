"""web/dashboard/results.py reads result documents it did not write itself: a document that
is JSON but not an object is not there, never a 500 on every page showing its day."""

from __future__ import annotations

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

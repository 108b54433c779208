"""Small helpers shared by the tests: events, HTTP posts, reading objects back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from logdig.storage import RAW_KEY, ObjectStore

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def make_event(token: str, **fields: Any) -> dict[str, Any]:
    """The minimum a client must send (the original ten, event_id, type), plus overrides."""
    event = {
        "timestamp": "2026-11-27T10:00:00.000Z",
        "token": token,
        "user_key": "tR2VQSYNNXJwbBQLijmR",
        "current_page": "http://site.example/index.html",
        "link": "http://site.example/page.html",
        "x": 110,
        "y": 400,
        "spent_milli_sec": 1120,
        "user_agent": UA,
        "load_count": 2,
        "event_id": uuid.uuid4().hex,
        "type": "click",
    }
    event.update(fields)
    return event


def post(url: str, body: bytes | str | Any, content_type: str = "text/plain", headers: dict | None = None):
    """POST and return (status, headers, parsed JSON body)."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")


def raw_objects(store: ObjectStore) -> dict[str, bytes]:
    """Every raw event object in the store, by key."""
    return {key: store.get(key) for key in store.list() if RAW_KEY.match(key)}


def stored_events(store: ObjectStore) -> list[dict[str, Any]]:
    return [json.loads(line) for body in raw_objects(store).values() for line in body.splitlines()]

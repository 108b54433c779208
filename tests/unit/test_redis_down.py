"""With Redis unreachable the collector tells the truth: 503s, never a 500 or a traceback."""

from __future__ import annotations

from redis import Redis

from logdig.config import Settings
from tests.helpers import make_event
from web import create_app


def test_redis_unreachable(tmp_path):
    dead = Redis.from_url(f"unix://{tmp_path}/nothing.sock", socket_connect_timeout=0.2)
    client = create_app(Settings(), redis=dead).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json == {"status": "unavailable", "redis": "unavailable"}
    posted = client.post("/logs", json=make_event("t"))
    assert posted.status_code == 503 and posted.headers["Retry-After"]
    assert posted.json["field"] == "queue" and "Traceback" not in posted.get_data(as_text=True)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "logdig_redis_up 0.0" in metrics.get_data(as_text=True)

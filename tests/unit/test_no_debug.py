"""No debug mode is reachable and no secret leaks, whatever the environment says."""

from __future__ import annotations

import fakeredis

from logdig.config import Settings, redact_url
from web import create_app


def test_flask_debug_in_the_environment_changes_nothing(monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app(Settings(), redis=fakeredis.FakeRedis())

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert app.debug is False
    assert response.status_code == 500 and response.json == {
        "error": "internal error",
        "field": "server",
        "status": 500,
    }
    assert b"secret internals" not in response.data and b"Traceback" not in response.data


def test_secrets_stay_out_of_reprs_and_printed_urls():
    s = Settings(
        aws_secret_access_key="s3-secret-value", admin_password="admin-secret", redis_url="redis://:pw123@r:6379/0"
    )
    assert "s3-secret-value" not in repr(s) and "admin-secret" not in repr(s) and "pw123" not in repr(s)
    assert redact_url(s.redis_url) == "redis://:***@r:6379/0"
    assert redact_url("redis://r:6379/0") == "redis://r:6379/0"

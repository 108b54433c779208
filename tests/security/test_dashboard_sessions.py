"""Dashboard sessions: the cookie carries a random id and nothing derived from the
password; Redis keeps the session, which ends 12 h after login whatever the activity,
at logout, when the admin password changes, and on `logdig sessions revoke`.

Each test replays a cookie saved before the session should have ended."""

from __future__ import annotations

import hashlib
import json

from click.testing import CliRunner

from logdig.cli import main
from tests.security.dashboard_client import (
    CLIENT,
    STRONG,
    csrf,
    decode_cookie,
    login,
    make_app,
    replay,
    saved_cookie,
)

OTHER = "another long admin password"


def _password_hashes(password: str) -> list[str]:
    """Every hash of the password an attacker would try first, hex and base64-ish."""
    out = []
    for prefix in (b"", b"logdig-admin:", b"logdig:"):
        for algorithm in ("sha256", "sha1", "md5", "sha512", "blake2b"):
            digest = hashlib.new(algorithm, prefix + password.encode())
            out += [digest.hexdigest()[:16], digest.hexdigest()[-16:]]
    return out


def test_the_session_cookie_holds_nothing_derived_from_the_password(redis_server, redis):
    values = []
    for password in (STRONG, STRONG, OTHER):
        client = make_app(redis_server, password).test_client()
        assert login(client, password).status_code == 302
        cookie = saved_cookie(client)
        decoded = decode_cookie(cookie)
        text = json.dumps(decoded)
        assert password not in cookie and password not in text
        for h in _password_hashes(password):
            assert h not in text and h not in cookie, f"the cookie holds a hash of the password: {decoded}"
        values.append(decoded)
    # Only a random session id and the CSRF token; two logins share nothing.
    for decoded in values:
        assert set(decoded) <= {"sid", "csrf", "_permanent"}, decoded
        assert len(decoded["sid"]) >= 43, "secrets.token_urlsafe(32) or longer"
    first, second, other = values
    assert first["sid"] != second["sid"] and first["csrf"] != second["csrf"]
    assert set(first) == set(other)  # the same shape whatever the password


def test_a_session_ends_12_hours_after_login_however_active(redis_server, redis):
    now = [1_800_000_000.0]
    app = make_app(redis_server, clock=lambda: now[0])
    client = app.test_client()
    assert login(client).status_code == 302
    for hours in (1, 6, 11, 11.99):  # busy all day; each answer refreshes the cookie
        now[0] = 1_800_000_000.0 + hours * 3600
        assert client.get("/dashboard/health", environ_base=CLIENT).status_code == 200, hours
    cookie = saved_cookie(client)
    now[0] = 1_800_000_000.0 + 12 * 3600 + 1
    assert client.get("/dashboard/health", environ_base=CLIENT).status_code == 302
    assert replay(app, cookie).status_code == 302


def test_logout_ends_the_session_for_a_saved_cookie(redis_server, redis):
    app = make_app(redis_server)
    client = app.test_client()
    assert login(client).status_code == 302
    cookie = saved_cookie(client)
    assert replay(app, cookie).status_code == 200
    token = csrf(client.get("/dashboard/health", environ_base=CLIENT))
    assert client.post("/dashboard/logout", data={"csrf_token": token}, environ_base=CLIENT).status_code == 302
    answer = replay(app, cookie)
    assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]


def test_a_password_change_ends_every_session_for_good(redis_server, redis):
    old = make_app(redis_server, STRONG)
    clients = [old.test_client() for _ in range(2)]
    for c in clients:
        assert login(c).status_code == 302
    cookies = [saved_cookie(c) for c in clients]
    assert all(replay(old, c).status_code == 200 for c in cookies)
    # The process restarts with a new password (same Redis, so the same signing key).
    new = make_app(redis_server, OTHER)
    assert new.test_client().get("/dashboard/login", environ_base=CLIENT).status_code == 200
    assert [replay(new, c).status_code for c in cookies] == [302, 302]
    # ...and those sessions stay ended, even if the old password comes back.
    back = make_app(redis_server, STRONG)
    assert [replay(back, c).status_code for c in cookies] == [302, 302]
    fresh = back.test_client()
    assert login(fresh).status_code == 302 and replay(back, saved_cookie(fresh)).status_code == 200


def test_logdig_sessions_revoke_ends_every_session(redis_server, redis):
    app = make_app(redis_server)
    clients = [app.test_client() for _ in range(3)]
    for c in clients:
        assert login(c).status_code == 302
    cookies = [saved_cookie(c) for c in clients]
    env = {"LOGDIG_REDIS_URL": redis_server, "LOGDIG_ADMIN_PASSWORD": STRONG}
    listed = CliRunner().invoke(main, ["sessions", "list"], env=env)
    assert listed.exit_code == 0 and "3" in listed.output, listed.output
    revoked = CliRunner().invoke(main, ["sessions", "revoke"], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert "ended 3 sessions" in revoked.output
    assert [replay(app, c).status_code for c in cookies] == [302, 302, 302]
    assert "ended 0 sessions" in CliRunner().invoke(main, ["sessions", "revoke"], env=env).output
    # A new login works as before.
    again = app.test_client()
    assert login(again).status_code == 302 and replay(app, saved_cookie(again)).status_code == 200


def test_logdig_sessions_without_redis_is_one_clear_line(tmp_path):
    env = {"LOGDIG_REDIS_URL": f"unix://{tmp_path}/nothing.sock"}
    result = CliRunner().invoke(main, ["sessions", "revoke"], env=env)
    assert result.exit_code == 1 and "Redis is unreachable" in result.output
    assert "Traceback" not in result.output

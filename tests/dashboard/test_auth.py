"""Login, sessions, CSRF and the rate limit on failed logins."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.conftest import DESKTOP, PASSWORD, World
from web.dashboard.auth import LOGIN_LIMIT

pytestmark = pytest.mark.browser

PAGES = ["/", "/page?page=x", "/definitions", "/health", "/export/overview/pages.csv"]


def test_every_page_needs_a_login(chromium, world: World):
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    for path in PAGES:
        response = page.goto(world.dashboard + path)
        assert response.ok
        assert page.url.startswith(f"{world.dashboard}/login"), path
        assert page.locator("input[type=password]").is_visible()
        assert world.token not in page.content()
    # The collector stays open to browsers.
    assert page.request.get(world.collector.url + "/").text() == "Success"
    context.close()


def test_wrong_passwords_are_rejected_then_rate_limited(chromium, world: World):
    world.reset_login_limit()
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(world.dashboard + "/login")
        for attempt in range(LOGIN_LIMIT):
            page.fill("input[name=password]", f"wrong {attempt}")
            with page.expect_response(lambda r: r.request.method == "POST") as answer:
                page.click("button[type=submit]")
            assert answer.value.status == 403
            assert page.locator("#login-error").inner_text() == "Wrong password."
        # Over the limit even the right password is refused until the window passes.
        page.fill("input[name=password]", PASSWORD)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button[type=submit]")
        assert answer.value.status == 429
        assert int(answer.value.headers["retry-after"]) > 0
        assert "Too many login attempts" in page.locator("#login-error").inner_text()
        assert page.url.startswith(f"{world.dashboard}/login")
        assert not [c for c in context.cookies() if c["name"] == "logdig_session" and "admin" in c["value"]]
        assert page.goto(world.dashboard + "/health").url.startswith(f"{world.dashboard}/login")
    finally:
        world.reset_login_limit()
        context.close()


def test_the_right_password_logs_in_with_a_safe_cookie(chromium, world: World):
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(world.dashboard + "/health")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.dashboard}/health")  # back where it was going
    (cookie,) = [c for c in context.cookies() if c["name"] == "logdig_session"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/dashboard"
    csp = page.request.get(world.dashboard + "/health").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/dashboard/login"))
    assert page.goto(world.dashboard + "/").url.startswith(f"{world.dashboard}/login")
    context.close()


def test_forms_need_the_csrf_token(chromium, world: World):
    context = chromium.new_context(viewport=DESKTOP, storage_state=world.admin_state)
    page = context.new_page()
    page.goto(world.dashboard + "/definitions")
    form = {"kind": "funnel", "name": "forged", "steps": "url:*/a\nurl:*/b", "scope": "all"}
    for token in (None, "not-the-token"):
        data = form if token is None else {**form, "csrf_token": token}
        response = page.request.post(world.dashboard + "/definitions/add", form=data)
        assert response.status == 400, token
        assert "CSRF" in response.text()
    page.goto(world.dashboard + "/definitions")
    assert "forged" not in page.locator("ul.defs").first.inner_text()
    context.close()

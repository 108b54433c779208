"""Found from outside: a page URL holding U+202E (right-to-left override) showed on the
Live and overview pages as another URL ("https://site.example/\u202egnp.exe" read as
".../exe.png"). Escaping was right; the direction controls must be shown as themselves."""

from __future__ import annotations

import pytest

from tests.security.dashboard_client import make_app
from web.dashboard.tables import visible_controls

SPOOFED = "https://site.example/\u202egnp.exe"


@pytest.mark.parametrize("control", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069", "\u200f"])
def test_every_direction_control_is_shown_as_its_code(control):
    shown = visible_controls(f"a{control}b")
    assert shown == f"a\\u{ord(control):04x}b" and control not in shown


def test_every_dashboard_template_prints_them_visibly(redis_server, redis):
    app = make_app(redis_server)
    with app.app_context():
        html = app.jinja_env.from_string("<td>{{ page }}</td>").render(page=SPOOFED)
    assert html == "<td>https://site.example/\\u202egnp.exe</td>"
    assert visible_controls("plain text, é, 日本") == "plain text, é, 日本"

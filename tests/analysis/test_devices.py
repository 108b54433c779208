"""Device type from the parsed user agent and the viewport: one rule, in Python and as a column."""

from __future__ import annotations

import pytest

from analysis.devices import device_type, device_type_column
from analysis.engines import api

from .conftest import load_events

WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

# (user_agent, os, device, viewport_w, bot) -> type
CASES = [
    ((WINDOWS, "Windows", "Other", 1280.0, False), "desktop"),  # shown as device "Other" before
    ((MAC, "Mac OS X", "Mac", 1440.0, False), "desktop"),
    ((WINDOWS, "Windows", "Other", 500.0, False), "desktop"),  # a narrow window is still a PC
    ((IPHONE, "iOS", "iPhone", 390.0, False), "mobile"),
    ((IPAD, "iOS", "iPad", 820.0, False), "tablet"),  # says Mobile too: iPad wins
    ((ANDROID_PHONE, "Android", "K", 412.0, False), "mobile"),
    ((ANDROID_TABLET, "Android", "SM-X700", 1200.0, False), "tablet"),  # Android without Mobile
    ((BOT, "Other", "Spider", None, True), "bot"),
    ((BOT, "Other", "Spider", None, None), "bot"),  # by the device family alone
    (("Mozilla/5.0", "Android", "Samsung SM-S911B", None, False), "mobile"),  # by the os
    (("Mozilla/5.0", None, None, 390.0, None), "mobile"),  # nothing parsed: the viewport decides
    (("Mozilla/5.0", None, None, 800.0, None), "tablet"),
    (("Mozilla/5.0", "Other", "Other", 1920.0, False), "desktop"),
    (("curl/8.0", "Other", "Other", None, False), "unknown"),
    ((None, None, None, None, None), "unknown"),
]


@pytest.mark.parametrize("args, expected", CASES)
def test_the_rule(args, expected):
    assert device_type(*args) == expected


def test_the_column_gives_the_pythons_answers(engine):
    F = api(engine.session.createDataFrame([(1,)], ["x"])).F
    rows = [(i, *args) for i, (args, _) in enumerate(CASES)]
    df = engine.session.createDataFrame(
        rows, "i long, user_agent string, os string, device string, viewport_w double, bot boolean"
    )
    got = {r["i"]: r["t"] for r in df.select("i", device_type_column(F).alias("t")).collect()}
    assert [got[i] for i in range(len(CASES))] == [expected for _, expected in CASES]


def test_every_checked_event_has_its_device_type(duck, tmp_path):
    from .conftest import event

    events = [
        event(event_id="w", user_agent=WINDOWS, os="Windows", device="Other", viewport_w=1280),
        event(event_id="p", user_agent=IPHONE, os="iOS", device="iPhone", viewport_w=390),
    ]
    loaded = load_events(duck, tmp_path, events)
    assert {r["event_id"]: r["device_type"] for r in loaded.events.collect()} == {"w": "desktop", "p": "mobile"}

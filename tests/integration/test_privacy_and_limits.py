"""Privacy settings and rate limits, over real HTTP against a real Redis."""

from __future__ import annotations

import pytest

from logdig.events import Privacy, truncate_ip
from logdig.queue import EventQueue
from tests.conftest import start_collector
from tests.helpers import make_event, post

pytestmark = pytest.mark.integration

BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def queued(redis):
    import json

    return [json.loads(x) for x in redis.lrange("logdig:queue", 0, -1)]


def test_by_default_no_ip_is_stored_and_urls_are_kept(local_settings, redis):
    c = start_collector(local_settings)
    try:
        url = "https://shop.example/p?id=7&utm_source=x#top"
        assert post(c.url + "/logs", [make_event(c.token, current_page=url)])[0] == 202
    finally:
        c.stop()
    (event,) = queued(redis)
    assert "ip" not in event and event["current_page"] == url


def test_truncated_ip_and_query_allow_list(local_settings, redis):
    c = start_collector(local_settings.replace(store_ip="truncated", url_query="allow:utm_source"))
    try:
        event = make_event(
            c.token,
            current_page="https://shop.example/p?id=7&utm_source=x#top",
            referrer="https://search.example/?q=secret",
            link="a;btn;;;",
        )
        assert post(c.url + "/logs", [event])[0] == 202
    finally:
        c.stop()
    (stored,) = queued(redis)
    assert stored["ip"] == "127.0.0.0"
    assert stored["current_page"] == "https://shop.example/p?utm_source=x"
    assert stored["referrer"] == "https://search.example/"
    assert stored["link"] == "a;btn;;;"  # a description, not a URL


def test_strip_and_ipv6():
    assert Privacy(url_query="strip").url("https://a.example/x?y=1#z") == "https://a.example/x"
    assert truncate_ip("2001:db8:abcd:1234::1") == "2001:db8:abcd::"
    assert truncate_ip("203.0.113.77") == "203.0.113.0" and truncate_ip("junk") is None


def test_bots_are_flagged_or_dropped(local_settings, redis):
    c = start_collector(local_settings.replace(drop_bots="on"))
    try:
        status, _, answer = post(c.url + "/logs", [make_event(c.token), make_event(c.token, user_agent=BOT)])
    finally:
        c.stop()
    assert status == 202 and answer["accepted"] == 1
    assert answer["rejected"][0]["errors"][0]["field"] == "user_agent"
    assert [e["bot"] for e in queued(redis)] == [False]
    assert EventQueue(redis).stats()["rejected:bot"] == 1


def test_per_ip_rate_limit_answers_429_with_retry_after(local_settings, redis):
    c = start_collector(local_settings.replace(rate_ip=3))
    try:
        answers = [post(c.url + "/logs", [make_event(c.token)]) for _ in range(5)]
    finally:
        c.stop()
    assert [a[0] for a in answers] == [202, 202, 202, 429, 429]
    status, headers, body = answers[3]
    assert 1 <= int(headers["Retry-After"]) <= 60 and body["field"] == "rate"
    assert redis.llen("logdig:queue") == 3
    assert EventQueue(redis).stats()["rejected:rate_limited"] == 2


def test_per_token_rate_limit_counts_events(local_settings, redis):
    c = start_collector(local_settings.replace(rate_token=10, rate_token_ip_share=0))  # the token alone
    try:
        first = post(c.url + "/logs", [make_event(c.token) for _ in range(8)])
        second = post(c.url + "/logs", [make_event(c.token) for _ in range(3)])
    finally:
        c.stop()
    assert first[0] == 202 and second[0] == 429

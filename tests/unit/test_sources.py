"""Channels and UTM fields (logdig.sources): the documented rules, case by case."""

from __future__ import annotations

import pytest

from logdig.sources import CHANNELS, classify

PAGE = "https://shop.example/p"

CASES = [
    # (page URL, referrer, channel, source)
    (PAGE, None, "Direct", None),
    (PAGE, "", "Direct", None),
    (PAGE, "https://shop.example/other", "Direct", None),  # the site's own page
    (PAGE, "https://www.google.com/search?q=x", "Organic search", "google.com"),
    (PAGE, "https://www.google.co.uk/", "Organic search", "google.co.uk"),
    (PAGE, "https://duckduckgo.com/", "Organic search", "duckduckgo.com"),
    (PAGE, "https://search.brave.com/search?q=a", "Organic search", "search.brave.com"),
    (PAGE, "https://t.co/abc", "Social", "t.co"),
    (PAGE, "https://m.facebook.com/", "Social", "m.facebook.com"),
    (PAGE, "https://news.ycombinator.com/item?id=1", "Social", "news.ycombinator.com"),
    (PAGE, "https://mail.google.com/mail/u/0/", "Email", "mail.google.com"),
    (PAGE, "https://blog.example.org/post", "Referral", "blog.example.org"),
    (PAGE, "https://googleusercontent.example.net/", "Referral", "googleusercontent.example.net"),
    (PAGE, "about:blank", "Direct", None),  # no host: not a source
    (PAGE, "android-app://com.example.reader", "Referral", "com.example.reader"),
    (PAGE + "?utm_source=google&utm_medium=cpc", None, "Paid", "google"),
    (PAGE + "?utm_source=fb&utm_medium=paid_social", "https://facebook.com/", "Paid", "fb"),
    (PAGE + "?gclid=abc", "https://www.google.com/", "Paid", "google.com"),
    (PAGE + "?utm_source=newsletter&utm_medium=email", None, "Email", "newsletter"),
    (PAGE + "?utm_source=newsletter", None, "Email", "newsletter"),
    (PAGE + "?utm_source=mastodon&utm_medium=social", None, "Social", "mastodon"),
    (PAGE + "?utm_source=twitter", None, "Social", "twitter"),
    (PAGE + "?utm_source=bing", None, "Organic search", "bing"),
    (PAGE + "?utm_medium=organic&utm_source=partner", None, "Organic search", "partner"),
    (PAGE + "?utm_source=partner", None, "Referral", "partner"),
    (PAGE + "?utm_campaign=spring", None, "Referral", None),
    (PAGE + "?utm_source=partner", "https://www.google.com/", "Organic search", "partner"),
]


@pytest.mark.parametrize(("page", "referrer", "channel", "source"), CASES)
def test_channel_and_source(page, referrer, channel, source):
    got = classify(page, referrer)
    assert (got.channel, got.source) == (channel, source)
    assert got.channel in CHANNELS


def test_utm_fields_are_read_from_the_page_url():
    got = classify(
        PAGE + "?UTM_SOURCE=a&utm_medium=b&utm_campaign=c%20d&utm_term=e&utm_content=f&utm_source=ignored&x=1#top",
        None,
    )
    assert got.utm == {"utm_source": "a", "utm_medium": "b", "utm_campaign": "c d", "utm_term": "e", "utm_content": "f"}


def test_utm_values_are_cut_and_empty_ones_dropped():
    got = classify(PAGE + "?utm_source=" + "s" * 500 + "&utm_medium=", None)
    assert got.utm == {"utm_source": "s" * 200}


@pytest.mark.parametrize("page", ["not a url", "http://[::1", "https://a.example/?utm_source=%ff%fe"])
def test_odd_urls_never_raise(page):
    assert classify(page, "http://[bad").channel in CHANNELS

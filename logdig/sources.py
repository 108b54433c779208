"""Where a visitor came from: the channel and the UTM fields of an event, at ingest.

Computed from the page URL (``current_page``) and ``referrer`` before the privacy step
(LOGDIG_URL_QUERY=strip still keeps the UTM fields). The rules, first match wins:

1. **Paid**: ``utm_medium`` is one of :data:`PAID_MEDIUMS` (or starts with ``paid``), or
   the URL carries an ad click id (:data:`CLICK_IDS`: ``gclid``, ``msclkid``...).
2. **Email**: ``utm_medium`` or ``utm_source`` is one of :data:`EMAIL_WORDS`, or the
   referrer is a webmail host (:data:`WEBMAIL`).
3. **Social**: ``utm_medium`` is one of :data:`SOCIAL_MEDIUMS`, or ``utm_source`` or the
   referrer's host is a social network (:data:`SOCIAL`).
4. **Organic search**: ``utm_medium`` is ``organic``, or ``utm_source`` or the referrer's
   host is a search engine (:data:`SEARCH`).
5. **Referral**: another ``utm_source`` or ``utm_medium``, or a referrer on another host
   than the page's.
6. **Direct**: no referrer (or one on the page's own host: moving between the site's own
   pages) and no UTM parameter.

A name in :data:`SEARCH` or :data:`SOCIAL` matches a host by its labels: ``google``
matches ``www.google.com`` and ``google.co.uk``; ``t.co`` matches ``t.co`` and
``www.t.co``. ``utm_source=google`` matches the same way. The *source* shown on the
Live page is ``utm_source`` when present, else the referrer's host (``www.`` dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CHANNELS = ("Direct", "Organic search", "Paid", "Social", "Email", "Referral")
UTM_MAX = 200  # characters kept of each UTM value

PAID_MEDIUMS = frozenset(
    {"cpc", "ppc", "cpm", "cpv", "cpa", "paid", "paidsearch", "paid_search", "paid-search", "display", "banner"}
    | {"paidsocial", "paid_social", "paid-social", "retargeting", "affiliate", "ad", "ads"}
)
CLICK_IDS = ("gclid", "gbraid", "wbraid", "dclid", "msclkid", "ttclid", "li_fat_id")
EMAIL_WORDS = frozenset({"email", "e-mail", "e_mail", "mail", "newsletter"})
SOCIAL_MEDIUMS = frozenset({"social", "social-network", "social-media", "social_media", "sm", "social network"})
WEBMAIL = ("mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.proton.me")
# Search engines: a name without a dot matches that label followed by any public suffix
# (google.com, google.co.uk); a name with a dot matches that host and its subdomains.
SEARCH = (
    "google",
    "bing",
    "yahoo",
    "duckduckgo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "startpage",
    "search.brave.com",
    "kagi.com",
    "naver",
    "seznam",
    "sogou",
    "ask.com",
    "aol",
    "yahoo.co.jp",
    "so.com",
)
SOCIAL = (
    "facebook",
    "fb.com",
    "instagram",
    "twitter",
    "x.com",
    "t.co",
    "linkedin",
    "lnkd.in",
    "reddit",
    "pinterest",
    "youtube",
    "tiktok",
    "threads.net",
    "bsky.app",
    "mastodon.social",
    "news.ycombinator.com",
    "vk.com",
    "weibo.com",
    "quora.com",
    "tumblr.com",
    "t.me",
    "whatsapp.com",
    "discord.com",
    "snapchat.com",
)


@dataclass(frozen=True)
class Source:
    channel: str
    source: str | None  # utm_source, else the referrer's host; None when direct
    utm: dict[str, str]  # the UTM parameters the page URL has, each cut to UTM_MAX


def _host(url: str | None) -> str:
    if not url or "://" not in url:
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _matches(host: str, names: tuple[str, ...]) -> bool:
    """Whether a host (or a utm_source value) is one of `names` (see SEARCH)."""
    if not host:
        return False
    labels = host.lower().split(".")
    for name in names:
        if "." in name:
            if host == name or host.endswith("." + name):
                return True
        elif name in labels and len(labels) - labels.index(name) <= 3:  # name + at most 2 suffix labels
            return True
    return False


@lru_cache(maxsize=4096)
def host_kind(host: str) -> str | None:
    """'Email', 'Social', 'Organic search' or None for a referrer host or a utm_source."""
    if host in WEBMAIL or host.lower() in EMAIL_WORDS:
        return "Email"
    if _matches(host, SOCIAL):
        return "Social"
    if _matches(host, SEARCH):
        return "Organic search"
    return None


def utm_of(url: str) -> tuple[dict[str, str], bool]:
    """(the UTM parameters of a URL, whether it carries an ad click id)."""
    utm: dict[str, str] = {}
    clicked = False
    if "?" not in url:
        return utm, clicked
    try:
        query = urlsplit(url).query
    except ValueError:
        return utm, clicked
    for key, value in parse_qsl(query):
        key = key.lower()
        if key in UTM_FIELDS and key not in utm and value:
            utm[key] = value[:UTM_MAX]
        elif key in CLICK_IDS:
            clicked = True
    return utm, clicked


def classify(page: str, referrer: str | None) -> Source:
    """The channel, source and UTM fields of one (page URL, referrer) pair."""
    utm, clicked = utm_of(page)
    medium = utm.get("utm_medium", "").lower()
    utm_source = utm.get("utm_source", "")
    ref_host = _host(referrer)
    if ref_host and ref_host == _host(page):
        ref_host = ""  # the site's own pages: not a source
    source = utm_source or ref_host or None
    if medium in PAID_MEDIUMS or medium.startswith("paid") or clicked:
        channel = "Paid"
    elif medium in EMAIL_WORDS:
        channel = "Email"
    elif medium in SOCIAL_MEDIUMS:
        channel = "Social"
    elif medium == "organic":
        channel = "Organic search"
    elif kind := (utm_source and host_kind(utm_source.lower())) or (ref_host and host_kind(ref_host)):
        channel = kind
    elif utm or ref_host:
        channel = "Referral"
    else:
        channel = "Direct"
    return Source(channel, source, utm)

"""Filters (segments): restrict the loaded events to the visits that match, on both engines.

One :class:`Filter` is parsed from URL query parameters with fixed names (the dashboard's
filter bar, the overlay; the Stats API may reuse them):

========================  ==============================================================
``page``                  a page (normalised as ``analysis.schema``: no query, no trailing
                          slash); ``*`` matches any run of characters
``channel``               Direct, Organic search, Paid, Social, Email, Referral, unknown
``source``                the referrer's domain (``www.`` dropped), ``(none)`` for direct
``utm_source``            the ``utm_source`` of the visit's landing URL
``utm_campaign``          its ``utm_campaign``
``country``               ISO 3166 alpha-2 (``DE``), or ``unknown``
``device``                ``desktop``, ``mobile``, ``tablet`` or ``unknown``
``browser``               the browser family as the collector names it (``Chrome``, ``Firefox``)
``visitor``               ``new`` or ``returning``
``variant``               ``experiment:variant``
========================  ==============================================================

Semantics: **visit-level** (user-level for ``variant``), so that funnels, bounce rates and
pages per visit stay meaningful. A visit is as in ``analysis.jobs.visits``: a user's run of
events within a UTC day with no gap over 30 minutes. :func:`apply` keeps *every event of
the visits* that match every given parameter:

* ``channel``, ``source``, ``utm_source``, ``utm_campaign``, ``country``, ``device`` and
  ``browser`` are the visit's entry attributes, taken from its first event (as the visits
  job attributes a visit); ``channel``, ``source`` and ``browser`` compare without case;
* ``page``: the visit has an event on that page (a visit that saw the pricing page);
* ``visitor``: ``new`` when the visit holds the browser's first page view (its smallest
  ``load_count`` is at most 1: the tracker counts page views per browser, from 1),
  ``returning`` otherwise. It does not depend on the date range asked for;
* ``variant``: every event of the users whose first exposure to the experiment in the
  loaded range was to that variant (as the experiments job assigns a user).

Bad values raise :class:`FilterError` naming the parameter (the dashboard answers 400).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from analysis.engines import api, stage
from analysis.jobs.pages import HOST_RE
from analysis.jobs.visits import DIRECT, UNKNOWN, VISIT_GAP_MS

PARAMS = (
    "page",
    "channel",
    "source",
    "utm_source",
    "utm_campaign",
    "country",
    "device",
    "browser",
    "visitor",
    "variant",
)
DEVICES = ("desktop", "mobile", "tablet", "unknown")
VISITORS = ("new", "returning")
CHANNELS = ("Direct", "Organic search", "Paid", "Social", "Email", "Referral", UNKNOWN)
NONE_SOURCE = "(none)"
MAX_LENGTH = 2048  # as other strings of an event
USER = ("token", "day", "user_key")
VISIT = (*USER, "_visit")
LABELS = {
    "page": "Page",
    "channel": "Channel",
    "source": "Source",
    "utm_source": "UTM source",
    "utm_campaign": "UTM campaign",
    "country": "Country",
    "device": "Device",
    "browser": "Browser",
    "visitor": "Visitor",
    "variant": "Variant",
}


class FilterError(ValueError):
    """A bad filter value; ``param`` names the query parameter."""

    def __init__(self, param: str, reason: str):
        super().__init__(f"{param}: {reason}")
        self.param, self.reason = param, reason


@dataclass(frozen=True)
class Filter:
    page: str | None = None
    channel: str | None = None
    source: str | None = None
    utm_source: str | None = None
    utm_campaign: str | None = None
    country: str | None = None
    device: str | None = None
    browser: str | None = None
    visitor: str | None = None
    variant: str | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def args(self) -> dict[str, str]:
        """The set parameters, as query parameters (in :data:`PARAMS` order)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def without(self, param: str) -> Filter:
        return Filter(**{**asdict(self), param: None})

    def digest(self) -> str:
        """A stable short hash of the set parameters (cache keys)."""
        return hashlib.sha256(json.dumps(self.args(), sort_keys=True).encode()).hexdigest()[:24]

    def chips(self) -> list[tuple[str, str, str]]:
        """(param, label, value) of each set parameter, for the removable chips."""
        return [(k, LABELS[k], v) for k, v in self.args().items()]

    def experiment(self) -> tuple[str, str] | None:
        if self.variant is None:
            return None
        name, _, variant = self.variant.partition(":")
        return name, variant


def parse(args: Any, skip: tuple[str, ...] = ()) -> Filter:
    """A Filter from query parameters (a mapping with ``get``); empty values are unset.
    ``skip``: parameter names that mean something else where this is called."""
    found: dict[str, str] = {}
    for name in PARAMS:
        if name in skip:
            continue
        raw = args.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        found[name] = _check(name, str(raw).strip())
    return Filter(**found)


def _check(name: str, value: str) -> str:
    if len(value) > MAX_LENGTH:
        raise FilterError(name, f"at most {MAX_LENGTH} characters")
    if any(ord(c) < 32 for c in value):
        raise FilterError(name, "control characters are not allowed")
    if name == "device":
        if value.lower() not in DEVICES:
            raise FilterError(name, f"must be one of {', '.join(DEVICES)}")
        return value.lower()
    if name == "visitor":
        if value.lower() not in VISITORS:
            raise FilterError(name, "must be new or returning")
        return value.lower()
    if name == "channel":
        match = [c for c in CHANNELS if c.lower() == value.lower()]
        if not match:
            raise FilterError(name, f"must be one of {', '.join(CHANNELS)}")
        return match[0]
    if name == "country":
        if value.lower() == UNKNOWN:
            return UNKNOWN
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise FilterError(name, "must be a two-letter ISO 3166 code (DE) or unknown")
        return value.upper()
    if name == "variant":
        exp, sep, variant = value.partition(":")
        if not sep or not exp or not variant:
            raise FilterError(name, "must be experiment:variant")
        return value
    if name == "source":
        if value.lower() in (NONE_SOURCE, DIRECT.lower(), "direct"):
            return NONE_SOURCE
        host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.lower()).split("/")[0]
        host = re.sub(r"^www\.", "", host)
        if not host or not re.fullmatch(r"[a-z0-9.:\[\]_-]+", host):
            raise FilterError(name, "must be a domain (news.example) or (none)")
        return host
    if name == "page":
        from analysis.schema import normalise_page

        if "*" not in value and not re.match(r"^https?://", value, re.I):
            raise FilterError(name, "must be a page URL (https://...), * for any characters")
        return normalise_page(value) if "*" not in value else value
    return value


def _page_regex(pattern: str) -> str:
    return "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"


def _host(col: Any, F: Any) -> Any:
    return F.regexp_replace(F.lower(F.regexp_extract(col, HOST_RE, 1)), r"^www\.", "")


def apply(events: Any, f: Filter) -> Any:
    """The events of the visits (users, for ``variant``) that match ``f``; the same columns."""
    if f.empty:
        return events
    a = api(events)
    F, W = a.F, a.Window
    columns = list(events.columns)
    keep = events
    visit_level = any(k != "variant" for k in f.args())
    if visit_level:
        order = W.partitionBy(*USER).orderBy("ts_ms", "event_id")
        prev = F.lag("ts_ms").over(order)
        new = F.when(prev.isNull() | (F.col("ts_ms") - prev > VISIT_GAP_MS), F.lit(1)).otherwise(F.lit(0))
        marked = stage(events.select(*columns, new.alias("_new")))
        running = order.rowsBetween(W.unboundedPreceding, W.currentRow)
        numbered = stage(
            marked.select(
                *columns,
                F.sum("_new").over(running).cast("long").alias("_visit"),
            )
        )
        first = F.row_number().over(W.partitionBy(*VISIT).orderBy("ts_ms", "event_id"))
        entries = numbered.select(*VISIT, *_entry_columns(F, f), first.alias("_first")).filter(F.col("_first") == 1)
        for cond in _entry_conditions(F, f):
            entries = entries.filter(cond)
        visits = entries.select(*VISIT)
        if f.page is not None:
            on_page = F.col("page").rlike(_page_regex(f.page)) if "*" in f.page else (F.col("page") == F.lit(f.page))
            visits = visits.join(numbered.filter(on_page).select(*VISIT).distinct(), list(VISIT))
        if f.visitor is not None:
            loads = numbered.groupBy(*VISIT).agg(F.min("load_count").alias("_loads"))
            first_view = F.coalesce(F.col("_loads"), F.lit(0)) <= 1
            loads = loads.filter(first_view if f.visitor == "new" else ~first_view)
            visits = visits.join(loads.select(*VISIT), list(VISIT))
        keep = numbered.join(visits, list(VISIT)).select(*columns)
    exp = f.experiment()
    if exp is not None:
        name, variant = exp
        exposed = events.filter(
            (F.col("type") == "exposure") & (F.col("name") == F.lit(name)) & F.col("variant").isNotNull()
        )
        by_user = W.partitionBy("token", "user_key").orderBy("ts_ms", "event_id")
        users = (
            exposed.select("token", "user_key", "variant", F.row_number().over(by_user).alias("_x"))
            .filter((F.col("_x") == 1) & (F.col("variant") == F.lit(variant)))
            .select("token", "user_key")
        )
        keep = keep.join(users, ["token", "user_key"]).select(*columns)
    return stage(keep)


def _entry_columns(F: Any, f: Filter) -> list[Any]:
    """The entry attributes a condition of ``f`` reads, named ``_<param>``."""
    out = []
    if f.channel is not None:
        out.append(F.lower(F.coalesce(F.col("channel"), F.lit(UNKNOWN))).alias("_channel"))
    if f.source is not None:
        ref, own = _host(F.col("referrer"), F), _host(F.col("current_page"), F)
        direct = F.col("referrer").isNull() | (ref == "") | (ref == own)
        out.append(F.when(direct, F.lit(NONE_SOURCE)).otherwise(ref).alias("_source"))
    for name in ("utm_source", "utm_campaign"):
        if getattr(f, name) is not None:
            out.append(F.col(name).alias(f"_{name}"))
    if f.country is not None:
        out.append(F.coalesce(F.col("country"), F.lit(UNKNOWN)).alias("_country"))
    if f.device is not None:
        out.append(F.col("device_type").alias("_device"))
    if f.browser is not None:
        out.append(F.lower(F.col("browser")).alias("_browser"))
    return out


def _entry_conditions(F: Any, f: Filter) -> list[Any]:
    wanted = {
        "channel": None if f.channel is None else f.channel.lower(),
        "source": f.source,
        "utm_source": f.utm_source,
        "utm_campaign": f.utm_campaign,
        "country": f.country,
        "device": f.device,
        "browser": None if f.browser is None else f.browser.lower(),
    }
    return [F.col(f"_{k}") == F.lit(v) for k, v in wanted.items() if v is not None]


def from_json(doc: dict | None) -> Filter:
    """A Filter from :meth:`Filter.args` output (checked again)."""
    return parse(doc or {})


__all__ = ["PARAMS", "Filter", "FilterError", "apply", "from_json", "parse"]

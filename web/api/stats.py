"""The Stats API's figures: read from the analysis results, never from raw events.

The results are per job, token and UTC day (``web.dashboard.results``), so every figure
here is what the dashboard shows for the same days, summed the same way:

- counts (visits, page views, events, bounces, durations) add up over days;
- ``visitors`` add up per day: over several days they are *user-days* (a visitor seen on
  two days counts twice), as on the dashboard; over one day they are unique visitors;
- ``bounce_rate`` (percent, one decimal), ``visit_duration`` (mean, seconds, one decimal)
  and ``views_per_visit`` (two decimals) are recomputed from the summed counts.

A property (``event:page``, ``visit:source``...) is one table of the results
(:data:`PROPERTIES`), and each table holds some counts only: ``event:page`` has page
views and visitors per page, but no visits. A metric a table cannot give, or a filter the
results cannot answer, is refused (:class:`Refused`, a 400 naming the field), never
estimated. Filters (Plausible's syntax: ``property==value``, ``!=``, ``a|b`` for either,
``*`` for any characters, ``;`` between conditions) are answered when they all name one
property, and either the breakdown is by that property (the rows are selected) or, for
``aggregate`` and ``timeseries``, that property's rows hold the metrics asked for. Visitors
of several rows do not add up (one visitor may have visited from two sources), so a
filter selecting more than one exact value cannot give ``visitors``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from web.dashboard.results import Results

METRICS = ("visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit")
NEEDS = {  # metric -> the counts it is computed from
    "visitors": ("visitors",),
    "visits": ("visits",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "bounce_rate": ("bounces", "visits"),
    "visit_duration": ("duration_ms", "visits"),
    "views_per_visit": ("pageviews", "visits"),
}
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
FILTER_MAX = 2000  # characters of `filters`
VALUES_MAX = 50  # values in all conditions (a|b|...;...)


_SEVERAL = (
    "visitors of several values do not add up (one visitor may have several): filter on one exact value "
    "(a page path matches every host's page), or ask /breakdown?property={prop} for each value's visitors"
)


class Refused(Exception):
    """A request the results cannot answer: 400 with the field and the reason."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Prop:
    name: str  # event:page
    label: str  # the breakdown rows' field: page
    job: str
    table: str
    key: Callable[[dict], Any]
    counts: dict[str, str]  # count -> the row's field
    kind: str | None = None  # rows of this `kind` only
    is_page: bool = False  # a value starting with / matches the URL's path

    def metrics(self) -> list[str]:
        return [m for m in METRICS if all(c in self.counts for c in NEEDS[m])]


def _field(name: str) -> Callable[[dict], Any]:
    return lambda r: r.get(name)


_VISIT_COUNTS = {"visitors": "visitors", "visits": "visits", "pageviews": "pageviews"}
_AGENT_COUNTS = {"visitors": "users", "events": "events"}
_GOAL_COUNTS = {"events": "count", "visitors": "users"}
PROPERTIES = {
    p.name: p
    for p in [
        Prop("event:page", "page", "pages", "views", _field("page"), {"visitors": "users", "pageviews": "views"}, None, True),
        Prop("visit:entry_page", "entry_page", "visits", "entry_pages", _field("page"), {"visits": "visits", "bounces": "bounces"}, None, True),
        Prop("visit:exit_page", "exit_page", "visits", "exit_pages", _field("page"), {"visits": "visits"}, None, True),
        Prop("visit:source", "source", "visits", "sources", _field("name"), _VISIT_COUNTS, "referrer"),
        Prop("visit:channel", "channel", "visits", "sources", _field("name"), _VISIT_COUNTS, "channel"),
        *[Prop(f"visit:{u}", u, "visits", "sources", _field("name"), _VISIT_COUNTS, u) for u in UTM],
        Prop("visit:country", "country", "visits", "sources", _field("name"), _VISIT_COUNTS, "country"),
        Prop("visit:device", "device", "visits", "devices", _field("device_type"), {c: c for c in ("visitors", "visits", "pageviews", "bounces", "duration_ms")}),
        Prop("visit:browser", "browser", "pages", "agents", _field("name"), _AGENT_COUNTS, "browser"),
        Prop("visit:os", "os", "pages", "agents", _field("name"), _AGENT_COUNTS, "os"),
        Prop("event:name", "name", "goals", "events", _field("name"), _GOAL_COUNTS),
        Prop("event:goal", "goal", "goals", "goals", lambda r: (r.get("goal") or {}).get("name"), _GOAL_COUNTS),
    ]
}  # fmt: skip


def _path(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return url


def glob(pattern: str, text: str) -> bool:
    """``*`` matches any characters, everything else itself; in O(len(pattern) * len(text)),
    never by backtracking (a regular expression of many ``.*`` takes minutes on a long URL).
    Greedy: each part between wildcards at its first place after the last."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return text == pattern
    first, *middle, last = parts
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    at, end = len(first), len(text) - len(last)
    for part in middle:
        found = text.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


@dataclass(frozen=True)
class Condition:
    prop: Prop
    negate: bool
    values: tuple[str, ...]

    @property
    def exact_one(self) -> bool:
        """Selects at most one value: `==` with one value and no wildcard (a page path may
        still match several URLs: counted when the rows are read)."""
        return not self.negate and len(self.values) == 1 and "*" not in self.values[0]

    def matches(self, value: Any) -> bool:
        text = "" if value is None else str(value)
        found = any(glob(v, text) for v in self.values)
        if not found and self.prop.is_page:
            path = _path(text)
            found = any(v.startswith("/") and glob(v, path) for v in self.values)
        return found != self.negate


def _split_values(raw: str) -> list[str]:
    """a|b|c, with \\| for a | inside a value."""
    return [v.replace("\\|", "|") for v in re.split(r"(?<!\\)\|", raw)]


def parse_filters(raw: str) -> list[Condition]:
    if len(raw) > FILTER_MAX:
        raise Refused("filters", f"longer than {FILTER_MAX} characters")
    out = []
    for part in (p.strip() for p in raw.split(";")):
        if not part:
            continue
        match = re.fullmatch(r"([a-z_]+:[a-z_]+)\s*(==|!=)\s*(.*)", part, re.S)
        if not match:
            raise Refused("filters", "each condition must read property==value or property!=value, joined by ;")
        name, op, values = match.groups()
        if name not in PROPERTIES:
            raise Refused("filters", f"unknown property {name[:40]!r}; known: {', '.join(PROPERTIES)}")
        split = _split_values(values)
        out.append(Condition(PROPERTIES[name], op == "!=", tuple(split)))
        if sum(len(c.values) for c in out) > VALUES_MAX:
            raise Refused("filters", f"at most {VALUES_MAX} values in all")
    return out


def parse_metrics(raw: str) -> list[str]:
    names = [m.strip() for m in raw.split(",")] if raw else ["visitors"]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise Refused("metrics", f"unknown metric {unknown[0][:40]!r}; known: {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def parse_property(raw: str) -> Prop:
    if not raw:
        raise Refused("property", f"required; one of {', '.join(PROPERTIES)}")
    if raw not in PROPERTIES:
        raise Refused("property", f"unknown property {raw[:40]!r}; known: {', '.join(PROPERTIES)}")
    return PROPERTIES[raw]


def _value(metric: str, c: Counter | dict) -> float | int | None:
    if any(k not in c for k in NEEDS[metric]):
        return None
    if metric in ("visitors", "visits", "pageviews", "events"):
        return int(c[metric])
    visits = c["visits"]
    if not visits:
        return None
    if metric == "bounce_rate":
        return round(100 * c["bounces"] / visits, 1)
    if metric == "visit_duration":
        return round(c["duration_ms"] / visits / 1000, 1)
    return round(c["pageviews"] / visits, 2)


def _check_metrics(metrics: list[str], prop: Prop, why: str) -> None:
    missing = [m for m in metrics if m not in prop.metrics()]
    if missing:
        raise Refused(
            "metrics",
            f"{', '.join(missing)} not available {why}: the results hold {', '.join(prop.metrics())} for {prop.name}",
        )


class Stats:
    """One site's figures over a list of days."""

    def __init__(self, results: Results, token: str, days: list[str]):
        self.results, self.token, self.days = results, token, days
        self.missing: set[str] = set()  # days without a result for a job used
        self._matched: dict[Any, bool] = {}  # value -> matches the request's conditions

    def _matches(self, conditions: list[Condition], value: Any) -> bool:
        """Each distinct value is matched once per request, however many days hold it."""
        found = self._matched.get(value)
        if found is None:
            found = self._matched[value] = all(c.matches(value) for c in conditions)
        return found

    def _data(self, job: str, day: str) -> dict | None:
        doc = self.results.doc(job, self.token, day)
        if doc is None:
            self.missing.add(day)
        return doc

    def _totals(self, day: str, metrics: list[str]) -> Counter | None:
        """The site's counts of one day (what the dashboard's overview shows)."""
        needs = {c for m in metrics for c in NEEDS[m]}
        c: Counter = Counter()
        found = False
        if needs & {"visitors", "pageviews", "events"} and (doc := self._data("pages", day)):
            found = True
            data = doc.get("data") or {}
            totals = data.get("totals") or {}
            if isinstance(totals, list):
                totals = totals[0] if totals else {}
            if totals.get("users") is not None:
                c["visitors"] = totals["users"]
            c["pageviews"] = totals.get("pageviews", sum(r["views"] for r in data.get("views", [])))
            events = (doc.get("quality") or {}).get("events", totals.get("events"))
            if events is not None:
                c["events"] = events
        if needs & {"visits", "bounces", "duration_ms", "pageviews", "visitors"} and (doc := self._data("visits", day)):
            found = True
            totals = (doc.get("data") or {}).get("totals") or {}
            for k in ("visits", "bounces", "duration_ms", "pageviews"):
                c[k] = totals.get(k) or 0
            c.setdefault("visitors", totals.get("visitors") or 0)
        return c if found else None

    def _rows(self, prop: Prop, day: str) -> dict[Any, Counter] | None:
        doc = self._data(prop.job, day)
        if doc is None:
            return None
        out: dict[Any, Counter] = {}
        for r in (doc.get("data") or {}).get(prop.table, []):
            if prop.kind is not None and r.get("kind") != prop.kind:
                continue
            c = out.setdefault(prop.key(r), Counter({k: 0 for k in prop.counts}))
            for count, name in prop.counts.items():
                c[count] += r.get(name) or 0
        return out

    def _selected(self, day: str, metrics: list[str], conditions: list[Condition]) -> Counter | None:
        if not conditions:
            return self._totals(day, metrics)
        prop = conditions[0].prop
        rows = self._rows(prop, day)
        if rows is None:
            return None
        c: Counter = Counter({k: 0 for k in prop.counts})
        matched = 0
        for value, counts in rows.items():
            if self._matches(conditions, value):
                c.update(counts)
                matched += 1
        if matched > 1 and "visitors" in metrics:
            raise Refused("metrics", _SEVERAL.format(prop=prop.name))
        return c

    def _check(self, metrics: list[str], conditions: list[Condition]) -> None:
        if not conditions:
            return
        props = {c.prop.name for c in conditions}
        if len(props) > 1:
            raise Refused(
                "filters",
                "the precomputed results answer a filter on one property at a time "
                f"(these name {', '.join(sorted(props))})",
            )
        prop = conditions[0].prop
        _check_metrics(metrics, prop, f"with a filter on {prop.name}")
        if "visitors" in metrics and not (len(conditions) == 1 and conditions[0].exact_one):
            raise Refused("metrics", _SEVERAL.format(prop=prop.name))

    def aggregate(self, metrics: list[str], conditions: list[Condition]) -> dict[str, dict]:
        self._check(metrics, conditions)
        total: Counter = Counter()
        seen: set[str] = set()
        for day in self.days:
            c = self._selected(day, metrics, conditions)
            if c is not None:
                seen.update(c)
                total.update(c)
        present = {k: total[k] for k in seen}
        return {m: {"value": _value(m, present)} for m in metrics}

    def timeseries(self, metrics: list[str], conditions: list[Condition]) -> list[dict]:
        self._check(metrics, conditions)
        out = []
        for day in self.days:
            c = self._selected(day, metrics, conditions)
            out.append({"date": day, **{m: _value(m, c) if c is not None else None for m in metrics}})
        return out

    def breakdown(self, prop: Prop, metrics: list[str], conditions: list[Condition]) -> list[dict]:
        others = sorted({c.prop.name for c in conditions if c.prop is not prop})
        if others:
            raise Refused(
                "filters",
                f"a breakdown by {prop.name} can be filtered on {prop.name} only (the precomputed results "
                f"hold no combination of it with {', '.join(others)})",
            )
        _check_metrics(metrics, prop, f"per {prop.name}")
        summed: dict[Any, Counter] = {}
        for day in self.days:
            for value, counts in (self._rows(prop, day) or {}).items():
                if self._matches(conditions, value):
                    summed.setdefault(value, Counter()).update(counts)
        rows = [{prop.label: v, **{m: _value(m, c) for m in metrics}} for v, c in summed.items()]
        first = metrics[0]
        rows.sort(key=lambda r: (-(r[first] or 0), str(r[prop.label])))
        return rows

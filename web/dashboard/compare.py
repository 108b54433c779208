"""The overview against the previous period: the same number of days just before the range.

For a range of N days from ``start``, the previous period is the N days ending the day
before ``start``. Its headline figures are read through the same helpers as the range's
(``results.overview`` and ``traffic.read``), summed the same way (users as user-days),
and each figure gets a delta:

- counts, pages per visit and mean duration: the relative change, "+12% vs previous 7 days";
  "new" when the previous period had 0 and this one has some;
- bounce rate, itself a share: the change in percentage points, "+3.1 pts vs previous 7 days";
- nothing when either period has no result for the figure.
"""

from __future__ import annotations

from datetime import date, timedelta

from web.dashboard import results, traffic

# (key, label, kind): the overview's headline figures, in order. kind as in tables.Column.
FIGURES = (
    ("events", "Events", "int"),
    ("pageviews", "Page views", "int"),
    ("users", "Users (user-days)", "int"),
    ("visits", "Visits", "int"),
    ("bounce_rate", "Bounce rate", "pct"),
    ("pages_per_visit", "Pages per visit", "float"),
    ("mean_duration_ms", "Mean visit duration", "ms"),
)
# a lower figure is better for these (the delta's colour)
LOWER_IS_BETTER = {"bounce_rate"}


def previous_days(start: date, n: int) -> list[str]:
    """The ``n`` days just before ``start``, oldest first."""
    return [(start - timedelta(days=n - i)).isoformat() for i in range(n)]


def _sum(per_day: list[dict], key: str) -> int | None:
    values = [d[key] for d in per_day if d.get(key) is not None]
    return sum(values) if values else None


def headline(ov: results.Overview, visits: traffic.Traffic) -> dict:
    """The figures of one period; None where it has no result."""
    out = {k: _sum(ov.per_day, k) for k in ("events", "pageviews", "users")}
    if visits.days:
        summary = traffic.summary(visits)
        out["pageviews"] = summary["pageviews"]  # the visits' own count, as the overview shows it
        out |= {k: summary[k] for k in ("visits", "bounce_rate", "pages_per_visit", "mean_duration_ms")}
        if out["users"] is None:
            out["users"] = summary["visitors"]
    return out


def delta(current: float | None, previous: float | None, kind: str, days: int) -> dict | None:
    """{"text", "direction": up | down | same | new} or None when there is nothing to compare."""
    if current is None or previous is None:
        return None
    period = f"vs previous {days} day" + ("s" if days != 1 else "")
    if kind == "pct":  # a share: the difference in percentage points
        points = (current - previous) * 100
        if round(points, 1) == 0:
            return {"text": f"no change {period}", "direction": "same"}
        return {"text": f"{points:+.1f} pts {period}", "direction": "up" if points > 0 else "down"}
    if previous == 0:
        if current == 0:
            return {"text": f"no change {period}", "direction": "same"}
        return {"text": f"new {period}", "direction": "new"}
    change = (current - previous) / previous
    if round(change * 100) == 0:
        return {"text": f"no change {period}", "direction": "same"}
    return {"text": f"{change:+.0%} {period}", "direction": "up" if change > 0 else "down"}


def compare(reader: results.Results, token: str, days: list[str], ov: results.Overview, visits: traffic.Traffic):
    """What the overview needs: the figures with their deltas, the previous period's days
    (for the chart) and a line naming the previous period."""
    prev_days = previous_days(date.fromisoformat(days[0]), len(days))
    prev_ov = results.overview(reader, token, prev_days)
    prev_visits = traffic.read(reader, token, prev_days)
    now, before = headline(ov, visits), headline(prev_ov, prev_visits)
    figures = []
    for key, label, kind in FIGURES:
        if now.get(key) is None:
            continue
        d = delta(now[key], before.get(key), kind, len(days))
        if d is not None:
            better = d["direction"] in ("up", "new")
            d["good"] = None if d["direction"] == "same" else better != (key in LOWER_IS_BETTER)
        figures.append({"key": key, "label": label, "kind": kind, "value": now[key], "delta": d})
    has_previous = any(v is not None for v in before.values())
    note = (
        f"Compared with the previous {len(days)} day(s), {prev_days[0]} to {prev_days[-1]}."
        if has_previous
        else f"No analysis results for the previous {len(days)} day(s) ({prev_days[0]} to {prev_days[-1]}) "
        "to compare with."
    )
    return {
        "figures": figures,
        "previous_per_day": prev_ov.per_day if has_previous else None,
        "previous_note": note,
    }

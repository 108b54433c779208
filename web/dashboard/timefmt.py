"""Times as people read them: "2026-12-02 14:03:12 UTC", "42 s ago", "in 12 min".

Stored times are ISO-8601 with microseconds (``2026-12-02T14:03:12.239881+00:00`` or
``...Z``); the pages show them to the second, in UTC, which is what the days are in.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse(value: datetime | str | None) -> datetime | None:
    """A stored time (ISO-8601 text or a datetime) as an aware UTC datetime, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_text(value: datetime | str | None) -> str:
    """``2026-12-02 14:03:12 UTC``; an unreadable value is shown as it is."""
    parsed = parse(value)
    if parsed is None:
        return "" if value is None else str(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A duration, rounded to what matters: 42 s, 12 min, 3 h 5 min, 2 days."""
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def ago(value: datetime | str | None, now: datetime) -> str:
    """``42 s ago`` (``in the future`` for a clock ahead of ours), or empty when unknown."""
    parsed = parse(value)
    if parsed is None:
        return ""
    seconds = (now - parsed).total_seconds()
    return f"{span(seconds)} ago" if seconds >= -1 else f"in {span(-seconds)} (a clock ahead of this one)"

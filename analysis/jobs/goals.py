"""Goals: custom events and defined goals, with the share of users who reach them.

* ``events``: every ``custom`` event name with its ``count`` and unique ``users``;
* ``users``: the site's unique users of the day (any event type), the denominator of a
  conversion rate (users with the goal / users);
* a defined goal (``analysis.definitions.Goal``: ``url:PATTERN`` page views, matched like
  funnel steps, or ``event:NAME``) gets its ``count`` and ``users`` per token and day.
"""

from __future__ import annotations

from typing import Any

from analysis.definitions import Goal
from analysis.engines import api
from analysis.jobs.funnels import matches


def custom_events(events: Any) -> Any:
    """token, day, name, count, users."""
    F = api(events).F
    custom = events.filter((F.col("type") == "custom") & F.col("name").isNotNull() & (F.col("name") != ""))
    return custom.groupBy("token", "day", "name").agg(
        F.count(F.lit(1)).alias("count"), F.countDistinct("user_key").alias("users")
    )


def users(events: Any) -> Any:
    """token, day, users."""
    F = api(events).F
    return events.groupBy("token", "day").agg(F.countDistinct("user_key").alias("users"))


def reached(events: Any, goal: Goal) -> Any:
    """token, day, count, users: the events matching ``goal`` and the users who had one."""
    F = api(events).F
    if goal.token is not None:
        events = events.filter(F.col("token") == goal.token)
    return (
        events.filter(matches(goal.goal, F))
        .groupBy("token", "day")
        .agg(F.count(F.lit(1)).alias("count"), F.countDistinct("user_key").alias("users"))
    )


def conversion(users_with: int, all_users: int) -> float | None:
    return users_with / all_users if all_users else None

"""Funnels: how many users go through ordered steps within a time window.

For each user and day, every occurrence of step 1 is a possible start. From a start,
each next step is the user's first matching event strictly after the previous step
and no later than ``window_seconds`` after the start (taking the earliest match is
never worse for reaching later steps). A user counts with the start that reaches the
most steps, the earliest such start on a tie. Times are the client's ``timestamp``.

Output per token, day and step: ``users`` reaching the step and ``median_ms`` from the
previous step among them. Conversions are ratios of ``users`` (``analysis.run``).
"""

from __future__ import annotations

from typing import Any

from analysis.definitions import Funnel, Step
from analysis.engines import api

USER = ("token", "day", "user_key")


def matches(step: Step, F: Any) -> Any:
    """A column: does the event match ``step``?"""
    if step.url is not None:
        atomic = F.__name__.startswith("pyspark")  # Java's regex engine backtracks; RE2 does not
        return (F.col("type") == "pageview") & F.col("page").rlike(step.regex(atomic=atomic))
    return (F.col("type") == "custom") & (F.col("name") == step.event)


def paths(events: Any, funnel: Funnel) -> Any:
    """The best path per user: token, day, user_key, t1 .. tN (null past the last step reached)."""
    a = api(events)
    F, W = a.F, a.Window
    if funnel.token is not None:
        events = events.filter(F.col("token") == funnel.token)
    window_ms = funnel.window_seconds * 1000
    out = events.filter(matches(funnel.steps[0], F)).select(*USER, F.col("ts_ms").alias("t1")).distinct()
    for k in range(2, len(funnel.steps) + 1):
        prev, cur = f"t{k - 1}", f"t{k}"
        step = events.filter(matches(funnel.steps[k - 1], F)).select(*USER, F.col("ts_ms").alias(cur))
        reached = (
            out.filter(F.col(prev).isNotNull())
            .join(step, list(USER))
            .filter((F.col(cur) > F.col(prev)) & (F.col(cur) <= F.col("t1") + window_ms))
            .groupBy(*USER, "t1")
            .agg(F.min(cur).alias(cur))
        )
        out = out.join(reached, [*USER, "t1"], "left")
    steps = [f"t{k}" for k in range(1, len(funnel.steps) + 1)]
    depth = sum((F.when(F.col(t).isNotNull(), 1).otherwise(0) for t in steps[1:]), F.lit(1))
    best = W.partitionBy(*USER).orderBy(depth.desc(), F.col("t1").asc())
    return out.withColumn("_n", F.row_number().over(best)).filter(F.col("_n") == 1).drop("_n")


def steps(events: Any, funnel: Funnel) -> Any:
    """token, day, then per step k (from 1): ``users_k`` reaching it in order, ``median_ms_k``,
    and ``matched_k``, the users with any event that matches the step, in any order. Every
    token-day with events has a row, so a step that matches nothing shows as ``matched_k = 0``."""
    F = api(events).F
    if funnel.token is not None:
        events = events.filter(F.col("token") == funnel.token)
    n = len(funnel.steps)
    aggs, users = [], []
    for k in range(1, n + 1):
        aggs.append(F.count(F.col(f"t{k}")).alias(f"users_{k}"))
        users.append(F.coalesce(F.col(f"users_{k}"), F.lit(0)).cast("long").alias(f"users_{k}"))
        if k > 1:
            gap = (F.col(f"t{k}") - F.col(f"t{k - 1}")).cast("double")
            aggs.append(F.percentile(gap, 0.5).alias(f"median_ms_{k}"))
            users.append(F.col(f"median_ms_{k}"))
    matched = [
        F.countDistinct(F.when(matches(step, F), F.col("user_key"))).alias(f"matched_{k}")
        for k, step in enumerate(funnel.steps, start=1)
    ]
    reached = paths(events, funnel).groupBy("token", "day").agg(*aggs)
    return (
        events.groupBy("token", "day")
        .agg(*matched)
        .join(reached, ["token", "day"], "left")
        .select("token", "day", *users, *(F.col(f"matched_{k}") for k in range(1, n + 1)))
    )


def unmatched(step: Step) -> str:
    """What a step that matched nothing did not find."""
    return "matched no page view" if step.url is not None else f"matched no custom event named {step.event!r}"


def summarise(row: dict, funnel: Funnel) -> dict:
    """One token-day's result document from a row of :func:`steps`."""
    out, warnings = [], []
    first = row["users_1"]
    prev = None
    for k, step in enumerate(funnel.steps, start=1):
        users, matched = row[f"users_{k}"], row.get(f"matched_{k}", 0)
        out.append(
            {
                "step": k,
                "label": step.label(),
                "users": users,
                "matched_users": matched,
                "conversion_from_previous": (users / prev if prev else None) if k > 1 else 1.0,
                "conversion_from_start": users / first if first else None,
                "median_ms_from_previous": row.get(f"median_ms_{k}"),
            }
        )
        if not matched:
            warnings.append(f"step {k} ({step.label()}) {unmatched(step)} on this day")
        prev = users
    return {"funnel": funnel.to_json(), "steps": out, "warnings": warnings}


def unmatched_steps(results: dict[tuple[str, str, str], dict]) -> list[str]:
    """Over every day of a run's results ({(job, token, day): data}): one line per funnel step
    that matched nothing on a site, so a pattern that can never match is not silent."""
    days: dict[tuple[str, str], list[str]] = {}
    matched: dict[tuple[str, str], dict[int, int]] = {}
    labels: dict[tuple[str, str], dict[int, str]] = {}
    for (job, token, day), data in sorted(results.items()):
        for f in data.get("funnels", []) if job == "funnels" else []:
            key = (f["funnel"]["name"], token)
            days.setdefault(key, []).append(day)
            for s in f["steps"]:
                matched.setdefault(key, {}).setdefault(s["step"], 0)
                matched[key][s["step"]] += s.get("matched_users", 1)
                labels.setdefault(key, {})[s["step"]] = s["label"]
    out = []
    for (name, token), found in sorted(matched.items()):
        span = days[(name, token)]
        when = f"on {span[0]}" if len(span) == 1 else f"from {span[0]} to {span[-1]}"
        for k, n in sorted(found.items()):
            if n == 0:
                out.append(f"funnel {name}, site {token}: step {k} ({labels[(name, token)][k]}) matched nothing {when}")
    return out

"""Experiments: users exposed and converted per variant. The statistics are in ``analysis.stats``.

A user belongs to the variant of their first exposure of the day (users exposed to
more than one variant are counted in ``multi_variant`` and stay in their first). A user
converts when a goal event follows their first exposure (same or later millisecond) on
the same day.
"""

from __future__ import annotations

from typing import Any

from analysis.definitions import Experiment
from analysis.engines import api
from analysis.jobs.funnels import matches

USER = ("token", "day", "user_key")


def first_exposures(events: Any, experiment: Experiment) -> Any:
    """token, day, user_key, variant, ts_ms, multi: each exposed user's first exposure of the
    day, and 1 in ``multi`` when they saw more than one variant that day."""
    a = api(events)
    F, W = a.F, a.Window
    if experiment.token is not None:
        events = events.filter(F.col("token") == experiment.token)
    exposures = events.filter(
        (F.col("type") == "exposure") & (F.col("name") == experiment.name) & F.col("variant").isNotNull()
    )
    first = W.partitionBy(*USER).orderBy("ts_ms", "event_id")
    user = W.partitionBy(*USER)
    multi = F.when(F.min("variant").over(user) != F.max("variant").over(user), 1).otherwise(0)
    return (
        exposures.select(*USER, "variant", "ts_ms", F.row_number().over(first).alias("_n"), multi.alias("multi"))
        .filter(F.col("_n") == 1)
        .drop("_n")
    )


def counts(events: Any, experiment: Experiment) -> Any:
    """token, day, variant, exposed, converted, multi_variant."""
    F = api(events).F
    if experiment.token is not None:
        events = events.filter(F.col("token") == experiment.token)
    per_user = first_exposures(events, experiment)
    goals = events.filter(matches(experiment.goal, F)).select(*USER, F.col("ts_ms").alias("_tg"))
    converted = (
        per_user.join(goals, list(USER))
        .filter(F.col("_tg") >= F.col("ts_ms"))
        .select(*USER)
        .distinct()
        .withColumn("_conv", F.lit(1))
    )
    return (
        per_user.join(converted, list(USER), "left")
        .groupBy("token", "day", "variant")
        .agg(
            F.count(F.lit(1)).alias("exposed"),
            F.count(F.col("_conv")).alias("converted"),
            F.sum("multi").cast("long").alias("multi_variant"),
        )
    )

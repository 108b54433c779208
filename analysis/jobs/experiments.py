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


def counts(events: Any, experiment: Experiment) -> Any:
    """token, day, variant, exposed, converted, multi_variant."""
    a = api(events)
    F, W = a.F, a.Window
    if experiment.token is not None:
        events = events.filter(F.col("token") == experiment.token)
    exposures = events.filter(
        (F.col("type") == "exposure") & (F.col("name") == experiment.name) & F.col("variant").isNotNull()
    )
    first = W.partitionBy(*USER).orderBy("ts_ms", "event_id")
    per_user = exposures.select(
        *USER,
        "variant",
        "ts_ms",
        F.row_number().over(first).alias("_n"),
        F.min("variant").over(W.partitionBy(*USER)).alias("_vmin"),
        F.max("variant").over(W.partitionBy(*USER)).alias("_vmax"),
    ).filter(F.col("_n") == 1)
    goals = events.filter(matches(experiment.goal, F)).select(*USER, F.col("ts_ms").alias("_tg"))
    converted = (
        per_user.join(goals, list(USER))
        .filter(F.col("_tg") >= F.col("ts_ms"))
        .select(*USER)
        .distinct()
        .withColumn("_conv", F.lit(1))
    )
    multi = F.when(F.col("_vmin") != F.col("_vmax"), 1).otherwise(0)
    return (
        per_user.join(converted, list(USER), "left")
        .groupBy("token", "day", "variant")
        .agg(
            F.count(F.lit(1)).alias("exposed"),
            F.count(F.col("_conv")).alias("converted"),
            F.sum(multi).cast("long").alias("multi_variant"),
        )
    )

"""A/B heat maps: each variant's click and movement grids, per page and viewport class.

A visitor belongs to the variant of their first exposure to the experiment that day (as in
``analysis.jobs.experiments``); all their clicks and movement of that day count for it, on
every page. The grids are those of ``analysis.jobs.heatmap`` with a ``variant`` column, so
the dashboard can sum days, draw the variants side by side and test each region
(``analysis.stats.cell_differences``). Functions take the event frame, so a frame restricted
to a segment can be passed in.
"""

from __future__ import annotations

from typing import Any

from analysis.definitions import Experiment
from analysis.engines import api
from analysis.jobs import experiments, heatmap

USER = ("token", "day", "user_key")


def exposed(events: Any, experiment: Experiment) -> Any:
    """token, day, user_key, variant: each exposed visitor's variant (first exposure of the day)."""
    return experiments.first_exposures(events, experiment).select(*USER, "variant")


def _with_variant(events: Any, experiment: Experiment, etype: str) -> Any:
    F = api(events).F
    kept = events.filter(F.col("type") == etype).drop("variant")
    return kept.join(exposed(events, experiment), list(USER))


def click_grids(events: Any, experiment: Experiment) -> Any:
    """token, day, page, viewport_class, variant, col, row, clicks."""
    return heatmap.grid(_with_variant(events, experiment, "click"), by=("variant",))


def move_grids(events: Any, experiment: Experiment) -> Any:
    """token, day, page, viewport_class, variant, col, row, moves."""
    return heatmap.move_grid(_with_variant(events, experiment, "move"), by=("variant",))

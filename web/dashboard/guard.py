"""Result documents of the wrong shape: a view says so instead of failing.

``results.Results`` already treats a missing, unreadable or non-object document as absent.
A document that is an object but whose fields are not what the analysis writes (edited by
hand, written by another tool, damaged) fails deeper, in the code that sums the days. Each
view's build runs through :func:`built`: on such a failure the view is built again with no
results, and a note above it names the days and the command that writes them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

log = logging.getLogger("logdig.dashboard")

SHAPE_ERRORS = (KeyError, TypeError, AttributeError, ValueError, IndexError)
NO_SITE = ""  # a token with no results: the view built empty


def note(start: Any, end: Any, token: str) -> str:
    return (
        f"The stored results of {start} to {end} are not in the shape this version writes "
        "(edited, written by another tool, or damaged), so they are not shown: "
        f"logdig analyze --from {start} --to {end} --token {token} writes them again."
    )


def built(f: Any, build: Callable[[Any], tuple[dict, dict]]) -> tuple[dict, dict]:
    """``build(f)``, or the view without results and a note in ``f.notes`` when the results
    of ``f``'s days are not of the shape the analysis writes."""
    try:
        return build(f)
    except SHAPE_ERRORS:
        log.exception("results of %s from %s to %s are not of the shape the analysis writes", f.token, f.start, f.end)
        said = note(f.start, f.end, f.token)
        if said not in f.notes:
            f.notes.append(said)
        context, tables = build(replace(f, token=NO_SITE))
        if "results_note" in context:
            context["results_note"] = said
        return context, tables

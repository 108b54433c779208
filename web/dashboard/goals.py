"""Goals: custom events and defined goals over a date range, and the form that defines them.

Results are the ``goals`` job's (analysis/jobs/goals.py), read through
``web.dashboard.results.Results``. Per day they hold the site's unique ``users``, every
custom event name with its ``count`` and ``users``, and each defined goal's ``count`` and
``users``. Over a range, as for funnels (``web.dashboard.conversions``):

- counts add up;
- users add up per day (user-days: a visitor seen on two days counts twice), for a goal
  and for the site alike, so a conversion rate over the range is
  user-days with the goal / the site's user-days, a ratio of like to like.

Goal definitions live in Redis through ``analysis.definitions.Definitions`` (the store the
CLI ``logdig goal`` and the scheduled analysis use), like funnels.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from web.dashboard import guard, views
from web.dashboard.tables import Column, Table
from web.dashboard.views import Filters, filters, reader, sites

USERS_NOTE = "Users are summed per day (user-days); conversion = user-days with it / the site's user-days."
# Custom event names shown: names come from browsers, and 20,000 invented ones (20 requests)
# made the page 7.4 MB, a row each
TOP_EVENTS = 200


def _definitions():
    from analysis.definitions import Definitions

    return Definitions(current_app.extensions["logdig"]["redis"])


def _label(goal: dict) -> str:
    step = goal.get("goal") or {}
    return f"url:{step['url']}" if "url" in step else f"event:{step.get('event', '')}"


def summarise(results: Any, token: str, days: list[str], defined: list | None = None) -> dict:
    """Custom events and goals summed over ``days``; ``defined`` (Goal objects) adds the
    goals defined now that have no result in the range, with zero counts."""
    users, found_days = 0, 0
    events: dict[str, Counter] = {}
    goals: dict[str, dict] = {}
    for _day, data in results.data("goals", token, days):
        found_days += 1
        users += data.get("users") or 0
        for e in data.get("events", []):
            c = events.setdefault(e["name"], Counter())
            c["count"] += e.get("count") or 0
            c["users"] += e.get("users") or 0
        for g in data.get("goals", []):
            definition = g.get("goal") or {}
            entry = goals.setdefault(definition.get("name", ""), {"count": 0, "users": 0, "days": 0})
            entry["definition"] = definition  # the latest day's
            entry["count"] += g.get("count") or 0
            entry["users"] += g.get("users") or 0
            entry["days"] += 1
    for d in defined or []:
        if d.name not in goals:
            goals[d.name] = {"count": 0, "users": 0, "days": 0, "definition": d.to_json()}

    def rate(n: int) -> float | None:
        return n / users if users else None

    ranked = sorted(events.items(), key=lambda kv: (-kv[1]["users"], -kv[1]["count"], kv[0]))
    event_rows = [
        {"name": name, "count": c["count"], "users": c["users"], "conversion": rate(c["users"])}
        for name, c in ranked[:TOP_EVENTS]
    ]
    rest = ranked[TOP_EVENTS:]
    goal_rows = [
        {
            "name": name,
            "matches": _label(g["definition"]),
            "scope": "all sites" if g["definition"].get("token") is None else "this site",
            "count": g["count"],
            "users": g["users"],
            "conversion": rate(g["users"]) if g["days"] else None,
            "days": g["days"],
        }
        for name, g in sorted(goals.items())
    ]
    return {
        "users": users,
        "days": found_days,
        "events": event_rows,
        "events_left_out": (len(rest), sum(c["count"] for _name, c in rest)),
        "goals": goal_rows,
    }


def _left_out(names: int, count: int) -> str:
    if not names:
        return ""
    return (
        f" The {TOP_EVENTS} names with most users are shown (here and in the CSV); {names} more names "
        f"({count} events) are left out: event names come from the visitors' browsers."
    )


def build_goals(f: Filters) -> tuple[dict, dict[str, Table]]:
    defined = _definitions().goals(f.token)
    found = summarise(reader(), f.token, f.days, defined)
    summed = f"Summed over {found['days']} day(s) with results; the site had {found['users']} user-days. "
    tables = {
        "custom_events": Table(
            "custom_events",
            "Custom events",
            [
                Column("name", "Event name"),
                Column("count", "Count", "int"),
                Column("users", "Users", "int"),
                Column("conversion", "Conversion", "pct"),
            ],
            found["events"],
            note=summed + USERS_NOTE + _left_out(*found["events_left_out"]),
        ),
        "goals": Table(
            "goals",
            "Goals",
            [
                Column("name", "Goal"),
                Column("matches", "Matches"),
                Column("scope", "Defined for"),
                Column("count", "Count", "int"),
                Column("users", "Users", "int"),
                Column("conversion", "Conversion", "pct"),
            ],
            found["goals"],
            note=USERS_NOTE + " A goal with no result in the range (defined since) shows no conversion.",
        ),
    }
    return {"goals": found, "defined_goals": defined}, tables


def page(form: dict | None = None, status: int = 200):
    """The page; after a refused form, ``form`` holds what was typed and the errors by field."""
    f = filters(token=(form or {}).get("values", {}).get("token") or None)
    context, tables = guard.built(f, build_goals)
    return render_template(
        "dashboard/goals.html",
        view="goals",
        f=f,
        sites=sites(),
        tables=tables,
        form=form or {"values": {}, "errors": {}},
        no_results_note=views.next_analysis(),
        **context,
    ), status


def _back():
    return redirect(url_for("dashboard.ui.goals", token=request.form.get("token") or None))


def add():
    from analysis.definitions import parse_goal, problems

    form = request.form
    doc = {
        "name": form.get("name", "").strip(),
        "goal": form.get("goal", "").strip(),
        "token": form.get("token") if form.get("scope", "site") == "site" else None,
    }
    errors = problems("goal", doc)
    if errors:
        values = {k: form.get(k, "") for k in form if k != "csrf_token"}
        count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
        flash(f"Not saved: the goal has {count}, shown beside the fields below.", "error")
        return page({"values": values, "errors": errors}, status=400)
    goal = parse_goal(doc)
    _definitions().put("goal", goal)
    flash(f"Saved goal {goal.name}. The next scheduled analysis computes it for today and yesterday.", "ok")
    return _back()


def remove():
    name = request.form.get("name", "")
    removed = _definitions().remove("goal", name)
    flash(f"Removed goal {name}." if removed else f"No goal named {name}.", "ok" if removed else "error")
    return _back()


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/goals", "goals", page)
    bp.add_url_rule("/goals/add", "goals_add", add, methods=["POST"])
    bp.add_url_rule("/goals/remove", "goals_remove", remove, methods=["POST"])

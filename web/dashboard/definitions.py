"""Funnels and experiments: their results, and forms to define and remove them.

Definitions live in Redis through ``analysis.definitions.Definitions`` (the same
store the CLI and the scheduled analysis use), so a funnel defined here is computed
by the next scheduled run, for today and yesterday.
"""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from web.dashboard import charts, conversions, guard, views
from web.dashboard.tables import Column, Table
from web.dashboard.views import Filters, filters, reader, sites


def _definitions():
    from analysis.definitions import Definitions

    return Definitions(current_app.extensions["logdig"]["redis"])


def build_funnels(f: Filters) -> tuple[dict, dict[str, Table]]:
    found = conversions.funnels(reader(), f.token, f.days)
    tables, charts_by_name = {}, {}
    for i, funnel in enumerate(found):
        name = f"funnel_{i}"
        tables[name] = Table(
            name,
            f"Funnel {funnel['name']}",
            [
                Column("step", "Step", "int"),
                Column("label", "Matches"),
                Column("users", "Users", "int"),
                Column("from_previous", "From previous step", "pct"),
                Column("from_start", "From step 1", "pct"),
            ],
            funnel["steps"],
            note=f"Users summed over {funnel['days']} day(s); a path must finish within "
            f"{funnel['definition'].get('window_seconds')} s on one day.",
        )
        charts_by_name[name] = charts.hbar_chart(
            [f"{s['step']}. {s['label']}" for s in funnel["steps"]],
            [s["from_start"] or 0 for s in funnel["steps"]],
            f"Conversion from step 1: {funnel['name']}",
            "users reaching the step",
            percent=True,
        )
    return {"funnel_charts": charts_by_name, "funnels": found}, tables


def build_experiments(f: Filters) -> tuple[dict, dict[str, Table]]:
    found = conversions.experiments(reader(), f.token, f.days)
    tables = {}
    for i, exp in enumerate(found):
        name = f"experiment_{i}"
        tables[name] = Table(
            name,
            f"Experiment {exp['name']}",
            [
                Column("variant", "Variant"),
                Column("control", "Control"),
                Column("exposed", "Users", "int"),
                Column("converted", "Converted", "int"),
                Column("rate", "Conversion", "pct"),
                Column("ci_low", "95% interval from", "pct"),
                Column("ci_high", "to", "pct"),
                Column("uplift", "Uplift", "pct"),
                Column("p_value", "p-value", "p"),
                Column("prob_beat_control", "Chance to beat control", "pct"),
            ],
            exp["variants"],
            note=f"Summed over {exp['days']} day(s).",
        )
    return {"experiments": found}, tables


def page(form: dict | None = None, status: int = 200):
    """The page; after a refused form, ``form`` holds its kind, what was typed and the errors
    by field, so that every error shows beside its field and nothing typed is lost."""
    f = filters(token=(form or {}).get("values", {}).get("token") or None)
    fctx, ftables = guard.built(f, build_funnels)
    ectx, etables = guard.built(f, build_experiments)
    defs = _definitions()
    forms = {"funnel": {"values": {}, "errors": {}}, "experiment": {"values": {}, "errors": {}}}
    if form:
        forms[form["kind"]] = form
    return render_template(
        "dashboard/definitions.html",
        view="definitions",
        f=f,
        sites=sites(),
        tables={**ftables, **etables},
        funnel_tables=list(ftables.values()),
        experiment_tables=list(etables.values()),
        defined_funnels=defs.all("funnel"),
        defined_experiments=defs.all("experiment"),
        forms=forms,
        no_results_note=views.next_analysis(),
        **fctx,
        **ectx,
    ), status


def _back():
    return redirect(url_for("dashboard.ui.definitions", token=request.form.get("token") or None))


def _weights(text: str) -> dict[str, float] | None:
    """ "control=0.5, green=0.5" -> {"control": 0.5, "green": 0.5}; empty -> None."""
    from analysis.definitions import DefinitionError

    out = {}
    for part in filter(None, (p.strip() for p in text.replace("\n", ",").split(","))):
        name, _sep, share = part.partition("=")
        try:
            out[name.strip()] = value = float(share)
            if not math.isfinite(value):
                raise ValueError(share)
        except ValueError:
            raise DefinitionError(f"weights: {part!r} is not NAME=SHARE") from None
    return out or None


def _form_doc(kind: str, form: Any) -> tuple[dict, dict[str, str]]:
    """The definition document a form describes, and the errors of fields that could not
    even be read (the weights' NAME=SHARE text)."""
    from analysis.definitions import DefinitionError, check_shares

    scope = form.get("token") if form.get("scope") == "site" else None
    if kind == "funnel":
        window = form.get("window_seconds", "").strip()
        return {
            "name": form.get("name", "").strip(),
            "steps": [s.strip() for s in form.get("steps", "").splitlines() if s.strip()],
            # ASCII digits only ("²".isdigit()) and few (int() refuses 4,300 digits): else the text,
            # which the check refuses naming the field
            "window_seconds": int(window) if re.fullmatch("[0-9]{1,12}", window) else (window or 86400),
            "token": scope,
        }, {}
    errors, weights = {}, None
    try:
        weights = _weights(form.get("weights", ""))
        check_shares(weights)
    except DefinitionError as e:
        errors["weights"] = str(e)
    return {
        "name": form.get("name", "").strip(),
        "goal": form.get("goal", "").strip(),
        "control": form.get("control", "").strip() or "control",
        "weights": weights,
        "token": scope,
    }, errors


def add():
    from analysis.definitions import PARSERS, problems

    form = request.form
    kind = form.get("kind")
    if kind not in PARSERS:
        flash("Not saved: unknown kind of definition.", "error")
        return _back()
    doc, errors = _form_doc(kind, form)
    errors = {**problems(kind, doc), **errors}
    if errors:
        # the page again, with every error beside its field and what was typed kept
        values = {k: form.get(k, "") for k in form if k != "csrf_token"}
        count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
        flash(f"Not saved: the {kind} has {count}, shown beside the fields below.", "error")
        return page({"kind": kind, "values": values, "errors": errors}, status=400)
    definition = PARSERS[kind](doc)
    _definitions().put(kind, definition)
    flash(f"Saved {kind} {definition.name}. The next scheduled analysis computes it for today and yesterday.", "ok")
    return _back()


def remove():
    kind, name = request.form.get("kind", ""), request.form.get("name", "")
    try:
        removed = _definitions().remove(kind, name)
    except ValueError:
        removed = False
    flash(f"Removed {kind} {name}." if removed else f"No {kind} named {name}.", "ok" if removed else "error")
    return _back()


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/definitions", "definitions", page)
    bp.add_url_rule("/definitions/add", "definitions_add", add, methods=["POST"])
    bp.add_url_rule("/definitions/remove", "definitions_remove", remove, methods=["POST"])

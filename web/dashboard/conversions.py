"""Funnel and experiment results over a date range, and the experiment's verdict.

Read through ``web.dashboard.results.Results`` (the one reader of result documents):

- a funnel's users per step add up across days (user-days), and so do the users who
  matched each step; a step that matched nothing over the whole range gets a warning;
- experiments are summed per variant and their statistics recomputed with the analysis'
  own ``analysis.stats.experiment_result``, so one code computes them;
- the verdict names the variant that is ahead by conversion rate and its chance to beat
  control, for a winner, a loser and a tie.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from web.dashboard.results import Results

# Variants of one experiment shown: a visitor can send exposures naming thousands of
# invented ones (each was a row and a warning: 5,000 made the page 2.1 MB)
MAX_VARIANTS = 20


def funnels(results: Results, token: str, days: list[str]) -> list[dict]:
    """Per funnel name: its definition (latest day's) and the users reaching each step, summed."""
    found: dict[str, dict] = {}
    for _day, data in results.data("funnels", token, days):
        for f in data.get("funnels", []):
            name = f["funnel"]["name"]
            entry = found.setdefault(name, {"users": Counter(), "matched": Counter(), "labels": {}, "days": 0})
            entry["funnel"], entry["days"] = f["funnel"], entry["days"] + 1
            for s in f["steps"]:
                entry["users"][s["step"]] += s["users"]
                # results from before matched_users: assume the step matched something
                entry["matched"][s["step"]] += s.get("matched_users", 1)
                entry["labels"][s["step"]] = s["label"]
    out = []
    for name, e in sorted(found.items()):
        first, prev, steps = e["users"].get(1, 0), None, []
        for k in sorted(e["labels"]):
            users = e["users"][k]
            from_previous = (users / prev if prev else None) if k > 1 else 1.0
            steps.append(
                {
                    "step": k,
                    "label": e["labels"][k],
                    "users": users,
                    "from_previous": from_previous,
                    "from_start": users / first if first else None,
                }
            )
            prev = users
        warnings = [
            f"Step {k} ({e['labels'][k]}) matched nothing in this range: "
            + (
                "no page view's address matches it (pages are compared without query string, "
                "fragment or trailing slash)."
                if e["labels"][k].startswith("url ")
                else "no custom event has that name."
            )
            for k in sorted(e["labels"])
            if not e["matched"][k]
        ]
        out.append({"name": name, "definition": e["funnel"], "steps": steps, "days": e["days"], "warnings": warnings})
    return out


def experiments(results: Results, token: str, days: list[str]) -> list[dict]:
    """Per experiment: variant counts summed over the days, statistics recomputed."""
    from analysis.stats import experiment_result

    found: dict[str, dict] = {}
    for _day, data in results.data("experiments", token, days):
        for x in data.get("experiments", []):
            name = x["experiment"]["name"]
            entry = found.setdefault(name, {"counts": defaultdict(Counter), "days": 0})
            entry["definition"], entry["days"] = x["experiment"], entry["days"] + 1
            for v in x.get("variants", []):
                for k in ("exposed", "converted", "multi_variant"):
                    entry["counts"][v["variant"]][k] += v.get(k) or 0
    out = []
    for name, e in sorted(found.items()):
        d = e["definition"]
        rows, left_out = _most_exposed(
            [{"variant": v, **c} for v, c in e["counts"].items()], d.get("control", "control")
        )
        result = experiment_result(rows, d.get("control", "control"), d.get("weights"))
        if left_out:
            result["warnings"].append(
                f"{len(left_out)} more variants ({sum(r['exposed'] for r in left_out)} users) are left out: only "
                f"control and the {MAX_VARIANTS - 1} others with most users are shown and counted here (variant "
                "names come from the visitors' browsers, so anyone can send new ones)."
            )
        out.append({"name": name, "definition": d, "days": e["days"], **result, "verdict": verdict(result, d)})
    return out


def _most_exposed(rows: list[dict], control: str) -> tuple[list[dict], list[dict]]:
    """(control and the MAX_VARIANTS - 1 other variants with most users, the rest)."""
    rows = sorted(rows, key=lambda r: (r["variant"] != control, -r["exposed"], str(r["variant"])))
    return rows[:MAX_VARIANTS], rows[MAX_VARIANTS:]


def _chance(prob: float) -> str:
    """A probability as a percentage that never rounds to a certainty."""
    if prob > 0.99:
        return "over 99%"
    if prob < 0.01:
        return "under 1%"
    return f"{prob:.0%}"


def verdict(result: dict, definition: dict) -> str:
    """One plain sentence about the experiment: which variant is ahead (by conversion rate),
    the chance each one beats control, and whether the difference can be trusted yet."""
    control = definition.get("control", "control")
    ctrl = next((v for v in result["variants"] if v["control"]), None)
    others = [v for v in result["variants"] if not v["control"]]
    if ctrl is None:
        return f"No verdict: nobody was exposed to the control variant {control!r} yet."
    if not others:
        return "No verdict: only the control variant has users so far."
    if not any(v.get("converted") for v in result["variants"]):
        goal = definition.get("goal") or {}
        what = f"url {goal['url']}" if "url" in goal else f"event {goal.get('event', '?')}"
        return (
            f"No visitor reached the goal ({what}) in these days: check that it can match "
            "(a URL pattern starting with / matches that path on any host; an event goal, the name "
            "your page sends with logdig.track)."
        )
    if any(w.startswith("sample ratio mismatch") for w in result["warnings"]):
        return "Do not trust these numbers yet: the variants' sizes are off (sample ratio mismatch)."
    if ctrl["rate"] is None or any(v["rate"] is None or v.get("prob_beat_control") is None for v in others):
        return "No verdict yet: not enough data."
    small = any(w.startswith("small sample") for w in result["warnings"])
    best = max(others, key=lambda v: (v["rate"], v["prob_beat_control"]))
    clear = best["p_value"] < 0.05 and not small
    caveat = (
        "the difference is unlikely to be chance."
        if clear
        else "not a clear result yet" + (": the sample is still small." if small else f" (p = {best['p_value']:.3g}).")
    )
    if best["rate"] > ctrl["rate"]:
        return (
            f"{best['variant']!r} is ahead of {control!r}: it beats it with probability "
            f"{_chance(best['prob_beat_control'])} ({best['rate']:.1%} against {ctrl['rate']:.1%}); {caveat}"
        )
    if best["rate"] == ctrl["rate"]:
        tied = " and ".join(repr(v["variant"]) for v in others if v["rate"] == ctrl["rate"])
        return f"{tied} and {control!r} are tied: both convert {ctrl['rate']:.1%}, so there is no winner."
    # every variant converts worse than control: the one closest to it first
    behind = sorted(others, key=lambda v: -v["prob_beat_control"])
    chances = ", ".join(
        f"{v['variant']!r} beats it with probability {_chance(v['prob_beat_control'])} "
        f"({v['rate']:.1%} against {ctrl['rate']:.1%})"
        for v in behind
    )
    return f"{control!r} is ahead: {chances}; {caveat}"

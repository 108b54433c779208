"""The experiment verdict names the variant that is actually ahead, for a winner, a loser
and a tie (no browser: the sentence is built from the summed counts)."""

from __future__ import annotations

from analysis.stats import experiment_result
from web.dashboard.conversions import verdict

DEFINITION = {"name": "hero", "control": "control"}


def _verdict(counts: dict[str, tuple[int, int]]) -> tuple[str, dict]:
    rows = [{"variant": v, "exposed": n, "converted": c} for v, (n, c) in counts.items()]
    result = experiment_result(rows, "control")
    by_name = {v["variant"]: v for v in result["variants"]}
    return verdict(result, DEFINITION), by_name


def test_a_losing_variant_is_not_called_the_best_one():
    # What the site owner saw: bold converted 9.8%, control 15.7%, and the page said
    # "the best variant, 'bold', beats 'control' with probability 19%".
    text, v = _verdict({"control": (51, 8), "bold": (51, 5)})
    prob = v["bold"]["prob_beat_control"]
    assert prob < 0.5
    assert text.startswith(f"'control' is ahead: 'bold' beats it with probability {prob:.0%}"), text
    assert "best variant" not in text


def test_every_variant_behind_control_is_named_with_its_chance():
    text, v = _verdict({"control": (400, 80), "bold": (400, 60), "green": (400, 70)})
    assert text.startswith("'control' is ahead:"), text
    for name in ("bold", "green"):
        assert f"'{name}' beats it with probability {v[name]['prob_beat_control']:.0%}" in text, text
    # the one closest to control first
    assert text.index("'green'") < text.index("'bold'")


def test_a_winning_variant_is_named_with_its_chance_to_beat_control():
    text, v = _verdict({"control": (1000, 100), "bold": (1000, 130)})
    prob = v["bold"]["prob_beat_control"]
    assert 0.9 < prob < 0.99
    assert text.startswith(f"'bold' is ahead of 'control': it beats it with probability {prob:.0%}"), text
    assert "unlikely to be chance" in text  # p < 0.05 with enough users


def test_the_leader_among_several_variants_is_the_one_converting_best():
    text, _ = _verdict({"control": (500, 50), "bold": (500, 40), "green": (500, 65)})
    assert text.startswith("'green' is ahead of 'control'"), text


def test_a_tie_says_tied_and_names_no_winner():
    text, _ = _verdict({"control": (200, 20), "bold": (200, 20)})
    assert text.startswith("'bold' and 'control' are tied: both convert 10.0%"), text
    assert "ahead" not in text


def test_a_small_sample_is_never_called_a_clear_result():
    text, _ = _verdict({"control": (20, 2), "bold": (20, 9)})
    assert text.startswith("'bold' is ahead of 'control'"), text
    assert "small" in text and "unlikely to be chance" not in text


def test_a_goal_that_no_visitor_reached_is_questioned_not_called_a_tie():
    # A newcomer's goal url:/about.html matched nothing (pages were full addresses), and the
    # page said both variants were "tied at 0%", as if the experiment had a result.
    rows = [{"variant": v, "exposed": 40, "converted": 0} for v in ("control", "bold")]
    text = verdict(experiment_result(rows, "control"), {**DEFINITION, "goal": {"url": "/about.html"}})
    assert text.startswith("No visitor reached the goal (url /about.html) in these days"), text
    assert "tied" not in text


class _Results:
    """A stand-in for web.dashboard.results.Results: one day's experiments document."""

    def __init__(self, variants: list[dict]):
        self.doc = {"experiments": [{"experiment": DEFINITION, "variants": variants}]}

    def data(self, job, token, days):
        return [("2026-11-25", self.doc)] if job == "experiments" else []


def test_invented_variants_are_cut_to_the_ones_with_most_users():
    """Found from outside: 5,000 exposures naming invented variants of a defined experiment
    (5 requests) made the experiments page 2.1 MB and 1.6 s, a row and a warning each."""
    from web.dashboard.conversions import MAX_VARIANTS, experiments

    real = [
        {"variant": "control", "exposed": 500, "converted": 50},
        {"variant": "bold", "exposed": 480, "converted": 60},
    ]
    invented = [{"variant": f"v{i}", "exposed": 1, "converted": i % 2} for i in range(5000)]
    (exp,) = experiments(_Results(real + invented), "tok", ["2026-11-25"])
    names = [v["variant"] for v in exp["variants"]]
    assert len(names) == MAX_VARIANTS and names[:2] == ["control", "bold"], names[:5]
    left = 5000 - (MAX_VARIANTS - 2)
    assert f"{left} more variants ({left} users) are left out" in " ".join(exp["warnings"]), exp["warnings"][-1]
    assert len(exp["warnings"]) <= MAX_VARIANTS + 3

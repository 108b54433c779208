"""Experiments: counts from hand-built exposures, and statistics checked against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from analysis import run
from analysis import stats as ab
from analysis.definitions import parse_experiment
from analysis.jobs import experiments

from .conftest import event, load_events, ms_after

EXP = parse_experiment({"name": "btn", "goal": "event:purchase"})


def test_counts_from_exposures(engine, tmp_path):
    def ex(eid, user, sec, variant, name="btn"):
        return event(event_id=eid, user_key=user, type="exposure", name=name, variant=variant, timestamp=ms_after(sec))

    def buy(eid, user, sec):
        return event(event_id=eid, user_key=user, type="custom", name="purchase", timestamp=ms_after(sec))

    events = [
        ex("1", "u1", 0, "control"), buy("2", "u1", 10),  # converted
        ex("3", "u2", 100, "control"), buy("4", "u2", 50),  # bought before exposure: not converted
        ex("5", "u3", 0, "green"), ex("6", "u3", 5, "green"), buy("7", "u3", 10),  # converted once
        ex("8", "u4", 0, "green"), ex("9", "u4", 10, "control"),  # two variants: stays green
        ex("10", "u5", 0, "green", name="other"), buy("11", "u5", 1),  # another experiment
    ]  # fmt: skip
    loaded = load_events(engine, tmp_path, events)
    got = {r["variant"]: r for r in run.rows(experiments.counts(loaded.events, EXP))}
    assert (got["control"]["exposed"], got["control"]["converted"], got["control"]["multi_variant"]) == (2, 1, 0)
    assert (got["green"]["exposed"], got["green"]["converted"], got["green"]["multi_variant"]) == (2, 1, 1)


def exact_prob_beats(c_v, n_v, c_c, n_c):
    """P(B > A) for Beta posteriors, the closed form for integer parameters (Evan Miller)."""
    a_a, b_a, a_b, b_b = 1 + c_c, 1 + n_c - c_c, 1 + c_v, 1 + n_v - c_v
    i = np.arange(a_b)
    terms = special.betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - special.betaln(1 + i, b_b) - special.betaln(a_a, b_a)
    return float(np.exp(terms).sum())


CASES = [(100, 1000, 130, 1000), (12, 80, 20, 95), (3, 40, 1, 38), (250, 5000, 280, 5100), (0, 50, 2, 50)]


@pytest.mark.parametrize(("c_c", "n_c", "c_v", "n_v"), CASES)
def test_statistics_match_scipy(c_c, n_c, c_v, n_v):
    result = ab.experiment_result(
        [{"variant": "control", "exposed": n_c, "converted": c_c}, {"variant": "v", "exposed": n_v, "converted": c_v}],
        control="control",
    )
    ctrl, var = result["variants"]
    assert ctrl["control"] and not var["control"]
    # two-proportion z-test == 2x2 chi-square without continuity correction
    table = [[c_v, n_v - c_v], [c_c, n_c - c_c]]
    if min(c_c + c_v, n_c + n_v - c_c - c_v) > 0:
        assert var["p_value"] == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, abs=1e-9)
    # Wilson interval from the normal quantile
    z = stats.norm.ppf(0.975)
    for item, (c, n) in ((ctrl, (c_c, n_c)), (var, (c_v, n_v))):
        p = c / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert item["ci_low"] == pytest.approx(max(0.0, centre - half), abs=1e-9)
        assert item["ci_high"] == pytest.approx(min(1.0, centre + half), abs=1e-9)
        assert item["rate"] == p
    assert var["prob_beat_control"] == pytest.approx(exact_prob_beats(c_v, n_v, c_c, n_c), abs=1e-7)
    if c_c:
        assert var["uplift"] == pytest.approx((c_v / n_v - c_c / n_c) / (c_c / n_c), abs=1e-12)
    assert result["srm_p_value"] == pytest.approx(stats.chisquare([n_c, n_v]).pvalue, abs=1e-12)


def test_warnings():
    def result(n_c, n_v, c=50, weights=None):
        rows = [
            {"variant": "control", "exposed": n_c, "converted": c},
            {"variant": "b", "exposed": n_v, "converted": c},
        ]
        return ab.experiment_result(rows, "control", weights)["warnings"]

    assert result(1000, 990) == []
    assert any("sample ratio mismatch" in w for w in result(1000, 800))
    assert not any("sample ratio" in w for w in result(1000, 3000, weights={"control": 1, "b": 3}))
    assert any("small sample in 'b'" in w for w in result(1000, 60, c=20))
    rows = [{"variant": "b", "exposed": 500, "converted": 20}]
    assert any("no users in the control" in w for w in ab.experiment_result(rows, "control")["warnings"])

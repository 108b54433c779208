"""The A/B heat map's difference test (analysis.stats.cell_differences): seeded A/A runs mark
no block in at least 95% of runs, and a planted difference is found where it was planted."""

from __future__ import annotations

from analysis.stats import cell_differences
from analysis.testdata import ab_click_grids

RUNS = 40


def test_aa_data_marks_no_block_in_at_least_95_percent_of_seeded_runs():
    marked = [s for s in range(RUNS) if any(r["significant"] for r in cell_differences(*ab_click_grids(s)))]
    assert len(marked) <= RUNS * 0.05, marked


def test_a_planted_difference_is_found_where_it_was_planted():
    for seed in range(10):
        found = [r for r in cell_differences(*ab_click_grids(seed, planted=0.03)) if r["significant"]]
        planted = [r for r in found if (r["col"], r["row"]) == (30, 20)]
        assert planted and planted[0]["difference"] > 0, (seed, found)
        menu = [r for r in found if (r["col"], r["row"]) == (40, 0)]
        assert all(r["difference"] < 0 for r in menu)  # where the clicks came from, if marked


def test_known_answer_for_one_block_and_the_fdr_adjustment():
    # one block: control 10 of 100 clicks, variant 30 of 100; the pooled z-test by hand
    control = {(0, 0): 10, (10, 0): 90}
    variant = {(1, 1): 30, (10, 0): 70}
    rows = {(r["col"], r["row"]): r for r in cell_differences(control, variant)}
    a = rows[(0, 0)]
    assert (a["control"], a["variant"], a["cols"], a["rows"]) == (10, 30, 5, 5)
    # p = 0.2, se = sqrt(0.2 * 0.8 * 0.02) = 0.056569, z = 0.2 / se = 3.5355 -> p = 4.07e-4
    assert abs(a["p_value"] - 4.0695e-4) < 1e-7
    # the other block: 90 against 70 of 100, the same |z|; BH over m = 2 equal p-values: q = p * 2 / 2
    b = rows[(10, 0)]
    assert abs(b["p_value"] - a["p_value"]) < 1e-15 and b["difference"] < 0
    assert abs(a["q_value"] - a["p_value"]) < 1e-15
    # three blocks, one of them plain: q of the smallest p is p * 3 / 1 when the others are larger
    c = cell_differences({(0, 0): 10, (10, 0): 90, (20, 0): 50}, {(0, 0): 10, (10, 0): 90, (20, 0): 80})
    by = sorted(c, key=lambda r: r["p_value"])
    assert abs(by[0]["q_value"] - min(1.0, by[0]["p_value"] * 3, by[1]["p_value"] * 3 / 2, by[2]["p_value"])) < 1e-12
    assert a["significant"] and b["significant"]


def test_blocks_with_too_few_clicks_or_an_empty_arm_are_not_tested():
    assert cell_differences({}, {(0, 0): 50}) == []
    assert cell_differences({(0, 0): 4}, {(0, 0): 5}) == []  # 9 clicks: under the minimum

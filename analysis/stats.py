"""A/B statistics on aggregated counts, in Python with scipy.

Per variant: conversion rate with a 95% Wilson score interval; against control: the
relative uplift, the absolute difference, a two-sided two-proportion z-test (pooled
standard error; the same p-value as a 2x2 chi-square without continuity correction)
and the Bayesian probability of beating control with uniform Beta(1, 1) priors,
integrated numerically. The experiment as a whole gets a sample-ratio-mismatch test:
a chi-square goodness-of-fit of the exposed counts against the intended split.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special, stats

CONFIDENCE = 0.95
MIN_EXPOSED = 100  # below this many users a variant's rate is too noisy to act on
MIN_OUTCOMES = 5  # converted and not converted each at least this (normal approximation)
SRM_ALPHA = 0.001  # the usual sample-ratio-mismatch threshold: chance alone rarely goes below


def wilson(converted: int, exposed: int) -> tuple[float, float] | tuple[None, None]:
    if exposed <= 0:
        return None, None
    ci = stats.binomtest(converted, exposed).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def z_test(c1: int, n1: int, c2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (c1 + c2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (c1 / n1 - c2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


def prob_beats(c_v: int, n_v: int, c_c: int, n_c: int) -> float | None:
    """P(rate_variant > rate_control) under Beta(1 + c, 1 + n - c) posteriors."""
    if n_v <= 0 or n_c <= 0:
        return None
    av, bv = 1 + c_v, 1 + n_v - c_v
    ac, bc = 1 + c_c, 1 + n_c - c_c
    lo, hi = float(special.betaincinv(av, bv, 1e-12)), float(special.betainccinv(av, bv, 1e-12))
    log_norm = special.betaln(av, bv)

    # the integrand through scipy.special's scalar functions: a frozen scipy.stats.beta checks its
    # arguments on every call, which cost ~1 s of a full run (quad calls it thousands of times)
    def integrand(x: float) -> float:
        density = math.exp((av - 1) * math.log(x) + (bv - 1) * math.log1p(-x) - log_norm)
        return density * special.betainc(ac, bc, x)

    value, _ = integrate.quad(integrand, lo, hi, limit=200, epsabs=1e-13, epsrel=1e-10)
    return min(1.0, max(0.0, float(value)))


def srm_p_value(exposed: dict[str, int], weights: dict[str, float] | None) -> float | None:
    names = sorted(weights) if weights else sorted(exposed)
    if len(names) < 2:
        return None
    observed = [exposed.get(n, 0) for n in names]
    total = sum(observed)
    if total == 0:
        return None
    w = [weights[n] for n in names] if weights else [1.0] * len(names)
    expected = [total * x / sum(w) for x in w]
    return float(stats.chisquare(observed, expected).pvalue)


def experiment_result(rows: list[dict], control: str, weights: dict[str, float] | None = None) -> dict:
    """The result document for one experiment, token and day from rows of variant counts."""
    by_variant = {r["variant"]: r for r in rows}
    warnings = []
    ctrl = by_variant.get(control)
    if ctrl is None:
        warnings.append(f"no users in the control variant {control!r}")
    if weights:
        unknown = sorted(set(by_variant) - set(weights))
        if unknown:
            warnings.append(f"variants not in the weights: {', '.join(unknown)}")
    variants = []
    for name in sorted(by_variant, key=lambda v: (v != control, v)):
        r = by_variant[name]
        n, c = int(r["exposed"]), int(r["converted"])
        low, high = wilson(c, n)
        item = {
            "variant": name,
            "control": name == control,
            "exposed": n,
            "converted": c,
            "multi_variant": int(r.get("multi_variant") or 0),
            "rate": c / n if n else None,
            "ci_low": low,
            "ci_high": high,
        }
        if ctrl is not None and name != control:
            nc, cc = int(ctrl["exposed"]), int(ctrl["converted"])
            pc = cc / nc if nc else None
            item["difference"] = (c / n - pc) if n and pc is not None else None
            item["uplift"] = (c / n - pc) / pc if n and pc else None
            item["p_value"] = z_test(c, n, cc, nc)
            item["prob_beat_control"] = prob_beats(c, n, cc, nc)
        if n < MIN_EXPOSED or c < MIN_OUTCOMES or n - c < MIN_OUTCOMES:
            warnings.append(
                f"small sample in {name!r}: {n} exposed, {c} converted "
                f"(want {MIN_EXPOSED}+ exposed and {MIN_OUTCOMES}+ each of converted and not)"
            )
        variants.append(item)
    srm = srm_p_value({k: int(v["exposed"]) for k, v in by_variant.items()}, weights)
    if srm is not None and srm < SRM_ALPHA:
        warnings.append(f"sample ratio mismatch: the variants' sizes differ more than chance allows (p = {srm:.2g})")
    return {"variants": variants, "srm_p_value": srm, "warnings": warnings}


# ---------------------------------------------------------------- A/B heat maps
BLOCK = (5, 5)  # grid cells per tested block: 10% of the width by 100 page pixels
MIN_BLOCK_CLICKS = 10  # clicks of both arms together below which a block is not tested
FDR = 0.05  # the false-discovery rate the difference map allows


def cell_differences(
    control: dict[tuple[int, int], int],
    variant: dict[tuple[int, int], int],
    block: tuple[int, int] = BLOCK,
    alpha: float = FDR,
    min_clicks: int = MIN_BLOCK_CLICKS,
) -> list[dict]:
    """Where a variant's clicks fall differently from control's, beyond chance.

    Method. ``control`` and ``variant`` are click counts per heat-map cell ``(col, row)`` of
    one page and viewport class. Cells are summed into blocks of ``block`` cells (columns,
    rows): single cells (2% of the width by 20 px) hold too few clicks to tell anything.
    For each block with at least ``min_clicks`` clicks in the two arms together, the share of
    the arm's clicks that fall in it, ``p_c = c_c / n_c`` and ``p_v = c_v / n_v`` (``n`` the
    arm's clicks on the page), is compared by the pooled two-proportion z-test
    (``z = (p_v - p_c) / sqrt(p (1 - p) (1/n_v + 1/n_c))``, ``p = (c_v + c_c) / (n_v + n_c)``,
    two-sided). The p-values of all tested blocks are adjusted by Benjamini-Hochberg
    (``scipy.stats.false_discovery_control``), and a block is ``significant`` when its
    adjusted value ``q_value`` is at most ``alpha``: among the blocks marked, the expected
    share of false discoveries is at most ``alpha``, and with no real difference anywhere
    (an A/A test) the chance of marking any block is at most ``alpha``. Clicks are taken as
    independent; one visitor clicking the same spot many times makes the test too eager.

    Returns one row per tested block, ordered by column and row: ``col, row`` (the block's
    first cell), ``cols, rows`` (its size in cells), ``control, variant`` (clicks),
    ``control_share, variant_share, difference`` (variant minus control), ``p_value``,
    ``q_value`` and ``significant``.
    """
    n_c, n_v = sum(control.values()), sum(variant.values())
    if n_c <= 0 or n_v <= 0:
        return []
    bc, br = block
    counts: dict[tuple[int, int], list[int]] = {}
    for arm, grid in enumerate((control, variant)):
        for (c, r), n in grid.items():
            counts.setdefault((c // bc, r // br), [0, 0])[arm] += n
    keys = sorted(k for k, v in counts.items() if v[0] + v[1] >= min_clicks)
    if not keys:
        return []
    cc = np.array([counts[k][0] for k in keys], dtype=float)
    cv = np.array([counts[k][1] for k in keys], dtype=float)
    pc, pv = cc / n_c, cv / n_v
    pooled = (cc + cv) / (n_c + n_v)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_v))
    z = np.divide(pv - pc, se, out=np.zeros_like(se), where=se > 0)
    p_values = 2 * stats.norm.sf(np.abs(z))
    q_values = stats.false_discovery_control(p_values, method="bh")
    return [
        {
            "col": k[0] * bc,
            "row": k[1] * br,
            "cols": bc,
            "rows": br,
            "control": int(cc[i]),
            "variant": int(cv[i]),
            "control_share": float(pc[i]),
            "variant_share": float(pv[i]),
            "difference": float(pv[i] - pc[i]),
            "p_value": float(p_values[i]),
            "q_value": float(q_values[i]),
            "significant": bool(q_values[i] <= alpha),
        }
        for i, k in enumerate(keys)
    ]

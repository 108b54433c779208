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

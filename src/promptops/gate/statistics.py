"""The statistics of the regression gate, in pure Python (no scipy: it costs a second to import).

The verdict on paired pass/fail counts is :func:`paired_verdict` (an exact test, the margin and
a half-margin guard for `regression`; Tango's interval for `ok`); the exact tests are in
:mod:`promptops.gate.exact`, their power in :mod:`promptops.gate.power`.

Two intervals for the mean paired difference B - A, both honest at small n and when few cases
differ:

- :func:`tango_interval` for pass/fail per case: Tango's (1998) score interval for the
  difference of paired proportions, with a half-unit continuity correction. With no discordant
  case it is about ±z²/(n + z²), never [0, 0].
- :func:`floored_t_interval` for graded values (scores, averaged repeats): a Student t interval
  whose variance is floored twice: as if one more case had moved each way by the largest
  observed difference (by 1, the metric's range, when no case differs), and by what the
  differing cases imply when their share is at its upper confidence bound (Wilson).

Both take a one-sided level ``a1``: the interval is [L, U] with P(L > true) <= a1 and
P(U < true) <= a1. The fixed design uses ``a1 = alpha / 2`` (a 95% interval for alpha 0.05).

Sequential looks use Lan-DeMets alpha spending with an O'Brien-Fleming-type function; each
look's nominal one-sided level comes from the group-sequential boundary that spends exactly
the function's increment at that look (numerical integration, normal approximation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from . import exact

_N = NormalDist()
CC = 0.5  # continuity correction of Tango's statistic, in cases
_EPS = 1e-12


def z_of(a1: float) -> float:
    """The standard normal quantile 1 - a1."""
    return _N.inv_cdf(1 - a1)


def _t_abs_cdf(t: float, df: int) -> float:
    """P(|T| < t) for integer degrees of freedom (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2 == 1:
        total, term = 0.0, math.cos(theta)
        if df > 1:
            total = term
            for j in range(3, df - 1, 2):
                term *= c2 * (j - 1) / j
                total += term
        return (2 / math.pi) * (theta + s * total)
    total, term = 1.0, 1.0
    for j in range(2, df - 1, 2):
        term *= c2 * (j - 1) / j
        total += term
    return s * total


def t_quantile(p: float, df: float) -> float:
    """Student t quantile for p > 0.5: exact by bisection on the closed-form distribution
    function up to 400 degrees of freedom, a Cornish-Fisher expansion beyond."""
    if df <= 0:
        return math.inf
    z = _N.inv_cdf(p)
    v = float(df)
    if v > 400:
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        return z + g1 / v + g2 / v**2 + g3 / v**3
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    target = 2 * p - 1
    lo, hi = 0.0, max(2 * z, 1.0)
    while _t_abs_cdf(hi, int(df)) < target:
        hi *= 2
    for _ in range(70):
        mid = (lo + hi) / 2
        if _t_abs_cdf(mid, int(df)) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wilson_upper(k: float, n: int, z: float) -> float:
    """Upper Wilson bound of a proportion k/n at normal quantile z."""
    if n <= 0:
        return 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denom
    return min(1.0, centre + half)


def tango_z(worse: float, better: float, n: int, d0: float) -> float:
    """Tango's score statistic for H0: difference (better - worse)/n == d0, continuity-corrected."""
    x = better - worse - n * d0
    w = -better - worse + (2 * n - better + worse) * d0
    disc = w * w + 8 * n * worse * d0 * (1 - d0)
    p21 = (-w + math.sqrt(max(disc, 0.0))) / (4 * n)
    var = n * (2 * p21 + d0 * (1 - d0))
    if var <= _EPS:
        return math.copysign(math.inf, x) if abs(x) > CC else 0.0
    return math.copysign(max(abs(x) - CC, 0.0), x) / math.sqrt(var)


def tango_interval(worse: float, better: float, n: int, a1: float) -> tuple[float, float]:
    """Score interval of the paired difference of proportions, B - A.

    ``worse``: cases A passed and B failed; ``better``: the reverse; ``n``: paired cases.
    """
    if n <= 0:
        return (-1.0, 1.0)
    z = z_of(a1)

    def root(target: float) -> float:
        lo, hi = -1.0 + 1e-12, 1.0 - 1e-12  # the statistic decreases in d0
        for _ in range(80):
            mid = (lo + hi) / 2
            if tango_z(worse, better, n, mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = root(z)
    high = root(-z)
    return (max(-1.0, low), min(1.0, high))


@dataclass
class Spread:
    """What the floored t interval used: useful for sizing."""

    mean: float
    var: float  # per-case variance after the floor
    differing: int


def floored_t(diffs: Sequence[float], a1: float) -> tuple[float, float, Spread]:
    """t interval of the mean difference with the variance floors described in the module doc:
    the largest of the sample variance, the variance with one pseudo-case moved each way by
    the largest observed difference (1 when none differs), and the variance when the share of
    differing cases is at its upper Wilson bound."""
    n = len(diffs)
    if n == 0:
        return (-1.0, 1.0, Spread(0.0, 1.0, 0))
    mean = math.fsum(diffs) / n
    nz = [d for d in diffs if abs(d) > _EPS]
    k = len(nz)
    s2 = math.fsum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    big = max((abs(d) for d in nz), default=1.0)
    aug = [*diffs, big, -big]
    aug_mean = math.fsum(aug) / len(aug)
    pseudo = math.fsum((d - aug_mean) ** 2 for d in aug) / (len(aug) - 1)
    m2 = math.fsum(d * d for d in nz) / k if k else 1.0
    rate = max(wilson_upper(k, n, z_of(a1)) * m2 - mean * mean, 0.0) * n / max(n - 1, 1)
    var = max(s2, pseudo, rate)
    half = t_quantile(1 - a1, max(n - 1, 1)) * math.sqrt(var / n)
    return (mean - half, mean + half, Spread(mean, var, k))


def floored_t_interval(diffs: Sequence[float], a1: float) -> tuple[float, float]:
    low, high, _ = floored_t(diffs, a1)
    return (low, high)


HALF_LEVEL = 0.105  # one-sided level of the half-margin guard (see beyond_half_margin)


def beyond_half_margin(worse: int, better: int, n: int, margin: float) -> bool:
    """The half-margin guard of ``regression``: Tango's score test rejects "the drop is at
    most half the margin" at one-sided level ``HALF_LEVEL``. Without it, a true drop of half
    the margin would be called a regression up to 16% of the time on a few hundred cases
    (whenever the estimate happens to reach the margin); with it, at most 10% (measured by
    exact enumeration in bench/operating_characteristics.py; the level 0.105 is the largest
    that keeps that bound on every cell there, so that little power is lost)."""
    return tango_z(worse, better, n, -margin / 2) < -z_of(HALF_LEVEL)


def paired_verdict(
    worse: int, better: int, n: int, margin: float, a1: float, significant: bool | None = None
) -> str:
    """The verdict on n paired pass/fail cases, ``worse`` of them lost by B and ``better``
    gained. ``regression``: the exact conditional test on the discordant pairs is significant
    at one-sided level ``a1`` (``significant`` overrides it, e.g. after Holm's procedure), the
    estimate is a drop of at least the margin, and the half-margin guard holds
    (:func:`beyond_half_margin`). ``ok``: Tango's lower bound lies above -margin
    (non-inferiority; the score statistic at -margin exceeds the critical value, which is the
    same as the interval's bound clearing it). Otherwise ``inconclusive``."""
    if n <= 0:
        return "inconclusive"
    if significant is None:
        significant = worse >= exact.critical_worse(worse + better, a1)
    if (
        significant
        and exact.beyond_margin((better - worse) / n, margin)
        and beyond_half_margin(worse, better, n, margin)
    ):
        return "regression"
    if margin > 0 and tango_z(worse, better, n, -margin) > z_of(a1):
        return "ok"
    return "inconclusive"


# --------------------------------------------------------------------------------------------
# Sizing of graded comparisons, and the floor of `ok` (pass/fail sizing: gate/power.py)
# --------------------------------------------------------------------------------------------


def cases_needed(
    diff: float, var: float, n: int, margin: float, a1: float, power: float = 0.8
) -> int | None:
    """Paired cases for a conclusive verdict with the given power if the observed difference
    and per-case variance held: ((z_{1-a1} + z_power) sd / gap)^2, the gap being the distance
    from the difference to -margin. None when the difference sits on the margin."""
    gap = abs(diff + margin)
    if gap <= 1e-9 or not math.isfinite(var) or var <= 0:
        return None
    z = z_of(a1) + _N.inv_cdf(power)
    return max(n + 1, math.ceil((z * z * var) / (gap * gap)))


@lru_cache(maxsize=256)
def min_cases_for_ok(margin: float, a1: float, limit: int = 10_000_000) -> int | None:
    """The fewest paired cases that can give ``ok`` at all: with no case differing, Tango's
    lower bound must rise above -margin. None when the margin is 0."""
    if margin <= 0:
        return None
    lo, hi = 1, 2
    while tango_interval(0, 0, hi, a1)[0] <= -margin:
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tango_interval(0, 0, mid, a1)[0] > -margin:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------------------------
# Sequential looks
# --------------------------------------------------------------------------------------------


def obf_spent(t: float, a1: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: the one-sided error spent by information
    fraction t, 2 (1 - Φ(z_{1-a1/2} / √t))."""
    if t <= 0:
        return 0.0
    return min(a1, 2 * (1 - _N.cdf(_N.inv_cdf(1 - a1 / 2) / math.sqrt(min(t, 1.0)))))


def look_sizes(n_max: int, looks: int, first: int = 10) -> list[int]:
    """Cumulative cases at each look: equal steps, the first at least ``first`` cases."""
    looks = max(1, min(looks, n_max))
    steps = {max(min(first, n_max), math.ceil(n_max * k / looks)) for k in range(1, looks + 1)}
    return sorted(steps)


def look_levels(sizes: Sequence[int], a1: float, exact: bool = True) -> list[float]:
    """Nominal one-sided level of each look so that the chance of crossing at look k (and not
    before) under the null is the spending function's increment (Jennison & Turnbull 2000,
    ch. 19: numerical integration over the continuation region). ``exact=False``: the
    increments themselves (a Bonferroni bound, more conservative)."""
    return list(_look_levels(tuple(sizes), a1, exact))


@lru_cache(maxsize=64)
def _look_levels(sizes: tuple[int, ...], a1: float, exact: bool) -> tuple[float, ...]:
    n_max = sizes[-1]
    spent_before, incs = 0.0, []
    for n in sizes:
        now = obf_spent(n / n_max, a1)
        incs.append(max(now - spent_before, 1e-15))
        spent_before = now
    if not exact or len(sizes) == 1:
        return tuple(max(x, 1e-12) for x in incs)
    cs = _boundaries([n / n_max for n in sizes], incs)
    return tuple(max(1 - _N.cdf(c), 1e-12) for c in cs)


def _boundaries(info: Sequence[float], incs: Sequence[float], grid: int = 1500) -> list[float]:
    """Critical values c_k of Z_k = S(t_k)/sqrt(t_k), S a standard Brownian motion, with
    P(Z_1 < c_1, ..., Z_{k-1} < c_{k-1}, Z_k >= c_k) = incs[k]."""
    import numpy as np

    erf = np.vectorize(math.erf, otypes=[float])  # numpy has no erf; scipy costs a second

    def ncdf(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = 0.5 * (1 + erf(x / math.sqrt(2)))
        return out

    out: list[float] = []
    c1 = z_of(incs[0])
    out.append(c1)
    lo = -12.0
    # density of S(t_1) on the continuation region (-inf, c1 sqrt(t1))
    t_prev = info[0]
    xs = np.linspace(lo, c1 * math.sqrt(t_prev), grid)
    dx = xs[1] - xs[0]
    dens = np.exp(-(xs**2) / (2 * t_prev)) / math.sqrt(2 * math.pi * t_prev)
    for k in range(1, len(info)):
        t = info[k]
        dt = t - t_prev
        sd = math.sqrt(dt)
        w = dens * dx

        def cross(
            c: float, xs: np.ndarray = xs, w: np.ndarray = w, t: float = t, sd: float = sd
        ) -> float:
            b = c * math.sqrt(t)
            return float(np.sum(w * (1 - ncdf((b - xs) / sd))))

        a, bnd = -2.0, 12.0
        for _ in range(60):
            mid = (a + bnd) / 2
            if cross(mid) > incs[k]:
                a = mid
            else:
                bnd = mid
        c = (a + bnd) / 2
        out.append(c)
        new_xs = np.linspace(lo * math.sqrt(t), c * math.sqrt(t), grid)
        kern = np.exp(-((new_xs[:, None] - xs[None, :]) ** 2) / (2 * dt)) / math.sqrt(
            2 * math.pi * dt
        )
        dens = kern @ w
        xs, dx, t_prev = new_xs, new_xs[1] - new_xs[0], t
    return out

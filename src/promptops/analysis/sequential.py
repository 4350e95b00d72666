"""Anytime-valid confidence sequences for the mean of a bounded variable.

``radius(n, alpha)`` is the half-width of a two-sided normal-mixture confidence sequence for
the mean of i.i.d. observations in [0, 1] (sub-Gaussian with variance proxy 1/4; Howard,
Ramdas, McAuliffe & Sekhon 2021, eq. (14)): with probability at least 1 - alpha the interval
``mean_n ± radius(n)`` holds the true mean *for every n at once*. So ``canary analyze`` can be
re-run as traffic arrives, as often as wanted, without inflating its error rate (a fixed-n
interval checked after every batch would be wrong far more often than alpha).

The mixture is tuned to be tightest near ``n_opt`` calls; any fixed choice keeps validity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

SIGMA = 0.5  # [0, 1]-valued observations are 1/2-sub-Gaussian
N_OPT = 500


def radius(n: int, alpha: float, n_opt: int = N_OPT) -> float:
    """Half-width at n observations of a two-sided level-(1 - alpha) confidence sequence."""
    if n <= 0:
        return math.inf
    a = alpha / 2  # each side
    rho2 = (-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / n_opt
    v = n * SIGMA**2
    return math.sqrt(2 * (v * rho2 + 1) / rho2 * math.log(math.sqrt(v * rho2 + 1) / a)) / n


def calls_needed(
    gap: float, n_canary: int, n_stable: int, alpha: float, limit: int = 10_000_000
) -> int | None:
    """Canary calls (at the current split) after which the two radii sum to below ``gap``;
    None when no amount of traffic decides it (``gap`` <= 0)."""
    if gap <= 0:
        return None
    share = n_stable / n_canary if n_canary else 1.0
    return first_n(
        lambda n: radius(n, alpha) + radius(max(1, round(n * share)), alpha) <= gap,
        n_canary,
        limit,
    )


def eb_interval(xs: list[float], alpha: float) -> tuple[float, float, float]:
    """(center, radius, running variance) of the predictable plug-in empirical-Bernstein
    confidence sequence for the mean of [0, 1] observations, in their arrival order
    (Waudby-Smith & Ramdas 2023, Theorem 2, two-sided). Anytime-valid like ``radius`` but
    adapts to the variance: for rare events (error rates near 0) it is far narrower."""
    log_term = math.log(2 / alpha)
    s_x = 0.0  # sum of x, for the running mean
    s_v = 0.25  # 1/4 + sum of squared deviations, for the running variance
    s_lam = s_lam_x = s_psi = 0.0
    mu_prev, var_prev = 0.5, 0.25
    for t, x in enumerate(xs, 1):
        lam = min(math.sqrt(2 * log_term / (var_prev * t * math.log(1 + t))), 0.5)
        s_lam += lam
        s_lam_x += lam * x
        v = 4 * (x - mu_prev) ** 2
        s_psi += v * (-math.log(1 - lam) - lam) / 4
        s_x += x
        mu_prev = (0.5 + s_x) / (t + 1)
        s_v += (x - mu_prev) ** 2
        var_prev = s_v / (t + 1)
    if not xs:
        return 0.5, math.inf, 0.25
    return s_lam_x / s_lam, (log_term + s_psi) / s_lam, var_prev


def mixture_radius(n: int, alpha: float, sigma: float, n_opt: int = N_OPT) -> float:
    """Half-width at n observations of Robbins' two-sided normal-mixture confidence sequence
    for the mean of i.i.d. sigma-sub-Gaussian observations (Howard et al. 2021, eq. (14));
    with ``sigma`` the running sample standard deviation it is the asymptotic confidence
    sequence of Waudby-Smith et al. (2024, "Time-uniform central limit theory", Thm. 2.2),
    valid as n grows for any distribution with a finite variance. Tuned tightest near
    ``n_opt`` (in sigma units); any choice keeps validity."""
    if n <= 0:
        return math.inf
    if sigma <= 0:
        return 0.0
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / (n_opt * sigma**2)
    v = n * sigma**2
    return math.sqrt(2 * (v * rho2 + 1) / rho2 * math.log(math.sqrt(v * rho2 + 1) / alpha)) / n


def mean_interval(xs: list[float], alpha: float) -> tuple[float, float, float]:
    """(mean, low, high): asymptotic anytime-valid interval for the mean of an unbounded
    variable (cost per call, output length), from the sample standard deviation."""
    n = len(xs)
    if n < 2:
        return (xs[0] if xs else math.nan), -math.inf, math.inf
    mean = math.fsum(xs) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    r = mixture_radius(n, alpha, sd)
    return mean, mean - r, mean + r


BETA_STRENGTH = 100.0  # the beta mixture's prior strength (a + b); tightest over ~1k-20k calls


def _log_mixture(s: int, n: int, q: float, k: float = BETA_STRENGTH) -> float:
    """log of the beta-binomial mixture martingale after s successes in n Bernoulli(q) draws:
    the Beta(qk, (1-q)k)-mixture likelihood over the null's likelihood (Robbins 1970)."""
    a, b = q * k, (1 - q) * k

    def log_beta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    return log_beta(a + s, b + n - s) - log_beta(a, b) - s * math.log(q) - (n - s) * math.log1p(-q)


def rank_bounds(n: int, q: float, alpha: float) -> tuple[int, int]:
    """[lo, hi]: the counts of n Bernoulli(q) draws the beta-binomial confidence sequence keeps
    at level 1 - alpha (valid at every n at once, by Ville's inequality). The log mixture is
    convex in the count, so the kept counts form an interval around q n."""
    limit = math.log(1 / alpha)
    mode = min(n, max(0, round(q * n)))

    def edge(inside: int, outside: int) -> int:  # the last kept count from inside toward outside
        if _log_mixture(outside, n, q) < limit:
            return outside
        while abs(outside - inside) > 1:
            mid = (inside + outside) // 2
            if _log_mixture(mid, n, q) < limit:
                inside = mid
            else:
                outside = mid
        return inside

    return edge(mode, 0), edge(mode, n)


def quantile_interval(xs: list[float], q: float, alpha: float) -> tuple[float, float, float]:
    """(estimate, low, high): anytime-valid interval for the q-quantile of a continuous
    variable (Howard & Ramdas 2022, "Sequential estimation of quantiles", Thm. 1, with a
    beta-binomial boundary). How many observations fall at or below the true quantile is a
    Binomial(n, q) count, kept in [lo, hi] at every n with probability 1 - alpha
    (:func:`rank_bounds`), so the true quantile lies between the order statistics of ranks lo
    and hi + 1. Outside the sample: -inf / inf."""
    n = len(xs)
    if n == 0:
        return math.nan, -math.inf, math.inf
    s = sorted(xs)
    lo, hi = rank_bounds(n, q, alpha)
    est = s[min(n - 1, math.ceil(q * n) - 1)]
    low = s[lo - 1] if lo >= 1 else -math.inf
    high = s[hi] if hi + 1 <= n else math.inf
    return est, low, high


def first_n(ok: Callable[[int], bool], start: int, limit: int = 10_000_000) -> int | None:
    """The smallest n >= start with ok(n), for ok monotone in n (doubling, then bisection);
    None when even ``limit`` does not do."""
    lo = hi = max(start, 1)
    while not ok(hi):
        hi *= 2
        if hi > limit:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi

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
    lo, hi = max(n_canary, 1), max(n_canary, 1)
    while radius(hi, alpha) + radius(max(1, round(hi * share)), alpha) > gap:
        hi *= 2
        if hi > limit:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if radius(mid, alpha) + radius(max(1, round(mid * share)), alpha) <= gap:
            hi = mid
        else:
            lo = mid + 1
    return hi


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

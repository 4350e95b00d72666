"""Small statistics helpers shared by summaries and comparisons (scipy/numpy, imported late)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist, quantiles


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a pass rate.

    The closed form is three lines; scipy.stats (same result) costs a second to import,
    which a fully cached eval cannot afford.
    """
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def percentiles(
    values: Sequence[float], qs: Sequence[int] = (50, 95, 99)
) -> dict[str, float | None]:
    """p50/p95/p99 with linear interpolation (numpy's default method; the stdlib's
    ``statistics.quantiles(method="inclusive")`` computes the same without importing numpy)."""
    if not values:
        return {f"p{q}": None for q in qs}
    if len(values) == 1:
        return {f"p{q}": float(values[0]) for q in qs}
    cuts = quantiles(values, n=100, method="inclusive")
    return {f"p{q}": float(cuts[q - 1]) for q in qs}


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None

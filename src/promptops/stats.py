"""Small statistics helpers shared by summaries and comparisons (scipy/numpy, imported late)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


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
    values: Sequence[float], qs: Sequence[float] = (50, 95, 99)
) -> dict[str, float | None]:
    """p50/p95/p99 (numpy's linear interpolation); None for an empty list."""
    if not values:
        return {f"p{int(q)}": None for q in qs}
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return {f"p{int(q)}": float(np.percentile(arr, q)) for q in qs}


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None

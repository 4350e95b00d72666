"""The confidence sequences for continuous metrics hold at every look: streams where the truth
is known, looked at every 100 observations, rarely (under alpha) ever exclude it."""

from __future__ import annotations

import math
import random

from promptops.analysis.sequential import (
    first_n,
    mean_interval,
    quantile_interval,
    rank_bounds,
)


def test_quantile_interval_covers_the_true_p95_at_every_look() -> None:
    alpha, streams, missed = 0.05, 60, 0
    for s in range(streams):
        rng = random.Random(s)
        xs = [rng.expovariate(1.0) for _ in range(3000)]
        truth = -math.log(0.05)  # the exponential's 95th percentile
        for n in range(100, 3001, 100):
            _, lo, hi = quantile_interval(xs[:n], 0.95, alpha)
            if not lo <= truth <= hi:
                missed += 1
                break
    assert missed / streams <= alpha


def test_quantile_interval_is_open_until_the_sample_reaches_past_it() -> None:
    xs = [float(i) for i in range(50)]
    est, lo, hi = quantile_interval(xs, 0.95, 0.05)
    assert est == 47.0 and hi == math.inf and lo < est
    big = [float(i % 1000) for i in range(20_000)]
    est, lo, hi = quantile_interval(big, 0.5, 0.05)
    assert lo < est < hi < math.inf and hi - lo < 60


def test_mean_interval_covers_a_skewed_mean_at_every_look() -> None:
    """Log-normal costs (skewed, unbounded): the asymptotic sequence still holds."""
    alpha, streams, missed = 0.05, 60, 0
    truth = math.exp(0.5 * 0.8**2)
    for s in range(streams):
        rng = random.Random(1000 + s)
        xs = [rng.lognormvariate(0, 0.8) for _ in range(3000)]
        for n in range(100, 3001, 100):
            _, lo, hi = mean_interval(xs[:n], alpha)
            if not lo <= truth <= hi:
                missed += 1
                break
    assert missed / streams <= alpha


def test_rank_bounds_hold_at_every_look_and_narrow() -> None:
    """Bernoulli(0.95) streams looked at every 50 draws: the count leaves the kept interval in
    under alpha of the streams; the interval narrows as n grows."""
    alpha, streams, missed = 0.05, 200, 0
    for seed in range(streams):
        rng = random.Random(seed)
        count = 0
        for n in range(1, 2001):
            count += rng.random() < 0.95
            if n % 50 == 0:
                lo, hi = rank_bounds(n, 0.95, alpha)
                if not lo <= count <= hi:
                    missed += 1
                    break
    assert missed / streams <= alpha
    widths = [
        (lambda b: (b[1] - b[0]) / n)(rank_bounds(n, 0.95, 0.01)) for n in (500, 5000, 50_000)
    ]
    assert widths[0] > widths[1] > widths[2] and widths[2] < 0.01


def test_first_n_finds_the_smallest_and_gives_up_past_the_limit() -> None:
    assert first_n(lambda n: n * n >= 1000, 1) == 32
    assert first_n(lambda n: n >= 5, 10) == 10
    assert first_n(lambda n: False, 1, limit=1000) is None

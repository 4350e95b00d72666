"""The hand-written statistics agree with scipy and numpy (which the eval path does not import)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.stats import binomtest

from promptops.stats import mean, percentiles, wilson_interval


@pytest.mark.parametrize(
    ("k", "n"), [(0, 1), (0, 2), (2, 2), (17, 24), (50, 100), (1, 1000), (999, 1000)]
)
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_of_nothing_is_the_whole_range() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 2000])
def test_percentiles_match_numpy_linear(n: int) -> None:
    rng = random.Random(n)
    values = [rng.expovariate(1 / 300) for _ in range(n)]
    got = percentiles(values)
    for q in (50, 95, 99):
        assert got[f"p{q}"] == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_empty_inputs() -> None:
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert mean([]) is None

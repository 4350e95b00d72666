"""The exact tests behind `regression`: the sign test on discordant pairs, the sign-flip
permutation test of graded differences, and Holm's procedure, checked against scipy and
brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from promptops.gate import exact


@pytest.mark.parametrize(
    ("worse", "better"), [(0, 0), (1, 0), (5, 0), (6, 0), (8, 1), (10, 3), (20, 8), (3, 30)]
)
def test_sign_p_is_scipys_exact_binomial_test(worse: int, better: int) -> None:
    want = 1.0 if worse + better == 0 else binomtest(worse, worse + better, 0.5, "greater").pvalue
    assert exact.sign_p(worse, better) == pytest.approx(want, rel=1e-12)


def test_critical_values_are_the_smallest_significant_counts() -> None:
    for a1 in (0.025, 0.0125, 0.05):
        for d in [*range(0, 60), 200, 399, 400, 401, 650, 1000]:
            k = exact.critical_worse(d, a1)
            if k <= d:
                assert binomtest(k, d, 0.5, "greater").pvalue <= a1
            if k > 0 and d > 0:
                assert binomtest(k - 1, d, 0.5, "greater").pvalue > a1
    # five of five lost is not significant at 2.5% (p = 1/32); six of six is (p = 1/64)
    assert exact.critical_worse(5, 0.025) == 6 and exact.critical_worse(6, 0.025) == 6


def test_sign_flip_is_exact_enumeration_at_small_n() -> None:
    diffs = [-0.5, -0.2, 0.1, -0.3, -0.4, 0.0, -0.05]
    p, method = exact.sign_flip_p(diffs)
    nz = [d for d in diffs if d != 0]
    sums = [
        sum(s * d for s, d in zip(signs, nz, strict=True))
        for signs in itertools.product((1, -1), repeat=len(nz))
    ]
    want = sum(1 for s in sums if s <= sum(nz) + 1e-12) / len(sums)
    assert method == "sign-flip exact" and p == pytest.approx(want)
    assert exact.sign_flip_p([0.0, 0.0]) == (1.0, "sign-flip exact")
    # a consistent gain is no evidence of a drop
    assert exact.sign_flip_p([0.1] * 10)[0] == 1.0


def test_sign_flip_monte_carlo_is_seeded_and_keeps_its_level() -> None:
    rng = np.random.default_rng(0)
    diffs = list(rng.uniform(-0.3, 0.2, 40))
    p1, m1 = exact.sign_flip_p(diffs, seed=4)
    p2, _ = exact.sign_flip_p(diffs, seed=4)
    assert p1 == p2 and "Monte Carlo" in m1 and "seed 4" in m1
    assert p1 >= 1 / (1 + exact.MC_FLIPS)  # never zero
    # under the null (symmetric differences) the test rejects about its level, not more
    rejections = 0
    for seed in range(200):
        r = np.random.default_rng(100 + seed)
        d = list(r.uniform(-1, 1, 20) * r.integers(0, 2, 20))
        rejections += exact.sign_flip_p(d, seed)[0] <= 0.025
    assert rejections / 200 <= 0.05


def test_holm_steps_down() -> None:
    assert exact.holm([0.01, 0.02, 0.03], 0.025) == [False, False, False]
    assert exact.holm([0.005, 0.011, 0.02], 0.025) == [True, True, True]
    assert exact.holm([0.02, 0.005, 0.9], 0.025) == [False, True, False]
    assert exact.holm_levels([0.02, 0.005, 0.9], 0.025) == pytest.approx([0.0125, 0.025 / 3, 0.025])
    assert exact.holm([], 0.025) == []


def test_beyond_margin_includes_the_margin_itself() -> None:
    assert exact.beyond_margin(-0.02, 0.02) and exact.beyond_margin(-6 / 300, 0.02)
    assert not exact.beyond_margin(-0.0199, 0.02)
    assert math.isclose(exact.sign_p(8, 1), 0.01953125)

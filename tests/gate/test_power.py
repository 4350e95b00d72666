"""Exact power and sizing (gate/power.py): the same verdict `compare` gives, summed over every
(worse, better) table, and the advice of `promptops power` delivering the power it states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from promptops.gate import power as gatepower
from promptops.gate import statistics as gatestats


def enumerate_verdicts(n: int, psi: float, delta: float, margin: float) -> dict[str, float]:
    """P(each verdict) by brute force: every table through statistics.paired_verdict."""
    pw, pb = (psi - delta) / 2, (psi + delta) / 2
    out = {"regression": 0.0, "ok": 0.0, "inconclusive": 0.0}
    for w in range(n + 1):
        for b in range(n + 1 - w):
            prob = math.comb(n, w) * math.comb(n - w, b) * pw**w * pb**b * (1 - psi) ** (n - w - b)
            out[gatestats.paired_verdict(w, b, n, margin, 0.025)] += prob
    return out


@pytest.mark.parametrize(
    ("n", "psi", "delta", "margin"),
    [(10, 0.3, -0.2, 0.02), (40, 0.2, -0.1, 0.02), (40, 0.1, 0.0, 0.05), (60, 0.3, -0.04, 0.02)],
)
def test_power_is_the_verdicts_own_chance(n: int, psi: float, delta: float, margin: float) -> None:
    want = enumerate_verdicts(n, psi, delta, margin)
    got = gatepower.power_regression(n, psi, delta, margin, 0.025)
    assert got == pytest.approx(want["regression"], abs=1e-9)
    assert gatepower.power_ok(n, psi, delta, margin, 0.025) == pytest.approx(want["ok"], abs=1e-9)


def test_the_advice_delivers_the_power_it_states() -> None:
    """`promptops power`: at the advised cases, the verdict's chance (brute force) is the
    stated power within 2 points and at least 78%."""
    for pass_rate, drop, margin, psi in (
        (0.8, 0.2, 0.05, None),
        (0.95, 0.2, 0.02, None),
        (0.8, 0.2, 0.02, 0.25),
    ):
        plan = gatepower.plan(pass_rate, drop, margin, discordance=psi)
        assert plan.detect is not None and plan.detect_power is not None
        got = enumerate_verdicts(plan.detect, plan.discordance, -drop, margin)["regression"]
        assert abs(got - plan.detect_power) <= 0.02 and got >= 0.78, (plan, got)
        # one case fewer does not reach it (the advice is the smallest)
        assert (
            gatepower.power_regression(plan.detect - 1, plan.discordance, -drop, margin, 0.025)
            < 0.8
        )


def test_power_at_a_given_size_is_exact_not_optimistic() -> None:
    """The issue's example: `--cases 40` used to promise a normal-approximation figure; now the
    number is the enumerated chance of the verdict."""
    plan = gatepower.plan(0.7, 0.2, 0.05, cases=40)
    want = enumerate_verdicts(40, plan.discordance, -0.2, 0.05)
    assert plan.power_detect == pytest.approx(want["regression"], abs=1e-9)
    assert plan.power_ok == pytest.approx(
        enumerate_verdicts(40, plan.discordance, 0.0, 0.05)["ok"], abs=1e-9
    )


def test_smallest_detectable_drop() -> None:
    drop = gatepower.smallest_detectable_drop(40, 0.2, 0.02, 0.025)
    assert drop is not None
    assert gatepower.power_regression(40, max(0.2, drop), -drop, 0.02, 0.025) >= 0.8
    smaller = drop - 0.01
    assert gatepower.power_regression(40, max(0.2, smaller), -smaller, 0.02, 0.025) < 0.8
    # five cases can never show a regression at 2.5%: 5 of 5 lost is p = 1/32
    assert gatepower.smallest_detectable_drop(5, 0.5, 0.02, 0.025) is None
    assert gatepower.power_regression(5, 1.0, -1.0, 0.02, 0.025) == 0.0


def test_large_n_falls_back_to_a_normal_approximation_close_to_exact() -> None:
    n = gatepower.EXACT_POWER_MAX
    exact_p = gatepower.power_regression(n, 0.3, -0.04, 0.02, 0.025)
    approx = gatepower._power_normal(n, 0.3, -0.04, 0.02, 0.025)
    assert abs(exact_p - approx) < 0.03
    assert 0 < gatepower.power_regression(n + 1, 0.3, -0.04, 0.02, 0.025) < 1


def test_multinomial_simulation_agrees_with_the_exact_power() -> None:
    rng = np.random.default_rng(3)
    n, psi, delta, margin = 100, 0.25, -0.1, 0.02
    hits = 0
    for _ in range(1000):
        w, b, _rest = rng.multinomial(n, [(psi - delta) / 2, (psi + delta) / 2, 1 - psi])
        hits += gatestats.paired_verdict(int(w), int(b), n, margin, 0.025) == "regression"
    assert abs(hits / 1000 - gatepower.power_regression(n, psi, delta, margin, 0.025)) < 0.04

"""Exact tests behind the gate's `regression` verdict, and their exact power.

The verdict rule (see :mod:`promptops.gate.compare`): a drop is a `regression` when an exact
one-sided test of the paired data finds it significant at the gate's level AND its estimate is
beyond the margin.

- pass/fail per case: the exact conditional (McNemar) test, a binomial test on the discordant
  pairs: with ``worse`` cases A passed and B failed and ``better`` the reverse, the p-value is
  P(X >= worse), X ~ Binomial(worse + better, 1/2);
- graded values: a paired sign-flip permutation test of the mean difference (exact enumeration
  of all 2^k sign patterns of the k non-zero differences up to ``EXACT_FLIPS``, a Monte Carlo
  sample with a fixed seed above); it needs no normal approximation, so its p-value respects
  that differences lie in [-1, 1];
- several models in one check: Holm's step-down procedure over their p-values.

Pure Python and numpy (scipy.stats costs a second to import); the tests check the tails against
scipy.stats.binomtest. The exact power of the verdict is in :mod:`promptops.gate.power`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

EXACT_FLIPS = 16  # exact sign-flip enumeration up to 2^16 patterns
MC_FLIPS = 20_000  # Monte Carlo sign flips above
_EPS = 1e-9


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def sign_p(worse: int, better: int) -> float:
    """Exact one-sided p-value of the conditional test on discordant pairs: P(X >= worse),
    X ~ Binomial(worse + better, 1/2)."""
    d = worse + better
    if d == 0:
        return 1.0
    tail = sum(math.comb(d, k) for k in range(worse, d + 1))
    return min(1.0, tail / (1 << d))


_CRIT: dict[float, list[int]] = {}


def _crit(d_max: int, a1: float) -> list[int]:
    """For each discordant count d <= d_max: the smallest ``worse`` whose exact p-value is at
    most ``a1`` (d + 1 when none is). Integer arithmetic up to 400 discordant cases, log-space
    floats above (where no p-value sits within rounding of the level). Grown on demand."""
    out = _CRIT.setdefault(a1, [])
    num, den = Fraction(a1).as_integer_ratio()
    for d in range(len(out), d_max + 1):
        if d > 400:
            out.append(_crit_float(d, a1))
            continue
        total, tail, k, term = 2**d, 0, d + 1, 1  # term = C(d, k - 1)
        while k > 0 and (tail + term) * den <= num * total:
            k -= 1
            tail += term
            term = term * k // (d - k + 1) if k > 0 else 0
        out.append(k)
    return out


def _crit_float(d: int, a1: float) -> int:
    import numpy as np

    lf = _log_fact_array(d)
    ks = np.arange(d + 1)
    pmf = np.exp(lf[d] - lf[ks] - lf[d - ks] - d * math.log(2))
    tails = np.cumsum(pmf[::-1])[::-1]  # tails[k] = P(X >= k)
    hits = np.nonzero(tails <= a1)[0]
    return int(hits[0]) if len(hits) else d + 1


_LF: list[float] = [0.0]


def _log_fact_array(n: int) -> Any:
    """log k! for k <= n (numpy array), grown on demand."""
    import numpy as np

    while len(_LF) <= n:
        _LF.append(_LF[-1] + math.log(len(_LF)))
    return np.array(_LF[: n + 1])


def critical_worse(d: int, a1: float) -> int:
    """The smallest number of worse cases among ``d`` discordant ones that the exact test
    finds significant at one-sided level ``a1`` (d + 1: none)."""
    return _crit(max(d, 0), a1)[d]


def beyond_margin(estimate: float, margin: float) -> bool:
    """The estimate of B - A is a drop of at least the margin."""
    return estimate <= -margin + _EPS


def sign_flip_p(diffs: Sequence[float], seed: int = 0) -> tuple[float, str]:
    """One-sided p-value of a drop in the mean paired difference: the share of sign patterns
    of the non-zero differences whose sum is at most the observed sum (exact up to
    ``EXACT_FLIPS`` non-zero differences, else ``MC_FLIPS`` random patterns with ``seed``,
    counted as (1 + hits) / (1 + draws) so that the p-value keeps its level). Returns the
    p-value and the method."""
    nz = [float(x) for x in diffs if abs(x) > 1e-12]
    k = len(nz)
    if k == 0:
        return 1.0, "sign-flip exact"
    observed = math.fsum(nz)
    tol = 1e-9 * max(1.0, sum(abs(x) for x in nz))
    import numpy as np

    vals = np.asarray(nz)
    if k <= EXACT_FLIPS:
        idx = np.arange(2**k, dtype=np.int64)[:, None]
        signs = 1 - 2 * ((idx >> np.arange(k, dtype=np.int64)) & 1)
        sums = signs @ vals
        return float(np.mean(sums <= observed + tol)), "sign-flip exact"
    rng = np.random.default_rng(seed)
    hits = 0
    left = MC_FLIPS
    while left:
        m = min(left, 4_000)
        signs = rng.integers(0, 2, size=(m, k)) * 2 - 1
        hits += int(np.sum(signs @ vals <= observed + tol))
        left -= m
    return (1 + hits) / (1 + MC_FLIPS), f"sign-flip Monte Carlo ({MC_FLIPS} draws, seed {seed})"


def holm(ps: Sequence[float], level: float) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected with the family-wise error
    at most ``level``."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out = [False] * len(ps)
    m = len(ps)
    for rank, i in enumerate(order):
        if ps[i] <= level / (m - rank) * (1 + 1e-12):
            out[i] = True
        else:
            break
    return out


def holm_levels(ps: Sequence[float], level: float) -> list[float]:
    """The level each p-value was held to by Holm's procedure (its rank's level)."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out = [level] * len(ps)
    for rank, i in enumerate(order):
        out[i] = level / (len(ps) - rank)
    return out


def critical_table(d_max: int, a1: float) -> list[int]:
    """:func:`critical_worse` for every d <= d_max."""
    return _crit(d_max, a1)[: d_max + 1]

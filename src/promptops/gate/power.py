"""Exact power and sizing of the gate's verdict on paired pass/fail cases: what ``promptops
power`` says before a comparison, and what an ``inconclusive`` says after one.

The verdict's chance is summed over every (worse, better) table of n paired cases (trinomial:
worse with probability (psi - delta)/2, better (psi + delta)/2, psi the discordance and
delta = B - A): the tables the verdict calls a regression (or ok) are computed once per
(n, margin, level) as a boolean matrix, the same rule as ``statistics.paired_verdict`` with
Tango's statistic evaluated on the whole matrix at once (the tests check both against each
other table by table). Exact up to ``EXACT_POWER_MAX`` cases, a normal approximation above;
numpy only (scipy costs a second).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

from ..errors import PromptOpsError
from . import exact
from .statistics import (
    CC,
    HALF_LEVEL,
    min_cases_for_ok,
    z_of,
)

if TYPE_CHECKING:
    import numpy as np

_N = NormalDist()
_EPS = 1e-12
EXACT_POWER_MAX = 1_000  # exact power up to this many cases; normal approximation above


def _tango_matrix(n: int, d0: float) -> np.ndarray:
    """Tango's statistic (:func:`promptops.gate.statistics.tango_z`) of every (worse, better)
    table of n cases at once, for H0: B - A == d0."""
    import numpy as np

    w = np.arange(n + 1, dtype=float)[:, None]
    b = np.arange(n + 1, dtype=float)[None, :]
    x = b - w - n * d0
    ww = -b - w + (2 * n - b + w) * d0
    disc = ww * ww + 8 * n * w * d0 * (1 - d0)
    p21 = (-ww + np.sqrt(np.maximum(disc, 0.0))) / (4 * n)
    var = n * (2 * p21 + d0 * (1 - d0))
    shrunk = np.sign(x) * np.maximum(np.abs(x) - CC, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat: np.ndarray = np.where(
            var > _EPS,
            shrunk / np.sqrt(np.maximum(var, _EPS)),
            np.where(np.abs(x) > CC, np.sign(x) * np.inf, 0.0),
        )
    return stat


@lru_cache(maxsize=32)
def _regression_region(n: int, margin: float, a1: float) -> np.ndarray:
    """region[worse, better]: the verdict (statistics.paired_verdict) calls the table a
    regression: the exact test at ``a1``, the estimate at or beyond -margin, and the
    half-margin guard."""
    import numpy as np

    crit = np.array(exact.critical_table(n, a1) + [n + 2] * (n + 1))
    w = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    region: np.ndarray = (
        ((w + b) <= n)
        & (w >= crit[w + b])
        & ((b - w) / n <= -margin + 1e-9)
        & (_tango_matrix(n, -margin / 2) < -z_of(HALF_LEVEL))
    )
    return region


@lru_cache(maxsize=32)
def _ok_region(n: int, margin: float, a1: float) -> np.ndarray:
    """region[worse, better]: Tango's lower bound clears -margin (the verdict's `ok`)."""
    import numpy as np

    w = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    region: np.ndarray = ((w + b) <= n) & (_tango_matrix(n, -margin) > z_of(a1))
    return region


@lru_cache(maxsize=64)
def _log_fact(n: int) -> tuple[float, ...]:
    return tuple(math.lgamma(k + 1) for k in range(n + 1))


def _table_probs(n: int, p_worse: float, p_better: float) -> np.ndarray:
    """Trinomial probability of every (worse, better) table of n cases (0 where
    worse + better > n)."""
    import numpy as np

    lf = np.array(_log_fact(n))
    w = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    valid = (w + b) <= n
    rest = np.where(valid, n - w - b, 0)
    p_same = max(1.0 - p_worse - p_better, 0.0)

    def xlogy(k: np.ndarray, p: float) -> np.ndarray:
        out: np.ndarray = np.where(k == 0, 0.0, k * (math.log(p) if p > 0 else -np.inf))
        return out

    with np.errstate(invalid="ignore", divide="ignore"):
        logp = lf[n] - lf[w] - lf[b] - lf[rest] + xlogy(w, p_worse) + xlogy(b, p_better)
        logp = logp + xlogy(rest, p_same)
    probs: np.ndarray = np.where(valid, np.exp(logp), 0.0)
    return probs


def power_regression(n: int, psi: float, delta: float, margin: float, a1: float) -> float:
    """Exact P(regression) on n paired pass/fail cases when a share ``psi`` of cases differs
    and the true difference B - A is ``delta`` (psi is raised to |delta| if below)."""
    if n <= 0 or psi <= 0:
        return 0.0
    psi = min(max(psi, abs(delta)), 1.0)
    if n > EXACT_POWER_MAX:
        return _power_normal(n, psi, delta, margin, a1)
    import numpy as np

    probs = _table_probs(n, (psi - delta) / 2, (psi + delta) / 2)
    return float(min(1.0, np.sum(probs[_regression_region(n, margin, a1)])))


def _power_normal(n: int, psi: float, delta: float, margin: float, a1: float) -> float:
    """Normal approximation for large n: the exact test, the margin and the half-margin
    guard each bound the estimate, whose sd is sqrt((psi - delta^2) / n)."""
    sd0 = math.sqrt(psi / n)
    sd = math.sqrt(max(psi - delta * delta, 1e-12) / n)
    guard = margin / 2 + z_of(HALF_LEVEL) * sd
    cut = -max(_N.inv_cdf(1 - a1) * sd0, margin, guard)
    return _N.cdf((cut - delta) / sd)


def smallest_detectable_drop(
    n: int, psi: float, margin: float, a1: float, power: float = 0.8
) -> float | None:
    """The smallest true drop that n paired pass/fail cases catch as a regression with the
    given probability, if a share ``psi`` of cases differs (at least the drop itself). None:
    not even a drop of every case."""
    if n <= 0 or power_regression(n, 1.0, -1.0, margin, a1) < power:
        return None

    def pw(drop: float) -> float:
        return power_regression(n, max(psi, drop), -drop, margin, a1)

    lo, hi = 0.0, 1.0
    for _ in range(16):
        mid = (lo + hi) / 2
        if pw(mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def cases_for_regression(
    psi: float,
    delta: float,
    margin: float,
    a1: float,
    power: float = 0.8,
    start: int = 1,
    steady: bool = True,
) -> int | None:
    """The fewest paired cases (from ``start``) whose exact power reaches ``power`` for a true
    difference ``delta`` with discordance ``psi``, such that the next few sizes reach it too
    (exact power is saw-toothed in n; ``steady=False``: the first size that reaches it).
    None: unreachable (delta not beyond the margin)."""
    if delta >= -margin or psi <= 0:
        return None
    psi = max(psi, -delta)

    def ok(m: int) -> bool:
        return power_regression(m, psi, delta, margin, a1) >= power

    found = _smallest(ok, max(start, 2), max(start - 1, 0))
    if found is None:
        return None
    hi = found
    # the saw-tooth: move up until the following sizes keep the power
    for _ in range(100 if steady else 0):
        if hi > 400 or all(ok(hi + j) for j in range(1, 4)):
            break
        hi += 1
    return hi


def power_ok(n: int, psi: float, delta: float, margin: float, a1: float) -> float:
    """Exact P(ok) on n paired pass/fail cases (discordance ``psi``, true difference
    ``delta``), summing the trinomial probability of every (worse, better) table whose Tango
    statistic at -margin clears the critical value, as the verdict does. Up to
    ``EXACT_POWER_MAX`` cases; a normal approximation above."""
    if n <= 0 or margin <= 0:
        return 0.0
    psi = max(min(psi, 1.0), abs(delta), 1e-12)
    if n > EXACT_POWER_MAX:
        sd = math.sqrt(max(psi - delta * delta, 1e-12) / n)
        return _N.cdf((delta + margin) / sd - z_of(a1))
    import numpy as np

    region = _ok_region(n, margin, a1)
    probs = _table_probs(n, (psi - delta) / 2, (psi + delta) / 2)
    return float(min(1.0, np.sum(probs[region])))


def cases_for_ok(
    psi: float, margin: float, a1: float, power: float = 0.8, delta: float = 0.0
) -> int | None:
    """The fewest paired cases with an exact P(ok) of at least ``power`` when the true
    difference is ``delta`` (default: nothing changed) and a share ``psi`` of cases differs.
    None: unreachable (the difference is not above -margin)."""
    if margin <= 0 or delta <= -margin + 1e-9:
        return None
    psi = max(psi, abs(delta), 1e-9)

    def ok(m: int) -> bool:
        return power_ok(m, psi, delta, margin, a1) >= power

    floor = min_cases_for_ok(margin, a1) or 1
    return _smallest(ok, max(floor, 2), max(floor - 1, 1))


def _smallest(ok: Callable[[int], bool], hi: int, lo: int) -> int | None:
    """The smallest n > ``lo`` with ``ok(n)``: doubling from ``hi``, then bisection (``ok`` is
    taken as monotone there); None past ten million."""
    while not ok(hi):
        hi *= 2
        if hi > 10_000_000:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class Plan:
    """How many cases a comparison needs, before spending money. Every figure is the exact
    chance of the verdict the gate would give (up to 1,000 cases; normal approximation
    above)."""

    pass_rate: float
    drop: float
    margin: float
    alpha: float
    power: float
    discordance: float  # share of cases whose pass/fail differs between A and B
    detect: int | None  # cases to call `regression` for a true drop of `drop`
    ok: int | None  # cases to call `ok` when nothing changed (same discordance)
    ok_floor: int | None  # the fewest cases that can give `ok` at all
    cases: int | None = None  # a given dataset size, and the chances it gives:
    power_detect: float | None = None  # P(regression) at a true drop of `drop`
    power_ok: float | None = None  # P(ok) when nothing changed
    detect_power: float | None = None  # the exact power at `detect` cases
    ok_power: float | None = None  # the exact P(ok) at `ok` cases
    discordance_source: str = "independent outcomes"  # or "observed in run ..." / "given"


def plan(
    pass_rate: float,
    drop: float,
    margin: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    discordance: float | None = None,
    cases: int | None = None,
    discordance_source: str | None = None,
) -> Plan:
    """Sample size for the paired pass/fail comparison, from the exact power of the verdict's
    own tests. ``discordance`` defaults to the value for independent outcomes,
    p_A(1 - p_B) + p_B(1 - p_A) (the most cases; real models are correlated across versions,
    so fewer cases usually do)."""
    a1 = alpha / 2
    pb = pass_rate - drop
    psi = discordance
    source = discordance_source or ("given" if discordance is not None else "")
    if psi is None:
        psi = pass_rate * (1 - pb) + pb * (1 - pass_rate)
        source = discordance_source or "independent outcomes"
    psi = max(psi, drop, 1e-9)
    detect = cases_for_regression(psi, -drop, margin, a1, power)
    ok = cases_for_ok(psi, margin, a1, power)
    out = Plan(
        pass_rate,
        drop,
        margin,
        alpha,
        power,
        psi,
        detect,
        ok,
        min_cases_for_ok(margin, a1),
        discordance_source=source,
    )
    if detect is not None:
        out.detect_power = power_regression(detect, psi, -drop, margin, a1)
    if ok is not None:
        out.ok_power = power_ok(ok, psi, 0.0, margin, a1)
    if cases is not None and cases > 0:
        out.cases = cases
        out.power_detect = power_regression(cases, psi, -drop, margin, a1)
        out.power_ok = power_ok(cases, psi, 0.0, margin, a1)
    return out


def last_discordance(runs_dir: Path, prompt: str) -> tuple[float, str] | None:
    """The discordance observed in the newest run that compared two versions of ``prompt``
    (a diff or check run: two refs of that prompt): the share of paired (case, model) whose
    pass/fail differs between the versions (first repeat of each), and the run's id. None
    when there is no such run or it has no paired case."""
    from ..eval.store import list_runs

    for run in list_runs(runs_dir):
        try:
            refs = run.meta().get("refs") or []
        except PromptOpsError:
            continue  # an unreadable run is no evidence; look further back
        names = {str(r.get("ref", "")).split("@")[0] for r in refs}
        digests = [str(r.get("digest")) for r in refs]
        if len(refs) != 2 or names != {prompt} or len(set(digests)) != 2:
            continue
        first: dict[tuple[str, str, str], tuple[int, bool]] = {}
        for rec in run.records():
            key = (str(rec.get("digest")), str(rec.get("model")), str(rec.get("case_id")))
            repeat = int(rec.get("repeat") or 0)
            if key not in first or repeat < first[key][0]:
                first[key] = (repeat, bool(rec.get("pass")) and not rec.get("error"))
        a, b = digests
        pairs = [
            (first[(a, m, c)][1], first[(b, m, c)][1])
            for (dg, m, c) in first
            if dg == a and (b, m, c) in first
        ]
        if pairs:
            return sum(x != y for x, y in pairs) / len(pairs), run.id
    return None

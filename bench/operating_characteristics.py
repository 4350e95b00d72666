"""Operating characteristics of the regression gate on pass/fail data, by exact enumeration.

No simulation: for n paired cases every (worse, better) table is put through the gate's own
verdict function (``promptops.gate.statistics.paired_verdict``, default alpha 0.05, so a
one-sided level of 2.5%), and the chance of each verdict is the sum of the trinomial
probabilities of the tables that give it. A cell is (n, A's pass rate p, margin); within a
cell the discordance psi (the share of cases whose pass/fail differs between A and B) runs
from low churn (1% of the independent value, or the drop itself; 25 steps) to independent outcomes,
psi_ind = p (1 - p_B) + p_B (1 - p), and each column reports the worst case over it.

Columns (the three targets of issue 20):

- ``reg, Δ=0``: P(regression) when nothing changed, sup over discordance (target <= 2.5%;
  a gain, Δ > 0, only lowers it);
- ``reg, Δ=-m/2``: P(regression) at a true drop of half the margin, sup (target <= 10%);
- ``reg, Δ=-2m`` and ``gap``: the gate's P(regression) at a true drop of twice the margin
  (range over discordance) and the largest shortfall against the exact one-sided conditional
  test alone at the same level, over drops of 2m, 0.10 and 0.20 (target <= 2 points);
- ``ok, Δ=0``: P(ok) when nothing changed (range over discordance);
- ``ok, Δ=-m``: P(ok) at a true drop of exactly the margin, sup (non-inferiority's error,
  nominal 2.5%);
A second table checks ``promptops power``: its advice (cases and the power it states, independent
outcomes) against the power those cases deliver in this enumeration (target: within 2 points).

    python bench/operating_characteristics.py            # the README table (about a minute)
    python bench/operating_characteristics.py --quick    # n in {10, 20, 40}
    python bench/operating_characteristics.py --futility # would futility stopping pay?
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from promptops.gate import exact, power
from promptops.gate import statistics as gatestats

NS = (10, 20, 40, 100, 300)
PASS_RATES = (0.5, 0.8, 0.95)
MARGINS = (0.02, 0.05)
# discordance: 25 fractions of the independent value, geometric from 1% to 100%
CHURN = tuple(float(x) for x in np.geomspace(0.01, 1.0, 25))
ALPHA = 0.05


_REGIONS: dict[tuple[int, float], np.ndarray] = {}


def verdicts(n: int, margin: float, alpha: float = ALPHA) -> np.ndarray:
    """codes[worse, better] for every table of n cases: 2 regression, 1 ok, 0 inconclusive,
    -1 impossible (worse + better > n), from the gate's own verdict function."""
    key = (n, margin)
    if key not in _REGIONS:
        codes = np.full((n + 1, n + 1), -1, dtype=np.int8)
        code = {"regression": 2, "ok": 1, "inconclusive": 0}
        for w in range(n + 1):
            for b in range(n + 1 - w):
                codes[w, b] = code[gatestats.paired_verdict(w, b, n, margin, alpha / 2)]
        _REGIONS[key] = codes
    return _REGIONS[key]


def exact_test_region(n: int, alpha: float = ALPHA) -> np.ndarray:
    """The exact one-sided conditional test alone (no margin): rejects where worse is at
    least its critical value among worse + better discordant cases."""
    w = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    crit = np.array([exact.critical_worse(d, alpha / 2) for d in range(n + 1)] + [10**9] * n)
    return (w + b <= n) & (w >= crit[np.minimum(w + b, 2 * n)])


def table_probs(n: int, p_worse: float, p_better: float) -> np.ndarray:
    """Trinomial probability of every (worse, better) table of n cases."""
    lf = np.array([math.lgamma(k + 1) for k in range(n + 1)])
    w = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    rest = n - w - b
    valid = rest >= 0
    rest = np.where(valid, rest, 0)
    p_same = max(1.0 - p_worse - p_better, 0.0)

    def xlogy(k: np.ndarray, p: float) -> np.ndarray:
        return np.where(k == 0, 0.0, k * (math.log(p) if p > 0 else -np.inf))

    with np.errstate(invalid="ignore", divide="ignore"):
        logp = lf[n] - lf[w] - lf[b] - lf[rest] + xlogy(w, p_worse) + xlogy(b, p_better)
        logp = logp + xlogy(rest, p_same)
    return np.where(valid, np.exp(logp), 0.0)


def discordances(p: float, delta: float) -> list[float]:
    """From low churn to independent outcomes, feasible for pass rates p (A) and p + delta
    (B), never below the drop itself."""
    pb = p + delta
    indep = p * (1 - pb) + pb * (1 - p)
    out = {round(abs(delta), 12)} if delta else set()
    for f in CHURN:
        psi = max(f * indep, abs(delta))
        if (psi - delta) / 2 <= min(p, 1 - pb) + 1e-12 and (psi + delta) / 2 <= min(
            1 - p, pb
        ) + 1e-12:
            out.add(round(psi, 12))
    return sorted(out)


def chance(n: int, psi: float, delta: float, region: np.ndarray) -> float:
    return float(np.sum(table_probs(n, (psi - delta) / 2, (psi + delta) / 2)[region]))


@dataclass
class Row:
    n: int
    p: float
    margin: float
    null_reg: float  # sup over discordance
    half_reg: float  # sup
    det_lo: float  # P(regression) at -2m, over discordance
    det_hi: float
    gap: float  # largest shortfall against the exact test alone, drops >= 2m
    ok_lo: float
    ok_hi: float
    false_ok: float  # P(ok) at a true drop of exactly the margin, sup over discordance


@dataclass
class Advice:
    margin: float
    p: float
    drop: float
    cases: int
    stated: float
    delivered: float


def advice(max_cases: int = 320, margins: tuple[float, ...] = MARGINS) -> list[Advice]:
    """`promptops power`'s advice (independent outcomes, 80% power) for drops of 2m, 0.10 and
    0.20, against the power those cases deliver through the verdict function, wherever the
    advised size is small enough to enumerate."""
    out = []
    for margin in margins:
        for p in PASS_RATES:
            for drop in sorted({2 * margin, 0.10, 0.20}):
                if drop > p:
                    continue
                pb = p - drop
                indep = p * (1 - pb) + pb * (1 - p)
                if power._power_normal(max_cases, indep, -drop, margin, ALPHA / 2) < 0.5:
                    continue  # the advice is far beyond max_cases: too big to enumerate
                plan = power.plan(p, drop, margin, alpha=ALPHA, power=0.8)
                if plan.detect is None or plan.detect > max_cases or plan.detect_power is None:
                    continue
                region = verdicts(plan.detect, margin) == 2
                got = chance(plan.detect, plan.discordance, -drop, region)
                out.append(Advice(margin, p, drop, plan.detect, plan.detect_power, got))
    return out


def cell(n: int, p: float, margin: float, alpha: float = ALPHA) -> Row:
    codes = verdicts(n, margin, alpha)
    reg, ok = codes == 2, codes == 1
    test = exact_test_region(n, alpha)
    null = [chance(n, psi, 0.0, reg) for psi in discordances(p, 0.0)]
    oks = [chance(n, psi, 0.0, ok) for psi in discordances(p, 0.0)]
    half = [chance(n, psi, -margin / 2, reg) for psi in discordances(p, -margin / 2)]
    false_ok = [chance(n, psi, -margin, ok) for psi in discordances(p, -margin)]
    det, gap = [], 0.0
    for drop in sorted({2 * margin, 0.10, 0.20}):
        if drop < 2 * margin - 1e-12 or drop > p:
            continue
        for psi in discordances(p, -drop):
            gate = chance(n, psi, -drop, reg)
            gap = max(gap, chance(n, psi, -drop, test) - gate)
            if abs(drop - 2 * margin) < 1e-12:
                det.append(gate)
    return Row(
        n,
        p,
        margin,
        max(null),
        max(half),
        min(det),
        max(det),
        gap,
        min(oks),
        max(oks),
        max(false_ok),
    )


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def table(ns: tuple[int, ...]) -> tuple[str, list[Row]]:
    head = [
        "margin",
        "n",
        "p",
        "reg, Δ=0",
        "reg, Δ=−m/2",
        "reg, Δ=−2m",
        "gap vs exact test",
        "ok, Δ=0",
        "ok, Δ=−m",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    rows = []
    for margin in MARGINS:
        for n in ns:
            for p in PASS_RATES:
                r = cell(n, p, margin)
                rows.append(r)
                lines.append(
                    f"| {margin:g} | {n} | {p:g} | {pct(r.null_reg)} | {pct(r.half_reg)} | "
                    f"{pct(r.det_lo)}–{pct(r.det_hi)} | {100 * r.gap:.2f} pts | "
                    f"{pct(r.ok_lo)}–{pct(r.ok_hi)} | {pct(r.false_ok)} |"
                )
                print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines), rows


def advice_table(rows: list[Advice]) -> str:
    lines = [
        "| margin | p | drop | advised cases | stated power | delivered |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.margin:g} | {r.p:g} | {r.drop:g} | {r.cases} | "
            f"{pct(r.stated)} | {pct(r.delivered)} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row], adv: list[Advice]) -> dict[str, float]:
    return {
        "null": max(r.null_reg for r in rows),
        "half": max(r.half_reg for r in rows),
        "gap": max(r.gap for r in rows),
        "false_ok": max(r.false_ok for r in rows),
        "advice": max((abs(a.delivered - a.stated) for a in adv), default=0.0),
    }


def futility(seeds: int = 500, looks: int = 5, margin: float = 0.02, p: float = 0.8) -> str:
    """Would futility stopping pay? Sequential designs (``--sequential 5``) with and without
    deterministic curtailment (stop at a look when, whatever the remaining cases do, the last
    look can give neither `regression` nor `ok`): mean cases used over seeded simulated runs
    (independent outcomes), and how often the verdict differs (it cannot: curtailment only
    stops runs that end `inconclusive`)."""
    lines = [
        "| n | Δ | mean cases | with curtailment | verdicts changed |",
        "|---:|" * 1 + "---:|" * 4,
    ]
    for n_max in (40, 100, 300):
        sizes = gatestats.look_sizes(n_max, looks)
        levels = gatestats.look_levels(sizes, ALPHA / 2)
        for delta in (0.0, -margin / 2, -0.05):
            pb = p + delta
            psi = p * (1 - pb) + pb * (1 - p)
            rng = np.random.default_rng([n_max, int(1000 * -delta), 11])
            plain = cut = changed = 0
            for _ in range(seeds):
                u = rng.random(n_max)
                worse = u < (psi - delta) / 2
                better = (u >= (psi - delta) / 2) & (u < psi)
                ends = []
                for curtail in (False, True):
                    for k, (size, level) in enumerate(zip(sizes, levels, strict=True)):
                        w, b = int(worse[:size].sum()), int(better[:size].sum())
                        v = gatestats.paired_verdict(w, b, size, margin, level)
                        if v != "inconclusive" or k == len(sizes) - 1:
                            ends.append((v, size))
                            break
                        rest = n_max - size
                        last = levels[-1]
                        if curtail and (
                            gatestats.paired_verdict(w + rest, b, n_max, margin, last)
                            != "regression"
                            and gatestats.paired_verdict(w, b + rest, n_max, margin, last) != "ok"
                        ):
                            ends.append(("inconclusive", size))
                            break
                plain += ends[0][1]
                cut += ends[1][1]
                changed += ends[0][0] != ends[1][0]
            lines.append(
                f"| {n_max} | {delta:+.2f} | {plain / seeds:.1f} | {cut / seeds:.1f} | {changed} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n in {10, 20, 40} only")
    ap.add_argument(
        "--futility", action="store_true", help="only: would futility stopping pay? (simulated)"
    )
    args = ap.parse_args(argv)
    if args.futility:
        print("Sequential, 5 looks, p 0.8, margin 0.02, independent outcomes, 500 seeds:\n")
        print(futility())
        return 0
    started = time.perf_counter()
    ns = NS[:3] if args.quick else NS
    print(f"Operating characteristics, exact enumeration, alpha {ALPHA} (one-sided 2.5%)\n")
    text, rows = table(ns)
    print(text)
    print("\n`promptops power` advice (80% power, independent outcomes), checked by enumeration:\n")
    adv = advice(120 if args.quick else 320)
    print(advice_table(adv))
    t = targets(rows, adv)
    met = t["null"] <= 0.025 and t["half"] <= 0.10 and t["gap"] <= 0.02 and t["advice"] <= 0.02
    print(
        f"\nworst: P(regression | Δ=0) {pct(t['null'])} (≤ 2.5%), "
        f"P(regression | Δ=−m/2) {pct(t['half'])} (≤ 10%), "
        f"shortfall against the exact test {100 * t['gap']:.2f} points (≤ 2), "
        f"power advice off by {100 * t['advice']:.2f} points (≤ 2); "
        f"P(ok | Δ=−m) {pct(t['false_ok'])}: " + ("all met" if met else "MISSED")
    )
    print(f"\n({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

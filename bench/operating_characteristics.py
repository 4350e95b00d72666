"""Operating characteristics of the regression gate: how often it is wrong, how often it
catches a drop, and how many cases it spends.

Simulated pass/fail outcomes go through the gate's own interval and decision functions
(``promptops.gate.compare.interval`` and ``promptops.gate.statistics.decide``, at the defaults: alpha
0.05, so each decision is a one-sided test at 2.5%). Per-case difficulty is correlated across
the two versions, as it is with real models: case i passes in A with probability p_i ~
Beta(k p, k (1 - p)) (k = 2: many cases nearly always or nearly never pass) and in B with
probability p_i (1 - drop / p), so B's mean pass rate is p - drop.

Cells: n in {20, 40, 100, 300} paired cases, base pass rate p in {0.5, 0.7, 0.9}, margin 0.05
(``--margin``). Columns:

- false alarm: ``regression`` when nothing changed (target <= 5%);
- false ok: ``ok`` at a true drop of exactly the margin (target <= 5%);
- power: ``regression`` at true drops of 0.05 (the margin itself: at most 2.5% by design),
  0.10 and 0.20;
- ok at 0: ``ok`` when nothing changed (how often the gate can vouch for a harmless change);
- cases: the mean number of paired cases used (n for the fixed design; fewer with
  ``--sequential``, which stops at the first decided look of 5).

    python bench/operating_characteristics.py                # 400 seeds per cell (~2 min)
    python bench/operating_characteristics.py --seeds 2000   # the README table
    python bench/operating_characteristics.py --sequential   # the same with early stopping
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from promptops.gate import statistics as gatestats
from promptops.gate.compare import interval

NS = (20, 40, 100, 300)
BASES = (0.5, 0.7, 0.9)
DROPS = (0.05, 0.10, 0.20)
KAPPA = 2.0


def outcomes(
    rng: np.random.Generator, n: int, base: float, drop: float
) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(KAPPA * base, KAPPA * (1 - base), n)
    a = rng.random(n) < p
    b = rng.random(n) < p * (1 - drop / base)
    return a.astype(float), b.astype(float)


def verdict(
    a: np.ndarray, b: np.ndarray, margin: float, alpha: float, looks: int
) -> tuple[str, int]:
    """The gate's verdict and the cases it used (sequential: the first decided look)."""
    n = len(a)
    sizes = gatestats.look_sizes(n, looks) if looks > 1 else [n]
    levels = gatestats.look_levels(sizes, alpha / 2) if looks > 1 else [alpha / 2]
    v = "inconclusive"
    for m, level in zip(sizes, levels, strict=True):
        low, high, *_ = interval(a[:m].tolist(), b[:m].tolist(), level)
        v = gatestats.decide(low, high, margin)
        if v != "inconclusive":
            return v, m
    return v, n


def cell(
    seeds: int, n: int, base: float, margin: float, alpha: float, looks: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, drop in (("null", 0.0), ("margin", margin), *((f"d{d}", d) for d in DROPS)):
        if drop != margin and abs(drop - margin) < 1e-9:
            continue
        rng = np.random.default_rng([n, int(base * 100), int(drop * 1000), 7])
        counts = {"regression": 0, "ok": 0, "inconclusive": 0}
        used = 0
        for _ in range(seeds):
            a, b = outcomes(rng, n, base, drop)
            v, m = verdict(a, b, margin, alpha, looks)
            counts[v] += 1
            used += m
        out[name] = {k: c / seeds for k, c in counts.items()} | {"cases": used / seeds}
    return out


def table(seeds: int, margin: float, alpha: float, looks: int) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    power = [f"power −{d:.2f}" for d in DROPS]
    head = ["n", "p", "false alarm", "false ok", *power, "ok at 0", "cases at 0 / −0.10 / −0.20"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    worst = {"fa": 0.0, "fo": 0.0}
    for n in NS:
        for base in BASES:
            r = cell(seeds, n, base, margin, alpha, looks)
            worst["fa"] = max(worst["fa"], r["null"]["regression"])
            worst["fo"] = max(worst["fo"], r["margin"]["ok"])
            pw = [
                pct((r["margin"] if abs(d - margin) < 1e-9 else r[f"d{d}"])["regression"])
                for d in DROPS
            ]
            row = [
                str(n),
                f"{base:.1f}",
                pct(r["null"]["regression"]),
                pct(r["margin"]["ok"]),
                *pw,
                pct(r["null"]["ok"]),
                f"{r['null']['cases']:.0f} / {r['d0.1']['cases']:.0f} / {r['d0.2']['cases']:.0f}",
            ]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    verdict_line = (
        f"\nworst cell: false alarms {pct(worst['fa'])}, false ok {pct(worst['fo'])} "
        f"(targets <= 5%): {'met' if max(worst.values()) <= 0.05 else 'MISSED'}"
    )
    return "\n".join(lines) + verdict_line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=400, help="simulated comparisons per cell")
    ap.add_argument("--margin", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument(
        "--sequential", type=int, nargs="?", const=5, default=0, help="looks (default 5)"
    )
    args = ap.parse_args(argv)
    started = time.perf_counter()
    design = f"sequential, {args.sequential} looks" if args.sequential else "fixed n"
    print(
        f"Operating characteristics, {design}, margin {args.margin}, alpha {args.alpha}, "
        f"{args.seeds} seeds per cell, difficulty Beta(2p, 2(1-p))\n"
    )
    print(table(args.seeds, args.margin, args.alpha, args.sequential))
    print(f"\n({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

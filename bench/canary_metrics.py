"""How the continuous metrics of `canary analyze` behave: cost per call (mean) and latency p95
(quantile), compared as relative rises with anytime-valid intervals.

1. False rollbacks under repeated looks: A/A streams (both arms from one distribution), the
   tolerance at 0 (the strictest), the analysis looked at every 250 calls per arm up to 5,000:
   the share of streams ever declared worse. Valid sequences keep it under the metric's level.
2. Traffic to catch a real rise: canary 30% costlier / 50% slower at p95 than stable, tolerance
   10% / 25%: calls per arm at the first look that says rollback.

Simulated: costs log-normal (sigma 0.5), latencies log-normal (median 400 ms, sigma 0.6).

    python bench/canary_metrics.py [--streams 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from promptops.analysis.canary import _compare_relative

LOOKS = range(250, 5001, 250)
LEVEL = 0.05 / 7  # one metric's share of the default alpha (7 metrics compared)


def draw(rng: random.Random, kind: str, scale: float, n: int) -> list[float]:
    if kind == "cost":
        return [rng.lognormvariate(-9.2, 0.5) * scale for _ in range(n)]
    return [rng.lognormvariate(6.0, 0.6) * scale for _ in range(n)]


def first_fail(stable: list[float], canary: list[float], kind: str, tol: float) -> int | None:
    q = "mean" if kind == "cost" else "0.95"
    for n in LOOKS:
        if _compare_relative(kind, q, stable[:n], canary[:n], tol, LEVEL).decision == "fail":
            return n
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    out: dict[str, object] = {"streams": args.streams, "level": LEVEL, "looks": len(LOOKS)}
    for kind, rise, tol in (("cost", 1.3, 0.10), ("latency", 1.5, 0.25)):
        rng = random.Random(args.seed)
        false = sum(
            first_fail(draw(rng, kind, 1, 5000), draw(rng, kind, 1, 5000), kind, 0.0) is not None
            for _ in range(args.streams)
        )
        caught = [
            first_fail(draw(rng, kind, 1, 5000), draw(rng, kind, rise, 5000), kind, tol)
            for _ in range(args.streams)
        ]
        found = sorted(n for n in caught if n is not None)
        out[kind] = {
            "aa_false_rollback_share": false / args.streams,
            "rise": rise,
            "tolerance": tol,
            "caught_share": len(found) / args.streams,
            "calls_per_arm_median": found[len(found) // 2] if found else None,
        }
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

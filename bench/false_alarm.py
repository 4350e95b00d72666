"""How often does the regression gate cry wolf, and how often does it catch a real drop?

Simulated run records go through ``promptops.gate.compare.compare_records`` at its default settings
(the gate's intervals at alpha 0.05, margin 0.02; see operating_characteristics.py). Each case has a
pass probability (its difficulty); every sample is an independent draw, the worst case for a
noisy model (nothing about a case is stable between runs). Under the null both versions share
the probabilities; under a drop, B's are lower.

    python bench/false_alarm.py                 # the tables in the README
    python bench/false_alarm.py --seeds 1000    # tighter estimates
    python bench/false_alarm.py --e2e 20        # also N seeds end to end through the loopback
                                                # server (litellm, runner, cache off)

Columns: the share of seeds with each verdict, and how often a naive "fewer passes than
before" gate would have failed the change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from promptops.gate.compare import compare_records

Difficulty = Callable[[np.random.Generator, int], np.ndarray]


def _records(passes: np.ndarray, version: str) -> list[dict[str, Any]]:
    return [
        {
            "case_id": f"c{i:04d}",
            "prompt": "p",
            "version": version,
            "digest": version,
            "model": "m",
            "repeat": r,
            "score": float(x),
            "pass": bool(x),
        }
        for i, row in enumerate(passes)
        for r, x in enumerate(row)
    ]


def simulate(
    seeds: int, n: int, difficulty: Difficulty, drop: float = 0.0, repeat: int = 1
) -> dict[str, float]:
    counts = {"regression": 0, "ok": 0, "inconclusive": 0, "naive": 0}
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        p = difficulty(rng, n)
        a = rng.random((n, repeat)) < p[:, None]
        b = rng.random((n, repeat)) < np.clip(p - drop, 0, 1)[:, None]
        (c,) = compare_records(_records(a, "a"), _records(b, "b"))
        counts[c.verdict] += 1
        counts["naive"] += int(b.sum()) < int(a.sum())
    return {k: v / seeds for k, v in counts.items()}


def _row(label: str, r: dict[str, float]) -> str:
    return (
        f"| {label} | {r['regression']:.1%} | {r['ok']:.1%} | {r['inconclusive']:.1%} "
        f"| {r['naive']:.1%} |"
    )


def end_to_end(seeds: int, n: int = 40, p: float = 0.7) -> float:
    """False-alarm rate through the real path: two prompt versions differing by a space, a
    server answering right with probability p whatever the prompt, no cache."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENAI_API_KEY", "sk-test")
    from promptops.eval.runner import EvalOptions
    from promptops.gate.diff import diff_refs
    from promptops.project import Project
    from promptops.testing.server import FakeOpenAI, noisy

    prompt = (
        "name: qa\nversion: {v}\nmodel: openai/fake-model-2024-01-01\ninputs: {{q: string}}\n"
        'template: "Q: {{{{ q }}}}{pad}"\ndataset: evals/qa.jsonl\n'
        'assert: [{{type: icontains, value: "{{{{ expected }}}}"}}]\n'
    )
    alarms = 0
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as server:
        root = Path(tmp)
        (root / "prompts/qa").mkdir(parents=True)
        (root / "evals").mkdir()
        (root / "prompts/qa/1.0.0.yaml").write_text(prompt.format(v="1.0.0", pad=""))
        (root / "prompts/qa/1.0.1.yaml").write_text(prompt.format(v="1.0.1", pad=" "))
        (root / "evals/qa.jsonl").write_text(
            "".join(
                json.dumps({"id": f"q{i}", "vars": {"q": f"item {i}"}, "expected": f"item {i}"})
                + "\n"
                for i in range(n)
            )
        )
        project = Project(root)
        for seed in range(seeds):
            server.responder = noisy(p, seed=seed)
            opts = EvalOptions(api_base=server.url, use_cache=False)
            result = diff_refs(project, "qa@1.0.0", "qa@1.0.1", opts)
            alarms += result.verdict == "regression"
    return alarms / seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=400)
    ap.add_argument("--e2e", type=int, default=0, help="seeds to run end to end through the server")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    flat: Difficulty = lambda rng, n: np.full(n, 0.7)  # noqa: E731
    varied: Difficulty = lambda rng, n: rng.beta(2, 1, n)  # noqa: E731
    header = [
        "| scenario | regression | ok | inconclusive | naive gate fails |",
        "|---|---:|---:|---:|---:|",
    ]
    print(f"False alarms: same prompt, noisy model ({args.seeds} seeds)\n")
    print("\n".join(header))
    for n in (40, 100):
        for k in (1, 3):
            print(_row(f"{n} cases x{k}, p=0.7", simulate(args.seeds, n, flat, repeat=k)))
            print(_row(f"{n} cases x{k}, p~Beta(2,1)", simulate(args.seeds, n, varied, repeat=k)))
    print(f"\nPower: pass probability 0.8 -> 0.8 - drop ({args.seeds} seeds)\n")
    print("\n".join(header))
    for n in (40, 100, 200):
        for drop in (0.1, 0.2, 0.3):
            print(
                _row(
                    f"{n} cases, drop {drop:.0%}",
                    simulate(args.seeds, n, lambda rng, m: np.full(m, 0.8), drop),
                )
            )
    if args.e2e:
        rate = end_to_end(args.e2e)
        print(
            f"\nEnd to end through the loopback server, {args.e2e} seeds: false alarms {rate:.1%}"
        )
    print(f"\n({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

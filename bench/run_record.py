"""Cost of the typed run record on the eval hot path: ``promptops eval`` of N echo cases
(no network, no cache) with two source trees, interleaved run by run, medians reported.

    python bench/run_record.py BASE_SRC NEW_SRC [--cases 2000] [--runs 5]

BASE_SRC / NEW_SRC are ``src`` directories (e.g. a checkout of main and this branch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = """\
name: bench
version: 1.0.0
model: echo/echo
inputs:
  text: string
template: "Repeat: {{ text }}"
dataset: evals/bench.jsonl
assert:
  - {type: icontains, value: "case"}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts/bench").mkdir(parents=True)
        (root / "prompts/bench/1.0.0.yaml").write_text(PROMPT)
        (root / "evals").mkdir()
        (root / "evals/bench.jsonl").write_text(
            "".join(
                json.dumps({"id": f"c{i}", "vars": {"text": f"case {i}"}}) + "\n"
                for i in range(args.cases)
            )
        )
        times: dict[str, list[float]] = {"base": [], "new": []}
        for _ in range(args.runs):
            for side in ("base", "new"):
                src = str(Path(getattr(args, side)).resolve())
                env = {**os.environ, "PYTHONPATH": src, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
                cmd = [sys.executable, "-m", "promptops", "eval", "bench@1.0.0", "--no-cache"]
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
                times[side].append(time.perf_counter() - t0)
        base, new = statistics.median(times["base"]), statistics.median(times["new"])
        print(f"{args.cases} echo cases, {args.runs} interleaved runs each (medians)")
        print(f"base {base:.3f}s  new {new:.3f}s  ratio new/base {new / base:.3f}")
        print(f"per record: {(new - base) / args.cases * 1e6:+.1f} us")


if __name__ == "__main__":
    main()

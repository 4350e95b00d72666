"""The Quickstart's main job, old sources against new, in interleaved pairs.

Runs `promptops eval prompts/summarize@2.0 --no-cache` (28 cases on the bundled local model)
as a whole process, cold (new process, no response cache, includes importing litellm and
loading the model), once with the sources at --old-src and once with --new-src, alternating
A B A B ... so both sides see the same machine load. Each run gets a fresh copy of this
checkout's example project. Prints every run (wall time, CPU time, pass count, load average),
the medians, and the per-pair ratio old/new.

    python bench/quickstart.py --old-src /path/to/main/src [--pairs 3]

Extra arguments after `--` go to both `promptops eval` commands (e.g. `-- -c 4`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Run:
    side: str
    wall: float
    cpu: float
    passed: int
    total: int
    load: float
    latency_p50: float


def once(side: str, src: Path, extra: list[str]) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="promptops-quickstart-"))
    try:
        for name in ("prompts", "evals", "examples"):
            shutil.copytree(ROOT / name, tmp / name)
        shutil.copy(ROOT / "registry.yaml", tmp / "registry.yaml")
        env = {**os.environ, "PYTHONPATH": str(src), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        cmd = [str(BIN / "promptops"), "eval", "prompts/summarize@2.0", "--no-cache", "-q"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        t = time.perf_counter()
        proc = subprocess.run([*cmd, *extra], cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in (0, 1):  # 1: the bar was not met; still a timing
            sys.exit(f"{side}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        results = next((tmp / ".promptops" / "runs").glob("*/results.jsonl"))
        records = [json.loads(line) for line in results.read_text().splitlines() if line]
        latencies = sorted(r["latency_ms"] / 1000 for r in records if not r.get("cached"))
        return Run(
            side=side,
            wall=wall,
            cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            passed=sum(1 for r in records if r.get("pass")),
            total=len(records),
            load=load,
            latency_p50=statistics.median(latencies) if latencies else 0.0,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--old-src", type=Path, required=True, help="the baseline's src directory")
    ap.add_argument("--new-src", type=Path, default=ROOT / "src")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="extra `promptops eval` arguments (after --)")
    args = ap.parse_args()
    print(f"cpus={len(os.sched_getaffinity(0))} pairs={args.pairs}", flush=True)
    pairs: list[tuple[Run, Run]] = []
    for i in range(args.pairs):
        runs = []
        for side, src in (("old", args.old_src), ("new", args.new_src)):
            r = once(side, src, args.extra)
            runs.append(r)
            print(
                f"  pair {i + 1} {side}: wall {r.wall:6.1f} s  cpu {r.cpu:6.1f} s  "
                f"pass {r.passed}/{r.total}  call p50 {r.latency_p50:5.1f} s  "
                f"load(1m) {r.load:.1f}",
                flush=True,
            )
        pairs.append((runs[0], runs[1]))
        print(f"  pair {i + 1} ratio old/new: {runs[0].wall / runs[1].wall:.2f}", flush=True)
    old = [a.wall for a, _ in pairs]
    new = [b.wall for _, b in pairs]
    ratios = [a.wall / b.wall for a, b in pairs]
    print(
        f"old  wall median {statistics.median(old):6.1f} s  (min {min(old):.1f} max {max(old):.1f})"
    )
    print(
        f"new  wall median {statistics.median(new):6.1f} s  (min {min(new):.1f} max {max(new):.1f})"
    )
    print(
        f"ratio old/new per pair: {', '.join(f'{r:.2f}' for r in ratios)}  "
        f"median {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()

"""``eval --batch`` against the loopback server: the client's own cost of the batch path.

Each round runs, interleaved, as whole processes including imports (2,000 cases by default,
no cache): ``promptops eval --batch`` (the server moves the batch through its statuses with
``--batch-delay`` seconds per step and answers its lines at once) and an ordinary
``promptops eval`` (concurrency 16, 20 ms per call). It reports the walls, the batch run's
wall minus the server's own waiting (the client's work: render, upload, poll, download,
check, record), and the dollars each run recorded (summary.json), whose ratio is the batch
discount taken from litellm's price file. A real provider's batch takes minutes to 24 hours:
the walls here say nothing about that, only about promptops's overhead.

    python bench/batch.py [--runs 3] [--cases 2000] [--batch-delay 0.2]
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

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-bench"}
MODEL = "openai/gpt-4o-mini-2024-07-18"  # priced, with batch prices

PROMPT = """\
name: qa
version: 1.0.0
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 20}}
inputs:
  question: string
template: "Q: {{{{ question }}}}"
dataset: evals/qa.jsonl
assert:
  - {{type: icontains, value: "{{{{ expected }}}}"}}
"""


def project(root: Path, url: str, n: int) -> None:
    (root / "prompts/qa").mkdir(parents=True)
    (root / "evals").mkdir()
    (root / "prompts/qa/1.0.0.yaml").write_text(PROMPT.format(model=MODEL, url=url))
    with (root / "evals/qa.jsonl").open("w") as fh:
        for i in range(n):
            case = {"id": f"c{i:05d}", "vars": {"question": f"case {i}"}, "expected": f"case {i}"}
            fh.write(json.dumps(case) + "\n")


def timed(root: Path, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "promptops",
            "eval",
            "qa@1.0",
            "-q",
            "--no-cache",
            "-f",
            "json",
            *args,
        ],
        cwd=root,
        env=ENV,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return wall, json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--batch-delay", type=float, default=0.2)
    a = ap.parse_args()
    from promptops.testing.server import FakeOpenAI

    walls: dict[str, list[float]] = {"batch": [], "ordinary": []}
    cost: dict[str, float] = {}
    with FakeOpenAI(latency=0.02) as server, tempfile.TemporaryDirectory() as tmp:
        server.batches.delay = a.batch_delay
        root = Path(tmp)
        project(root, server.url, a.cases)
        for _ in range(a.runs):
            wall, summary = timed(root, "--batch", "--batch-poll", "0.05")
            walls["batch"].append(wall)
            cost["batch"] = summary["groups"][0]["cost"]
            wall, summary = timed(root, "-c", "16")
            walls["ordinary"].append(wall)
            cost["ordinary"] = summary["groups"][0]["cost"]
        waits = 3 * a.batch_delay  # validating, in_progress, finalizing
    for k, v in walls.items():
        print(
            f"{k:9s} wall {statistics.median(v):6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in v)})"
        )
    print(
        f"batch    client work ~{statistics.median(walls['batch']) - waits:.2f} s "
        f"(wall minus the server's {waits:.2f} s of status steps; polls add up to one interval)"
    )
    print(
        f"cost     batch ${cost['batch']:.6f}  ordinary ${cost['ordinary']:.6f}  "
        f"ratio {cost['batch'] / cost['ordinary']:.3f}"
    )


if __name__ == "__main__":
    main()

"""Eval throughput against a loopback OpenAI-compatible server with fixed latency.

1. 2,000 cases at concurrency 16, server latency 20 ms: wall time of `promptops eval` (cold
   cache) divided by the wall time of a bare loop of the same 2,000 `litellm.acompletion`
   calls at the same concurrency, both as whole processes including imports. Target <= 1.10.
2. The same eval rerun fully cached: wall time (target < 1.5 s) and whether litellm was imported.
3. Peak RSS of a fully cached eval of 100,000 cases (target < 300 MB). The cache is filled
   directly through promptops.cache with the same keys the runner computes, so the 100k calls
   need not be made first.

Pairs are interleaved run by run and reported as medians, so machine noise hits both sides.

    python bench/eval_throughput.py [--runs 3] [--cases 2000] [--rss-cases 100000]
        [--model openai/bench-model-2024-01-01]   # an unpriced id
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-bench"}
MODEL = "openai/gpt-4o-mini-2024-07-18"  # priced: litellm computes a cost per response

PROMPT = """\
name: bench
version: 1.0.0
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 16}}
inputs:
  text: string
template: "Repeat: {{{{ text }}}}"
dataset: evals/bench.jsonl
assert:
  - {{type: icontains, value: "case"}}
fail_under: 0
"""

BARE = """\
import asyncio, os, sys
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm
url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    sem = asyncio.Semaphore(conc)
    async def one(i):
        async with sem:
            r = await litellm.acompletion(model="{model}", api_base=url, num_retries=0, max_retries=0,
                messages=[{{"role": "user", "content": f"Repeat: case {{i}}"}}], temperature=0, max_tokens=16)
            return r.choices[0].message.content
    out = await asyncio.gather(*(one(i) for i in range(n)))
    assert len(out) == n
asyncio.run(main())
"""


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "promptops.testing.server",
            "--port",
            "0",
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def make_project(root: Path, url: str, cases: int) -> None:
    (root / "prompts/bench").mkdir(parents=True)
    (root / "evals").mkdir()
    (root / "prompts/bench/1.0.0.yaml").write_text(PROMPT.format(model=MODEL, url=url))
    with (root / "evals/bench.jsonl").open("w") as fh:
        for i in range(cases):
            fh.write(json.dumps({"id": f"c{i:06d}", "vars": {"text": f"case {i}"}}) + "\n")


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - t


def eval_cmd(concurrency: int) -> list[str]:
    return [
        str(BIN / "promptops"),
        "eval",
        "bench@1.0",
        "-q",
        "--concurrency",
        str(concurrency),
        "--format",
        "json",
    ]


def prefill(root: Path, n: int) -> None:
    """Fill the response cache for every case exactly as the runner would key it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from promptops.cache import ResponseCache, cache_key
    from promptops.project import Project
    from promptops.refs import resolve
    from promptops.render import render_messages

    project = Project(root)
    pv = resolve("bench@1.0", project)
    cache = ResponseCache(project.cache_dir)
    params = pv.spec.model.params.as_kwargs()
    conn = cache._conn()
    conn.execute("BEGIN")
    for i in range(n):
        messages = render_messages(pv, {"text": f"case {i}"})
        key = cache_key(MODEL, messages, params, pv.spec.model.api_base, 0, {})
        blob = json.dumps(
            {
                "text": f"Repeat: case {i}",
                "model": MODEL,
                "tokens_in": 3,
                "tokens_out": 3,
                "cost": 0.0,
                "latency_ms": 20.0,
                "finish_reason": "stop",
                "extra": {},
            }
        )
        conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, 0)", (key, blob))
    conn.execute("COMMIT")
    cache.close()


def peak_rss_mb(cmd: list[str], cwd: Path) -> tuple[float, float]:
    wrapper = (
        "import resource, subprocess, sys, time; t=time.perf_counter(); "
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    kb, wall = out.stdout.split()
    return int(kb) / 1024, float(wall)


def main() -> None:
    global MODEL
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument(
        "--rss-cases", type=int, default=100_000, help="0 to skip the memory measurement"
    )
    ap.add_argument("--model", default=MODEL, help="model id (default: a priced one)")
    args = ap.parse_args()
    MODEL = args.model
    server, url = start_server(args.latency)
    tmp = Path(tempfile.mkdtemp(prefix="promptops-bench-"))
    try:
        root = tmp / "proj"
        make_project(root, url, args.cases)
        bare_script = tmp / "bare.py"
        bare_script.write_text(BARE.format(model=MODEL))
        bare_cmd = [sys.executable, str(bare_script), url, str(args.cases), str(args.concurrency)]
        bare, cold, warm = [], [], []
        for _ in range(args.runs):
            bare.append(timed(bare_cmd, root))
            shutil.rmtree(root / ".promptops", ignore_errors=True)
            cold.append(timed(eval_cmd(args.concurrency), root))
            warm.append(timed(eval_cmd(args.concurrency), root))
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from promptops.cli import app; from typer.testing import CliRunner; "
                "r = CliRunner().invoke(app, ['eval', 'bench@1.0', '-q']); print(r.exit_code, 'litellm' in sys.modules)",
            ],
            cwd=root,
            env=ENV,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        ideal = args.cases / args.concurrency * args.latency
        print(
            f"cases={args.cases} concurrency={args.concurrency} latency={args.latency * 1000:.0f}ms "
            f"runs={args.runs} model={MODEL}"
        )
        print(f"  ideal (latency bound)     {ideal:7.2f} s")
        print(
            f"  bare litellm loop         {statistics.median(bare):7.2f} s  (min {min(bare):.2f} max {max(bare):.2f})"
        )
        print(
            f"  promptops eval, cold      {statistics.median(cold):7.2f} s  (min {min(cold):.2f} max {max(cold):.2f})"
        )
        ratios = [c / b for c, b in zip(cold, bare, strict=False)]
        print(
            f"  ratio eval/bare           {statistics.median(ratios):7.3f}   (per run: {', '.join(f'{r:.3f}' for r in ratios)}; target <= 1.10)"
        )
        print(
            f"  promptops eval, cached    {statistics.median(warm):7.2f} s  (target < 1.5 s); litellm imported: {probe[1]}"
        )
        if args.rss_cases:
            big = tmp / "big"
            make_project(big, url, args.rss_cases)
            prefill(big, args.rss_cases)
            rss, wall = peak_rss_mb(eval_cmd(args.concurrency), big)
            print(
                f"  {args.rss_cases} cached cases     peak RSS {rss:6.1f} MB, wall {wall:.1f} s  (target < 300 MB)"
            )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

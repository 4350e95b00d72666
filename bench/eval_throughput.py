"""Eval throughput against a loopback OpenAI-compatible server with fixed latency.

Each round runs, interleaved, as whole processes including imports (2,000 cases, concurrency
16, server latency 20 ms by default):

* a bare ``openai.AsyncOpenAI`` loop of the same calls, and a bare ``litellm.acompletion`` loop;
* ``promptops eval`` on the native path (cold cache), and the same prompt with
  ``provider: litellm`` (cold cache);
* the native eval rerun fully cached;
* promptfoo (``--promptfoo PATH`` or ``$PROMPTFOO_BIN``; the column is skipped, and says so,
  when neither is given) on the same prompt, the same two checks and the same server, with its
  cache, telemetry, update check and sharing off, its config and database in a temporary
  directory;
* with ``--baseline-src DIR`` (a ``src`` directory of other promptops sources, e.g. from
  ``git archive``), the two uncached evals again on those sources: before/after in one run.

``--only`` picks sides by key (openai, litellm, native, po-litellm, cached, promptfoo).

It reports medians of the per-round ratios (native eval / bare openai, litellm eval / bare
litellm, cached / native, native eval / promptfoo), the CPU time (user + sys) of each process beside its wall time, the
calls per second of a native eval at concurrency 64 (calls over the eval loop's own wall time,
from summary.json), the time from process start to the server's first request, and whether
litellm was imported on the native path. Optionally the peak RSS of a fully cached eval of
100,000 cases (the cache filled directly with the keys the runner computes).

    python bench/eval_throughput.py [--runs 3] [--cases 2000] [--rss-cases 0]
        [--model openai/bench-model-2024-01-01]   # an unpriced id
        [--promptfoo /path/to/node_modules/.bin/promptfoo] [--only native,promptfoo]
        [--baseline-src /tmp/base/src]
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-bench"}
MODEL = "openai/gpt-4o-mini-2024-07-18"  # priced

PROMPT = """\
name: bench
version: {version}
model:
  id: {model}
  api_base: {url}
  params: {{temperature: 0, max_tokens: 16}}
{provider}
inputs:
  text: string
template: "Repeat: {{{{ text }}}}"
dataset: evals/bench.jsonl
assert:
  - {{type: icontains, value: "case"}}
  - {{type: starts-with, value: "Repeat"}}
fail_under: 0
"""

# the same prompt, checks and server for promptfoo; its tests are the same cases
PROMPTFOO_CONFIG = """\
description: bench
prompts: ["Repeat: {{{{text}}}}"]
providers:
  - id: openai:chat:{name}
    config: {{apiBaseUrl: "{url}", temperature: 0, max_tokens: 16}}
defaultTest:
  assert:
    - {{type: icontains, value: "case"}}
    - {{type: starts-with, value: "Repeat"}}
tests: file://tests.jsonl
"""

PROMPTFOO_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "PROMPTFOO_DISABLE_SHARING": "1",
    "PROMPTFOO_CACHE_ENABLED": "false",
}

BARE_LITELLM = """\
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


BARE_OPENAI = """\
import asyncio, sys
import openai
url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)
    sem = asyncio.Semaphore(conc)
    async def one(i):
        async with sem:
            r = await client.chat.completions.create(model="{name}",
                messages=[{{"role": "user", "content": f"Repeat: case {{i}}"}}], temperature=0, max_tokens=16)
            return r.choices[0].message.content
    out = await asyncio.gather(*(one(i) for i in range(n)))
    assert len(out) == n
    await client.close()
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
    """bench@1.0.0 (the native path) and bench@1.1.0 (the same prompt, provider: litellm)."""
    (root / "prompts/bench").mkdir(parents=True)
    (root / "evals").mkdir()
    for version, provider in (("1.0.0", ""), ("1.1.0", "  provider: litellm")):
        (root / f"prompts/bench/{version}.yaml").write_text(
            PROMPT.format(version=version, model=MODEL, url=url, provider=provider)
        )
    with (root / "evals/bench.jsonl").open("w") as fh:
        for i in range(cases):
            fh.write(json.dumps({"id": f"c{i:06d}", "vars": {"text": f"case {i}"}}) + "\n")


def make_promptfoo(root: Path, url: str, cases: int) -> None:
    """The promptfoo config of the same prompt, checks and cases, in its own directory."""
    root.mkdir(parents=True)
    (root / "promptfooconfig.yaml").write_text(
        PROMPTFOO_CONFIG.format(name=MODEL.partition("/")[2], url=url)
    )
    with (root / "tests.jsonl").open("w") as fh:
        for i in range(cases):
            fh.write(json.dumps({"vars": {"text": f"case {i}"}}) + "\n")


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(
        cmd,
        cwd=cwd,
        env=env or ENV,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def eval_cmd(concurrency: int, ref: str = "bench@1.0.0", *extra: str) -> list[str]:
    return [
        str(BIN / "promptops"),
        "eval",
        ref,
        "-q",
        "--concurrency",
        str(concurrency),
        "--format",
        "json",
        *extra,
    ]


def calls_per_second(root: Path, concurrency: int) -> float:
    """Calls over the eval loop's wall time (summary.json), a cold native eval."""
    shutil.rmtree(root / ".promptops", ignore_errors=True)
    out = subprocess.run(
        eval_cmd(concurrency), cwd=root, env=ENV, check=True, capture_output=True, text=True
    )
    summary = json.loads(out.stdout)
    return float(summary["network_calls"]) / float(summary["wall_s"])


def first_request_s(
    root: Path, cases: int = 20, extra: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> float:
    """Seconds from starting ``promptops eval`` (uncached) to the server's first request: a
    server in this process notes the time of the first call; the eval is stopped there."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from promptops.testing.server import FakeOpenAI, Reply, Request

    first: list[float] = []
    lock = threading.Lock()

    def responder(req: Request) -> Reply:
        with lock:
            if not first:
                first.append(time.time())
        return Reply("Repeat: case")

    with FakeOpenAI(responder) as server:
        proj = root / f"first-{time.time_ns()}"
        make_project(proj, server.url, cases)
        started = time.time()
        proc = subprocess.Popen(
            eval_cmd(4, "bench@1.0.0", *extra),
            cwd=proj,
            env=env or ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not first and proc.poll() is None:
            time.sleep(0.005)
        proc.terminate()
        proc.wait()
        shutil.rmtree(proj, ignore_errors=True)
    if not first:
        raise SystemExit(f"the eval ended (exit {proc.returncode}) without calling the server")
    return first[0] - started


def prefill(root: Path, n: int) -> None:
    """Fill the response cache for every case exactly as the runner would key it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from promptops.cache import ResponseCache, cache_key
    from promptops.project import Project
    from promptops.refs import resolve
    from promptops.render import render_messages

    project = Project(root)
    pv = resolve("bench@1.0.0", project)
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


def _median(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.2f}"


def _span(xs: list[float]) -> str:
    return f"{min(xs):.2f}-{max(xs):.2f}"


SIDES = ("openai", "litellm", "native", "po-litellm", "cached", "promptfoo")


@dataclass
class Side:
    label: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    fresh: Path  # emptied before each run: every run starts without results or cache
    cold: bool = True  # False: the cache filled by a native run first


def sides_for(args: argparse.Namespace, tmp: Path, root: Path, url: str) -> dict[str, Side]:
    """The processes each round runs, by key, in order."""
    n, c = str(args.cases), str(args.concurrency)
    state = root / ".promptops"
    out: dict[str, Side] = {
        "openai": Side(
            "bare openai SDK loop",
            [sys.executable, str(tmp / "bare_openai.py"), url, n, c],
            root,
            ENV,
            state,
        ),
        "litellm": Side(
            "bare litellm loop",
            [sys.executable, str(tmp / "bare_litellm.py"), url, n, c],
            root,
            ENV,
            state,
        ),
        "native": Side("promptops eval, native", eval_cmd(args.concurrency), root, ENV, state),
        "po-litellm": Side(
            "promptops eval, provider: litellm",
            eval_cmd(args.concurrency, "bench@1.1.0"),
            root,
            ENV,
            state,
        ),
        "cached": Side(
            "promptops eval, fully cached", eval_cmd(args.concurrency), root, ENV, state, False
        ),
    }
    if args.promptfoo:
        pf = tmp / "promptfoo"
        make_promptfoo(pf, url, args.cases)
        env = {**ENV, **PROMPTFOO_ENV, "PROMPTFOO_CONFIG_DIR": str(pf / "home")}
        cmd = [args.promptfoo, "eval", "-c", "promptfooconfig.yaml", "--no-cache"]
        cmd += ["-j", c, "--no-table", "--no-progress-bar", "--no-share"]
        label = "promptfoo " + promptfoo_version(args.promptfoo)
        out["promptfoo"] = Side(label, cmd, pf, env, pf / "home")
    if args.baseline_src:  # each right after its counterpart
        base = {**ENV, "PYTHONPATH": str(Path(args.baseline_src).resolve())}
        paired: dict[str, Side] = {}
        for key, s in out.items():
            paired[key] = s
            if key in ("native", "po-litellm"):
                label = s.label + " (baseline src)"
                paired[key + "@base"] = Side(label, s.cmd, s.cwd, base, s.fresh)
        out = paired
    wanted = set(args.only.split(",")) if args.only else set(out)
    return {k: s for k, s in out.items() if k.partition("@")[0] in wanted}


def promptfoo_version(path: str) -> str:
    out = subprocess.run(
        [path, "--version"],
        capture_output=True,
        text=True,
        env={**ENV, **PROMPTFOO_ENV},
        check=True,
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "?"


def main() -> None:
    global MODEL
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--rss-cases", type=int, default=0, help="0 (default) skips the RSS measure")
    ap.add_argument("--model", default=MODEL, help="model id (default: a priced one)")
    ap.add_argument(
        "--promptfoo",
        default=os.environ.get("PROMPTFOO_BIN"),
        help="the promptfoo executable (default: $PROMPTFOO_BIN; neither: no promptfoo column)",
    )
    ap.add_argument("--only", default="", help=f"comma-separated sides of {', '.join(SIDES)}")
    ap.add_argument(
        "--baseline-src", default="", help="promptops sources to run the uncached evals on too"
    )
    args = ap.parse_args()
    bad = set(filter(None, args.only.split(","))) - set(SIDES)
    if bad:
        ap.error(f"--only: unknown side(s) {', '.join(sorted(bad))}; known: {', '.join(SIDES)}")
    everything = not args.only
    MODEL = args.model
    server, url = start_server(args.latency)
    tmp = Path(tempfile.mkdtemp(prefix="promptops-bench-"))
    try:
        root = tmp / "proj"
        make_project(root, url, args.cases)
        (tmp / "bare_litellm.py").write_text(BARE_LITELLM.format(model=MODEL))
        (tmp / "bare_openai.py").write_text(BARE_OPENAI.format(name=MODEL.partition("/")[2]))
        sides = sides_for(args, tmp, root, url)
        wall: dict[str, list[float]] = {k: [] for k in sides}
        cpu: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(args.runs):
            for key, side in sides.items():
                shutil.rmtree(side.fresh, ignore_errors=True)
                if not side.cold:  # filled by a native run just before
                    timed(eval_cmd(args.concurrency), root)
                w, u = timed(side.cmd, side.cwd, side.env)
                wall[key].append(w)
                cpu[key].append(u)
        load = os.getloadavg()
        ideal = args.cases / args.concurrency * args.latency
        print(
            f"cases={args.cases} concurrency={args.concurrency} latency={args.latency * 1000:.0f}ms "
            f"runs={args.runs} model={MODEL} cpus={os.cpu_count()} "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        print(f"  ideal (latency bound)              {ideal:6.2f} s")
        for key, side in sides.items():
            print(
                f"  {side.label:34s} {_median(wall[key])} s wall ({_span(wall[key])}), "
                f"{_median(cpu[key])} s CPU ({_span(cpu[key])})"
            )
        if not args.promptfoo:
            print("  promptfoo: skipped (no --promptfoo and no $PROMPTFOO_BIN)")

        def ratio(a: str, b: str, what: dict[str, list[float]], label: str, target: str) -> None:
            if a not in what or b not in what:
                return
            rs = [x / y for x, y in zip(what[a], what[b], strict=True)]
            per = ", ".join(f"{r:.2f}" for r in rs)
            print(f"  {label:34s} {statistics.median(rs):.3f} (per round {per})  {target}")

        ratio("native", "openai", wall, "native eval / bare openai, wall", "target <= 1.3")
        ratio("po-litellm", "litellm", wall, "litellm eval / bare litellm, wall", "target <= 1.10")
        ratio("po-litellm@base", "litellm", wall, "  the same, baseline src", "")
        ratio("native", "promptfoo", wall, "native eval / promptfoo, wall", "target <= 0.4")
        ratio("native@base", "promptfoo", wall, "  the same, baseline src", "")
        ratio("cached", "native", wall, "cached / native eval, wall", "target <= 0.25")
        ratio("cached", "native", cpu, "cached / native eval, CPU", "")
        if not everything:
            return
        rate = calls_per_second(root, 64)
        print(
            f"  native eval at concurrency 64      {rate:6.0f} calls/s (eval loop)  target >= 300"
        )
        start = statistics.median(first_request_s(tmp) for _ in range(args.runs))
        print(
            f"  process start to first request     {start:6.2f} s (median of {args.runs})  target <= 1.0"
        )
        # the same with the dataset's cases, so a large eval's estimate line is computed first:
        # the line (default threshold), --no-estimate, and the baseline sources, interleaved
        big: dict[str, list[float]] = {"estimate line": [], "--no-estimate": []}
        if args.baseline_src:
            big["baseline src"] = []
        base_env = {**ENV, "PYTHONPATH": str(Path(args.baseline_src).resolve())}
        for _ in range(args.runs):
            big["estimate line"].append(first_request_s(tmp, args.cases))
            big["--no-estimate"].append(first_request_s(tmp, args.cases, ("--no-estimate",)))
            if args.baseline_src:
                big["baseline src"].append(first_request_s(tmp, args.cases, (), base_env))
        for label, xs in big.items():
            print(f"    {args.cases} cases, {label:18s} {_median(xs)} s ({_span(xs)})")
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from promptops.cli import app; from typer.testing import CliRunner; "
                "r = CliRunner().invoke(app, ['eval', 'bench@1.0.0', '-q', '--no-cache']); "
                "print(r.exit_code, 'litellm' in sys.modules)",
            ],
            cwd=root,
            env=ENV,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(f"  litellm imported on the native path: {probe[1]}")
        if args.rss_cases:
            big = tmp / "big"
            make_project(big, url, args.rss_cases)
            prefill(big, args.rss_cases)
            rss, rss_wall = peak_rss_mb(eval_cmd(args.concurrency), big)
            print(
                f"  {args.rss_cases} cached cases     peak RSS {rss:6.1f} MB, wall {rss_wall:.1f} s  (target < 300 MB)"
            )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

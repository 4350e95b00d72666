"""Startup time of the model-free commands against a bare interpreter.

Runs ``promptops --help``, ``promptops render summarize@2.0 --var document=...`` and
``promptops lint`` (the venv's console script, next to ``sys.executable``) and
``python -c pass``, interleaved so load on the machine affects them alike, and prints the
median wall time of each and its ratio to the bare interpreter. Target: under 0.35 s each.

    .venv/bin/python bench/startup.py [--runs 15] [--project DIR] [--check]

The project is the repository's example (it needs prompts/summarize/2.0.0.yaml taking a
``document`` input); when that is missing a throwaway project like the tests' is used.

Children get a private bytecode cache (``PYTHONPYCACHEPREFIX``), filled by a warm-up run, as an
installed package has its .pyc files; an editable checkout run with PYTHONDONTWRITEBYTECODE
would otherwise recompile promptops on every start. ``--no-bytecode-cache`` measures that case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no CPU column
    resource = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
TEMP_DIRS: list[Path] = []
TARGET_S = 0.35
DOCUMENT = "The council voted 5-2 on Tuesday to close the Elm Street library branch in June."

PROMPT = """\
name: summarize
version: 2.0.0
description: Summarize a document.
model:
  id: echo/echo
  params: {temperature: 0, max_tokens: 200}
inputs:
  document: {type: string, description: The text to summarize.}
  max_words: {type: integer, default: 30, description: Word budget.}
messages:
  - role: system
    content: Summarize the user's document in at most {{ max_words }} words.
  - role: user
    content: "{{ document }}"
dataset: evals/summarize.jsonl
"""


def script() -> Path:
    bindir = Path(sys.executable).parent
    path = bindir / ("promptops.exe" if os.name == "nt" else "promptops")
    if not path.is_file():
        sys.exit(f"no promptops console script in {bindir}; install the package in this venv")
    return path


def throwaway_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="promptops-bench-"))
    TEMP_DIRS.append(root)
    (root / "prompts/summarize").mkdir(parents=True)
    (root / "prompts/summarize/2.0.0.yaml").write_text(PROMPT, encoding="utf-8")
    (root / "evals").mkdir()
    (root / "evals/summarize.jsonl").write_text(
        '{"id": "a", "vars": {"document": "x"}}\n', encoding="utf-8"
    )
    (root / "registry.yaml").write_text(
        "environments: [dev, staging, prod]\nprompts: {}\n", encoding="utf-8"
    )
    return root


def usable(project: Path, render: list[str], env: dict[str, str]) -> bool:
    """The example project renders summarize@2.0 with just a document."""
    if not (project / "prompts/summarize/2.0.0.yaml").is_file():
        return False
    done = subprocess.run(render, cwd=project, capture_output=True, env=env)
    return done.returncode == 0


def child_env(bytecode_cache: bool) -> dict[str, str]:
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cache = tempfile.mkdtemp(prefix="promptops-bench-pyc-")
        TEMP_DIRS.append(Path(cache))
        env["PYTHONPYCACHEPREFIX"] = cache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def children_cpu() -> float:
    if resource is None:
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time, CPU time (user + sys) and exit code of one run."""
    cpu = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start, children_cpu() - cpu, done.returncode


def main(argv: list[str] | None = None) -> int:
    try:
        return bench(argv)
    finally:
        for d in TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)


def bench(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument(
        "--project", type=Path, default=REPO, help="project to run in (default: the repo)"
    )
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if a median exceeds {TARGET_S} s"
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="do not give children a bytecode cache (measures recompiling on every start)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    exe = str(script())
    env = child_env(not args.no_bytecode_cache)
    render = [exe, "render", "summarize@2.0", "--var", f"document={DOCUMENT}"]
    project = args.project.resolve()
    note = ""
    if not usable(project, render, env):
        note = f" (throwaway; {project} has no usable prompts/summarize/2.0.0.yaml)"
        project = throwaway_project()

    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "promptops --help": [exe, "--help"],
        "promptops render summarize@2.0": render,
        "promptops lint": [exe, "lint"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    codes: dict[str, set[int]] = {name: set() for name in commands}
    for cmd in commands.values():  # warm the OS file cache and the bytecode cache
        run_once(cmd, project, env)
    for _ in range(args.runs):
        for name, cmd in commands.items():
            elapsed, cpu, code = run_once(cmd, project, env)
            times[name].append(elapsed)
            cpus[name].append(cpu)
            codes[name].add(code)

    medians = {name: statistics.median(ts) for name, ts in times.items()}
    base = medians["python -c pass"]
    cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cache"
    print(f"startup, median of {args.runs} interleaved runs ({cache}), in {project}{note}")
    print(f"{'command':34} {'median':>9} {'ratio':>7} {'over python':>12} {'cpu':>8}  exit")
    over = []
    for name, med in medians.items():
        exit_codes = ",".join(str(c) for c in sorted(codes[name]))
        flag = ""
        if name != "python -c pass" and med > TARGET_S:
            flag = f"  over {TARGET_S} s target"
            over.append(name)
        cpu = statistics.median(cpus[name])
        print(
            f"{name:34} {med:8.3f}s {med / base:6.1f}x {med - base:+11.3f}s {cpu:7.3f}s"
            f"  {exit_codes}{flag}"
        )
    print(f"target: each promptops command under {TARGET_S} s wall: {'FAIL' if over else 'ok'}")
    if hasattr(os, "getloadavg"):
        print(
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
            " (wall times grow with load; cpu = user + sys, less so)"
        )
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
